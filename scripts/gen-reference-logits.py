#!/usr/bin/env python3
"""Reference logits from Hugging Face transformers (PyTorch, CPU, float32) for the models
the CPU executor is checked against. CI compares with the committed outputs and never
needs PyTorch.

    pip install torch transformers accelerate gguf numpy peft && scripts/gen-reference-logits.py
    scripts/gen-reference-logits.py --only=tiny-llama-hd64     (one model)

For each model: fixed prompts -> every position's logits (tiny models) or the last
position's (SmolLM2), and 8 greedy tokens after the first prompt. Output:
test/goldens/<model>.json (+ <model>.logits.f32, little-endian float32).

Tiny models use modelc's seeded random weights, rebuilt here from the definition in
docs/plan-format.md ("Weights of random test models"); SmolLM2 is the GGUF file that
scripts/fetch-models.sh fetched, dequantized by transformers' own GGUF loader.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import transformers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "goldens")
MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001B3) & MASK
    return h


def random_tensor(seed, name, shape):
    """modelc's random weights: see docs/plan-format.md."""
    n = int(np.prod(shape))
    base = seed ^ fnv1a64(name)
    idx = np.arange(n, dtype=np.uint64)
    # Vectorized splitmix64 of (base ^ (i * K)) + golden gamma.
    with np.errstate(over="ignore"):
        state = np.uint64(base) ^ (idx * np.uint64(0xD1342543DE82EF95))
        z = state + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    c = 2.0 * u - 1.0
    if len(shape) >= 2:
        v = c / math.sqrt(shape[-1])
    else:
        v = 1.0 + 0.1 * c
    return torch.tensor(v.astype(np.float32).reshape(shape))


def check_generator():
    # One value computed the slow, obviously-correct way.
    seed, name, i = 1, "model.norm.weight", 3
    state = seed ^ fnv1a64(name) ^ ((i * 0xD1342543DE82EF95) & MASK)
    u = (splitmix64(state) >> 11) * 2.0 ** -53
    slow = np.float32(1.0 + 0.1 * (2 * u - 1))
    fast = random_tensor(seed, name, (8,))[i].item()
    assert abs(slow - fast) == 0.0, (slow, fast)


def tiny_model(manifest):
    spec = json.load(open(os.path.join(ROOT, "models", manifest)))
    config_dict = dict(spec["config"])
    seed = spec["weights"]["seed"]
    model_type = config_dict.pop("model_type")
    config = transformers.AutoConfig.for_model(model_type, **config_dict)
    config.torch_dtype = torch.float32
    # Eager attention: the one transformers implements logit soft-capping in (Gemma 2).
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                                          attn_implementation="eager")
    state = {}
    for name, param in model.state_dict().items():
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias") or "rotary_emb" in name:
            continue  # GPT-2's causal-mask buffers and RoPE caches, not weights
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        state[name] = random_tensor(seed, name, tuple(param.shape))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)
               and not m.endswith(".attn.bias") and not m.endswith(".attn.masked_bias")]
    assert not missing and not unexpected, (missing, unexpected)
    if config.tie_word_embeddings:
        model.tie_weights()
    return spec["name"], model.eval()


def tiny_checkpoint_model(manifest):
    """A tiny model whose random weights are named as its checkpoint files name them (a
    mixture's experts one tensor each), where transformers' modules hold other tensors
    (experts stacked in 3-D parameters): saved by transformers, every saved tensor replaced
    by modelc's random values for its name, loaded back through transformers' own
    conversion of checkpoint names."""
    import tempfile
    from safetensors.torch import load_file, save_file
    spec = json.load(open(os.path.join(ROOT, "models", manifest)))
    config_dict = dict(spec["config"])
    model_type = config_dict.pop("model_type")
    config = transformers.AutoConfig.for_model(model_type, **config_dict)
    # Mistral 4 has no AutoModelForCausalLM entry (transformers 5.24): its class by name.
    causal_lm = transformers.Mistral4ForCausalLM if model_type == "mistral4" \
        else transformers.AutoModelForCausalLM
    model = causal_lm.from_config(config, dtype=torch.float32) \
        if causal_lm is transformers.AutoModelForCausalLM else causal_lm(config).float()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        path = os.path.join(tmp, "model.safetensors")
        saved = load_file(path)
        # ERNIE 4.5's [1, E] correction bias holds the values modelc generates for the vector
        # [E] it declares.
        def values(name, shape):
            if name.endswith("moe_statics.e_score_correction_bias"):
                return random_tensor(spec["weights"]["seed"], name, shape[1:]).reshape(shape)
            return random_tensor(spec["weights"]["seed"], name, shape)
        save_file({name: values(name, tuple(t.shape)) for name, t in saved.items()}, path,
                  metadata={"format": "pt"})
        model, info = causal_lm.from_pretrained(
            tmp, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    assert not any(info.values()), info  # every parameter loaded from the file, nothing left
    return spec["name"], model.eval()


def smollm2_model():
    path = os.environ.get("MODELC_SMOLLM2_GGUF", os.path.expanduser(
        "~/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf"))
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    return "smollm2-135m-instruct-gguf", model.eval()


def gguf_model(name, path, **config):
    """A GGUF file loaded by transformers' own GGUF reader (its name mapping, and for Gemma
    its norm weights minus one): an independent reading of llama.cpp's conventions.
    `config`: values transformers' reader does not take from the metadata."""
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32, **config)
    return name, model.eval()


def write(name, model, prompts, all_positions):
    logits_out, records = [], []
    with torch.no_grad():
        for p in prompts:
            logits = model(torch.tensor([p])).logits[0]
            rows = logits if all_positions else logits[-1:]
            records.append({"prompt": p, "rows": rows.shape[0]})
            logits_out.append(rows.float().numpy())
        greedy = model.generate(torch.tensor([prompts[0]]), max_new_tokens=8, do_sample=False,
                                attention_mask=torch.ones(1, len(prompts[0]), dtype=torch.long))
    data = np.concatenate(logits_out).astype("<f4")
    data.tofile(os.path.join(OUT, name + ".logits.f32"))
    meta = {"model": name, "transformers": transformers.__version__, "torch": torch.__version__,
            "vocab": int(data.shape[1]), "prompts": records,
            "greedy_after_first_prompt": greedy[0, len(prompts[0]):].tolist()}
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(name, data.shape, meta["greedy_after_first_prompt"])


def dequantized_reference(path):
    """A GPTQ or AWQ directory as the f32 model whose linear weights are those GPTQModel
    dequantizes (through transformers, and optimum for GPTQ) with its scales widened to f32,
    the exact products (left in f16, GPTQModel rounds each to f16, as GPU kernels do), the
    rest as stored. No forward pass runs on the quantized model (its CPU kernels repack)."""
    q = dict(json.load(open(os.path.join(path, "config.json")))["quantization_config"])
    method = q.pop("quant_method")
    extra = {}
    if method == "gptq":
        extra["quantization_config"] = transformers.GPTQConfig(**q, backend="torch")
    quantized = transformers.AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, **extra)
    config = transformers.AutoConfig.from_pretrained(path)
    del config.quantization_config
    model = transformers.AutoModelForCausalLM.from_config(
        config, dtype=torch.float32, attn_implementation="eager")
    state = {k: v for k, v in quantized.state_dict().items()
             if k in model.state_dict()}
    from gptqmodel.quantization.awq.utils.packing_utils import dequantize_gemm
    for name, module in quantized.named_modules():
        if not hasattr(module, "qweight"):
            continue
        if method == "awq":  # [in, out]
            w = dequantize_gemm(module.qweight, module.qzeros, module.scales.float(),
                                module.bits, module.group_size)
        else:
            module.scales = module.scales.float()
            w = module.dequantize_weight()
        state[name + ".weight"] = w.T.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("lm_head" in k for k in missing), (missing, unexpected)
    model.tie_weights()
    return model.eval()


def round_kv(x, kind):
    """Keys or values [batch, heads, positions, head_dim] as modelrt's --kv-cache-dtype
    stores them, rounded by torch (bf16, f16, fp8 with vLLM's saturation at the largest
    finite value) or by gguf-py's Q8_0 quantizer (llama.cpp's reference, bit for bit)."""
    if kind == "bfloat16":
        return x.to(torch.bfloat16).to(x.dtype)
    if kind == "float16":
        return x.to(torch.float16).to(x.dtype)
    if kind in ("fp8_e4m3", "fp8_e5m2"):
        fp8 = torch.float8_e4m3fn if kind == "fp8_e4m3" else torch.float8_e5m2
        top = torch.finfo(fp8).max
        return x.clamp(-top, top).to(fp8).to(x.dtype)
    assert kind == "q8_0"
    import gguf
    rows = x.detach().float().contiguous().numpy().reshape(-1, x.shape[-1])
    q = gguf.quants.quantize(rows, gguf.GGMLQuantizationType.Q8_0)
    back = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).astype(np.float32)
    return torch.from_numpy(back.reshape(x.shape)).to(x.dtype)


def with_rounded_kv(model, kind):
    """The model's own eager attention, on keys and values rounded as a `kind` cache holds
    them (after RoPE and any key norm: what the cache stores), the queries as they are."""
    eager = sys.modules[type(model).__module__].eager_attention_forward

    def attention(module, query, key, value, attention_mask, **kwargs):
        return eager(module, query, round_kv(key, kind), round_kv(value, kind), attention_mask,
                     **kwargs)

    # A new attention implementation needs its mask kind too (else no causal mask is made).
    from transformers.masking_utils import AttentionMaskInterface, eager_mask
    transformers.AttentionInterface.register("rounded_kv_" + kind, attention)
    AttentionMaskInterface.register("rounded_kv_" + kind, eager_mask)
    model.set_attn_implementation("rounded_kv_" + kind)
    return model


# Models whose reference is transformers in float64 (see main()).
F64_REFERENCE = {"tiny-qwen3_5", "tiny-qwen3_5-moe", "tiny-qwen3-next", "tiny-granite4-h"}


def write_embeddings(name, directory, pooling_mode, prompts):
    """sentence-transformers' embeddings of token-id prompts, one at a time: test/goldens/
    <name>.json and <name>.embeddings.f32. The directory is copied with a tokenizer (which
    sentence-transformers loads, and the ids bypass), and `pooling_mode` set if given."""
    import shutil
    import tempfile
    import sentence_transformers
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model")
        shutil.copytree(directory, path)
        if not os.path.exists(os.path.join(path, "tokenizer.json")):
            tok = os.path.join(ROOT, "unittests", "tokenize", "data", "smollm2")
            for f in ["tokenizer.json", "tokenizer_config.json"]:
                shutil.copy(os.path.join(tok, f), path)
        if pooling_mode:
            config_path = os.path.join(path, "1_Pooling", "config.json")
            config = json.load(open(config_path))
            for key in config:
                if key.startswith("pooling_mode_"):
                    config[key] = key == "pooling_mode_" + pooling_mode
            json.dump(config, open(config_path, "w"))
        model = sentence_transformers.SentenceTransformer(path, device="cpu")
        model.eval()
        rows = []
        texts = [p for p in prompts if isinstance(p, str)]
        if texts:  # through sentence-transformers' own tokenizing, one text at a time
            prompts = [model.preprocess([t])["input_ids"][0].tolist() for t in texts]
            rows = [model.encode([t], convert_to_numpy=True)[0] for t in texts]
            prompts = [{"text": t, "prompt": p} for t, p in zip(texts, prompts)]
        with torch.no_grad():
            for p in ([] if texts else prompts):
                ids = torch.tensor([p])
                out = model.forward({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
                rows.append(out["sentence_embedding"][0].float().numpy())
    data = np.stack(rows).astype("<f4")
    data.tofile(os.path.join(OUT, name + ".embeddings.f32"))
    meta = {"model": name, "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "torch": torch.__version__,
            "dimensions": int(data.shape[1]), "modules": [type(m).__name__ for m in model],
            "prompts": prompts if texts else [{"prompt": p} for p in prompts]}
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(name, data.shape, meta["modules"])


def write_classifier(name, directory, cases):
    """A classifier's logits and probabilities (modelc --task classify), one prompt at a time,
    in test/goldens/<name>.json. `cases`: token-id lists (AutoModelForSequenceClassification
    on the ids; probabilities as vLLM's /classify gives them: softmax over labels, sigmoid of
    one), or (text_1, text_2) pairs: a cross-encoder's through sentence-transformers'
    CrossEncoder (its pair encoding and activation), a causal LM's (a directory without
    "ForSequenceClassification") as Qwen3-Reranker's model card scores, on the texts joined:
    softmax of the last token's "no" and "yes" logits, at "yes"."""
    config = transformers.AutoConfig.from_pretrained(directory)
    causal = not config.architectures[0].endswith("ForSequenceClassification")
    out = {"model": name, "transformers": transformers.__version__, "torch": torch.__version__,
           "cases": []}
    with torch.no_grad():
        if causal:
            tok = transformers.AutoTokenizer.from_pretrained(directory)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                directory, dtype=torch.float32).eval()
            no, yes = tok.convert_tokens_to_ids(["no", "yes"])
            out["labels"] = ["yes"]
            for q, d in cases:
                ids = tok(q + d)["input_ids"]
                last = model(torch.tensor([ids])).logits[0, -1]
                pair = torch.log_softmax(torch.stack([last[no], last[yes]]), dim=0)
                out["cases"].append({"text_1": q, "text_2": d, "prompt": ids,
                                     "logits": [float(last[yes] - last[no])],
                                     "probs": [float(pair[1].exp())]})
        elif isinstance(cases[0], tuple):
            import sentence_transformers
            out["sentence_transformers"] = sentence_transformers.__version__
            ce = sentence_transformers.CrossEncoder(directory, device="cpu")
            out["labels"] = [config.id2label[i] for i in range(config.num_labels)]
            for q, d in cases:
                enc = ce.tokenizer(q, d)
                ids = enc["input_ids"]
                types = enc.get("token_type_ids")  # BERT's: the document is type 1
                logit = ce.model(torch.tensor([ids]), token_type_ids=None if types is None
                                 else torch.tensor([types])).logits[0]
                score = ce.predict([(q, d)], batch_size=1, convert_to_numpy=True)[0]
                out["cases"].append({"text_1": q, "text_2": d, "prompt": ids,
                                     "logits": [float(x) for x in logit],
                                     "probs": [float(score)]})
                if types is not None and any(types):
                    out["cases"][-1]["token_types"] = types
        else:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                directory, dtype=torch.float32).eval()
            out["labels"] = [config.id2label[i] for i in range(config.num_labels)]
            for ids in cases:
                logits = model(torch.tensor([ids])).logits[0]
                probs = torch.sigmoid(logits) if len(logits) == 1 else torch.softmax(logits, 0)
                out["cases"].append({"prompt": ids, "logits": [float(x) for x in logits],
                                     "probs": [float(x) for x in probs]})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(out, f, indent=1)
    print(name, len(out["cases"]), "cases")


def main():
    os.makedirs(OUT, exist_ok=True)
    check_generator()
    torch.manual_seed(0)
    tiny_prompts = [[1, 17, 42, 99, 3, 250, 7, 8, 128, 64], [5, 6], [200]]
    long_prompts = [tiny_prompts[0], [5, 6, 7, 9, 11, 200, 13, 2, 90, 91, 30, 31]]
    only = [a[len("--only="):] for a in sys.argv if a.startswith("--only=")]
    for manifest in ["tiny-llama.json", "tiny-qwen2.json", "tiny-gpt2.json",
                     "tiny-llama-hd64.json", "tiny-qwen3.json", "tiny-gemma.json", "tiny-gemma2.json",
                     "tiny-gemma3.json", "tiny-phi3.json", "tiny-phi3-long.json",
                     "tiny-olmo2.json", "tiny-granite.json", "tiny-qwen2-yarn.json",
                     "tiny-smollm3.json", "tiny-olmo3.json", "tiny-glm4.json",
                     "tiny-ernie4_5.json", "tiny-seed-oss.json", "tiny-exaone4.json",
                     "tiny-ministral3.json", "tiny-hunyuan.json", "tiny-cohere2.json",
                     "tiny-lfm2.json", "tiny-qwen3_5.json", "tiny-qwen3_5-moe.json"]:
        if only and manifest[:-len(".json")] not in only:
            continue
        name, model = tiny_model(manifest)
        # Gated DeltaNet (and Mamba 2's chunked scan likewise): transformers' chunked f32 algorithm (cumulative decays through
        # exp and a triangular solve) is itself 6e-6 off its own float64 result on these
        # prompts, so the reference is that float64 result (rounded to f32).
        if name in F64_REFERENCE:
            model = model.double()
            model.set_experts_implementation("eager")  # the grouped GEMM has no float64
        # LongRoPE: transformers takes the long factors for a forward pass past the original
        # context (8 positions here), so every prompt of the long-factor plan is longer.
        prompts = long_prompts if name == "tiny-phi3-long" else tiny_prompts
        write(name, model, prompts, all_positions=True)
    # Narrow KV caches (modelrt --kv-cache-dtype): the same tiny models with their keys and
    # values rounded as each cache dtype stores them (with_rounded_kv).
    for base, kinds in [("tiny-qwen3", ["bfloat16", "float16", "fp8_e4m3", "fp8_e5m2", "q8_0"]),
                        ("tiny-gemma2", ["fp8_e4m3", "q8_0"])]:
        for kind in kinds:
            name = base + "-kv-" + kind
            if only and name not in only:
                continue
            _, model = tiny_model(base + ".json")
            write(name, with_rounded_kv(model, kind), tiny_prompts, all_positions=True)
    for manifest in ["tiny-mixtral.json", "tiny-qwen3-moe.json", "tiny-olmoe.json",
                     "tiny-granitemoe.json", "tiny-qwen2-moe.json", "tiny-gpt-oss.json",
                     "tiny-gpt-oss-attn-bias.json", "tiny-glm4-moe.json",
                     "tiny-deepseek-v3.json", "tiny-deepseek-v2.json", "tiny-deepseek-v3-mscale.json",
                     "tiny-minimax-m2.json", "tiny-ernie4_5-moe.json", "tiny-llama4.json",
                     "tiny-llama4-scout.json", "tiny-glm4-moe-lite.json", "tiny-mistral4.json",
                     "tiny-solar-open.json", "tiny-hunyuan-moe.json",
                     "tiny-qwen3-vl-moe.json", "tiny-dots1.json",
                     "tiny-exaone-moe.json", "tiny-qwen3-next.json", "tiny-granite4-h.json",
                     "tiny-lfm2-moe.json"]:
        if only and manifest[:-len(".json")] not in only:
            continue
        name, model = tiny_checkpoint_model(manifest)
        if name in F64_REFERENCE:  # as for the tiny models above
            model = model.double()
            model.set_experts_implementation("eager")
        write(name, model, tiny_prompts, all_positions=True)
    for gguf in ["tiny-gemma2", "tiny-gemma3", "tiny-phi3", "tiny-qwen3-moe", "tiny-qwen2-moe"]:
        if only and gguf + "-gguf" not in only:
            continue
        # test/modelc/Inputs/<model>.gguf (scripts/gen-compiler-test-models.py); vocab 64.
        # transformers reads no expert_feed_forward_length (its defaults are 768 and 1408) nor
        # expert_shared_feed_forward_length (5632).
        extra = {"tiny-qwen3-moe": {"moe_intermediate_size": 16},
                 "tiny-qwen2-moe": {"moe_intermediate_size": 16,
                                    "shared_expert_intermediate_size": 24}}.get(gguf, {})
        name, model = gguf_model(gguf + "-gguf", os.path.join(
            ROOT, "test", "modelc", "Inputs", gguf + ".gguf"), **extra)
        write(name, model, [[1, 17, 42, 9, 3, 50, 7, 8, 63, 31], [5, 6], [20]],
              all_positions=True)
    # Mixtral as a Hugging Face directory (test/modelc/Inputs/hf-tiny-mixtral, written by
    # scripts/gen-compiler-test-models.py), loaded by transformers' own checkpoint conversion.
    # gpt-oss likewise (hf-tiny-gpt-oss: gate_up_proj interleaved and [in, out], as
    # transformers saves it); tiny-gpt-oss.gguf holds the same weights in llama.cpp's layout,
    # so its plan is checked against this reference too.
    # hf-tiny-gpt-oss-mxfp4: the official checkpoints' MXFP4 blocks, which transformers dequantizes
    # on the CPU (exactly: every MXFP4 value is a short binary fraction).
    # hf-tiny-llama-w4a16 and hf-tiny-qwen3-w8a16: compressed-tensors' pack-quantized
    # integers, which transformers decompresses (compressed-tensors' own dequantization).
    # The GPTQ and AWQ directories: transformers reads them through GPTQModel (and optimum
    # for GPTQ: pip install optimum gptqmodel). The FP8 ones: transformers dequantizes them on
    # a machine without a GPU (each E4M3 code times its block's scale, in f32);
    # hf-tiny-smollm3: also the reference of tiny-smollm3.gguf (the same weights as llama.cpp
    # converts them). compressed-tensors' FP8 with dequantize=True, so that its activations are not rounded to
    # FP8 (which modelc does not do: compressed-tensors' default forward fake-quantizes them).
    for hf in ["hf-tiny-mixtral", "hf-tiny-gpt-oss", "hf-tiny-gpt-oss-mxfp4",
               "hf-tiny-llama-w4a16", "hf-tiny-qwen3-w8a16", "hf-tiny-llama-w4a16-bf16",
               "hf-tiny-qwen3-w8a16-bf16", "hf-tiny-llama-gptq", "hf-tiny-llama-gptq-asym", "hf-tiny-qwen3-gptq-act-order",
               "hf-tiny-qwen3-awq", "hf-tiny-llama-fp8", "hf-tiny-qwen3-fp8",
               "hf-tiny-qwen3-fp8-dynamic", "hf-tiny-smollm3"]:
        if only and hf not in only:
            continue
        path = os.path.join(ROOT, "test", "modelc", "Inputs", hf)
        if "gptq" in hf or "awq" in hf:
            model = dequantized_reference(path)
        else:
            extra = {}
            if hf.endswith("-fp8-dynamic"):
                extra["quantization_config"] = transformers.CompressedTensorsConfig(
                    dequantize=True)
            model, info = transformers.AutoModelForCausalLM.from_pretrained(
                path, dtype=torch.float32, attn_implementation="eager", output_loading_info=True,
                **extra)
            assert not any(info.values()), info
        write(hf, model.eval(), [[1, 17, 42, 9, 3, 50, 7, 8, 63, 31], [5, 6], [20]],
              all_positions=True)
    # LoRA adapters on hf-tiny-llama and hf-tiny-mixtral (scripts/gen-compiler-test-models.py --lora: written
    # by PEFT), applied by PEFT itself (pip install peft): the base model's linears plus
    # each module's scaled B A x, as transformers runs it with the adapter loaded.
    # hf-tiny-llama-fp8-lora: hf-tiny-llama-lora on the FP8 checkpoint of the same model
    # (a quantized base with an adapter), which transformers dequantizes on a CPU.
    for name, base_dir, adapter in [
            ("hf-tiny-llama-lora", "hf-tiny-llama", "hf-tiny-llama-lora"),
            ("hf-tiny-llama-lora-rs", "hf-tiny-llama", "hf-tiny-llama-lora-rs"),
            ("hf-tiny-mixtral-lora", "hf-tiny-mixtral", "hf-tiny-mixtral-lora"),
            ("hf-tiny-llama-fp8-lora", "hf-tiny-llama-fp8", "hf-tiny-llama-lora")]:
        if only and name not in only:
            continue
        from peft import PeftModel
        inputs = os.path.join(ROOT, "test", "modelc", "Inputs")
        base = transformers.AutoModelForCausalLM.from_pretrained(
            os.path.join(inputs, base_dir), dtype=torch.float32, attn_implementation="eager")
        model = PeftModel.from_pretrained(base, os.path.join(inputs, adapter))
        write(name, model.eval(), [[1, 17, 42, 9, 3, 50, 7, 8, 63, 31], [5, 6], [20]],
              all_positions=True)
    # Embedding models (modelc --task embed), through sentence-transformers itself (pip install
    # sentence-transformers): its modules.json pipeline (the transformers base model, its
    # Pooling module, Normalize), run on token ids. hf-tiny-qwen3-embedding-cls: the same
    # checkpoint with its Pooling module set to the first token (modelc --pooling cls).
    for name, directory, mode in [("hf-tiny-qwen3-embedding", "hf-tiny-qwen3-embedding", None),
                                  ("hf-tiny-llama-embedding", "hf-tiny-llama-embedding", None),
                                  ("hf-tiny-qwen3-embedding-cls", "hf-tiny-qwen3-embedding",
                                   "cls_token"),
                                  ("hf-tiny-qwen3-embedding-text", "hf-tiny-qwen3-embedding",
                                   None)]:
        if only and name not in only:
            continue
        # -text: texts through the checkpoint's tokenizer (tiny_tokenizer() of
        # gen-compiler-test-models.py; </s> appended), for the server's test.
        prompts = ["this is the end.", "an", "the cat sat on the mat, then ran."] \
            if name.endswith("-text") else \
            [[1, 17, 42, 9, 3, 50, 7, 8, 63, 31], [5, 6], [20],
             [4, 33, 12, 60, 2, 2, 19, 40, 41, 7, 11, 58, 23, 1, 9, 30, 44, 5, 6, 50]]
        write_embeddings(name, os.path.join(ROOT, "test", "modelc", "Inputs", directory), mode,
                         prompts)
    # Encoders (scripts/gen-compiler-test-models.py --encoder): texts through
    # sentence-transformers' own tokenizing (WordPiece for BERT), bidirectional attention.
    for name, texts in [
            ("hf-tiny-bert-embedding",
             ["The quick brown fox jumps over the lazy dog.", "Café? Naïve RÉSUMÉ, Zürich!",
              "a", "Numbers: 3.14159 and 1,000,000; CJK: 日本語 text.",
              "I'm sure they'll say it's fine, we've done it, you'd agree."]),
            ("hf-tiny-roberta-embedding",
             ["the cat is on the mat.", "an", "this is the end, then the cat ran."]),
            # XLM-R's Unigram tokenizer (SentencePiece's charsmap: full-width forms, ligatures
            # and compositions normalized; unknown characters fused).
            ("hf-tiny-xlmr-embedding",
             ["The quick brown fox jumps over the lazy dog.", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ and ﬁne café",
              "a", "Привет мир, 日本語 text ꙮꙮ!", "  many   spaces  "])]:
        if only and name not in only:
            continue
        write_embeddings(name, os.path.join(ROOT, "test", "modelc", "Inputs", name), None, texts)
    # Classifiers (modelc --task classify; scripts/gen-compiler-test-models.py --classifier):
    # transformers' sequence classifier on ids, sentence-transformers' CrossEncoder on text
    # pairs, and a causal LM scored on "no" and "yes" as Qwen3-Reranker's model card does.
    pairs = [("the cat is ", "on the mat."), ("a dog ran.", "the cat sat, then ran."),
             ("is this the end", "it is.")]
    for name, cases in [
            ("hf-tiny-qwen3-classifier",
             [[1, 17, 42, 9, 3, 50, 7, 8, 63, 31], [5, 6], [20],
              [4, 33, 12, 60, 2, 2, 19, 40, 41, 7, 11, 58, 23, 1, 9, 30, 44, 5, 6, 50]]),
            ("hf-tiny-llama-cross-encoder", pairs), ("hf-tiny-qwen3-reranker", pairs),
            # Encoders' (gen-compiler-test-models.py --encoder): BERT's on [CLS] ... [SEP]
            # ids of its WordPiece vocabulary (single texts: token type 0), RoBERTa's pairs.
            ("hf-tiny-bert-classifier",
             [[2, 225, 521, 568, 542, 586, 594, 225, 588, 576, 15, 3], [2, 37, 3],
              [2, 570, 32, 590, 131, 599, 13, 415, 430, 129, 5, 3]]),
            ("hf-tiny-roberta-cross-encoder", pairs), ("hf-tiny-bert-cross-encoder", pairs),
            ("hf-tiny-xlmr-reranker",
             pairs + [("¿Qué es ＡＩ?", "Ｌａ inteligencia artificial, 人工知能.")])]:
        if only and name not in only:
            continue
        write_classifier(name, os.path.join(ROOT, "test", "modelc", "Inputs", name), cases)
    if "--no-smollm2" not in sys.argv and not only:
        name, model = smollm2_model()
        # "The capital of France is" and "<|im_start|>user\\nHi", as modelrt tokenize gives them.
        write(name, model, [[504, 3575, 282, 4649, 314], [1, 4093, 198, 26843]],
              all_positions=False)


if __name__ == "__main__":
    main()
