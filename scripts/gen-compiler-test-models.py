#!/usr/bin/env python3
"""Writes the small weight files under test/modelc/Inputs that the compiler's lit tests
bind against. The files are made by the formats' own reference writers (the `safetensors`
and `gguf` PyPI packages), so modelc is tested on files it did not write itself.

    pip install numpy safetensors gguf torch transformers accelerate compressed-tensors && \
        scripts/gen-compiler-test-models.py
    scripts/gen-compiler-test-models.py --manifest-ggufs     (only the manifests' GGUF files)
    scripts/gen-compiler-test-models.py --lora               (only the LoRA adapters; + peft)
    scripts/gen-compiler-test-models.py --embedding          (only the embedding checkpoints)
    scripts/gen-compiler-test-models.py --classifier         (only the classifier checkpoints)
    scripts/gen-compiler-test-models.py --encoder            (only the encoder checkpoints)
    scripts/gen-compiler-test-models.py --xlmr               (only the XLM-RoBERTa checkpoints)

(torch and transformers check that transformers reads the MXFP4 pairs of
hf-tiny-gpt-oss-mxfp4 as gguf does; compressed-tensors quantizes the *-w4a16 / *-w8a16
directories. The *-gptq*, *-awq and *-fp8 directories are written here; their references need
gptqmodel, and optimum for GPTQ.)
"""
import importlib.util
import json
import math
import os
import shutil
import sys

import gguf
import numpy as np
from safetensors.numpy import load_file, save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "modelc", "Inputs")
MODELS = os.path.join(os.path.dirname(__file__), "..", "models")
rng = np.random.default_rng(0)

# A 2-layer Llama: hidden 32, 4 heads of 8, 2 KV heads, MLP 64, vocab 64.
V, D, H, KV, HD, F, L = 64, 32, 4, 2, 8, 64, 2


def llama_tensors(gen=None, hd=HD, qk_norm=False, heads=H, kv=KV, ff=F, layers=L,
                  sandwich=False):
    """A Llama-family checkpoint (head_dim `hd`; with qk_norm, Qwen3's per-head norms; with
    sandwich, Gemma 2/3's norms of each block's output and the MLP's pre-norm)."""
    t = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = (D,)
        t[p + "self_attn.q_proj.weight"] = (heads * hd, D)
        t[p + "self_attn.k_proj.weight"] = (kv * hd, D)
        t[p + "self_attn.v_proj.weight"] = (kv * hd, D)
        if qk_norm:
            t[p + "self_attn.q_norm.weight"] = (hd,)
            t[p + "self_attn.k_norm.weight"] = (hd,)
        t[p + "self_attn.o_proj.weight"] = (D, heads * hd)
        t[p + "post_attention_layernorm.weight"] = (D,)
        if sandwich:
            t[p + "pre_feedforward_layernorm.weight"] = (D,)
            t[p + "post_feedforward_layernorm.weight"] = (D,)
        t[p + "mlp.gate_proj.weight"] = (ff, D)
        t[p + "mlp.up_proj.weight"] = (ff, D)
        t[p + "mlp.down_proj.weight"] = (D, ff)
    gen = gen or rng
    return {k: gen.standard_normal(s).astype(np.float32) for k, s in t.items()}


def llama_config():
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V,
            "hidden_size": D, "intermediate_size": F, "num_hidden_layers": L,
            "num_attention_heads": H, "num_key_value_heads": KV, "max_position_embeddings": 128,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
            "hidden_act": "silu"}


def hf_dir(name, tensors, config, bf16=False):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file(tensors, os.path.join(path, "model.safetensors"))
    os.chmod(os.path.join(path, "model.safetensors"), 0o644)


def quantized(x):
    """Matrices whose rows are whole Q8_0 blocks as (bytes, type); anything else as is."""
    if x.ndim < 2 or x.shape[-1] % 32:
        return x
    return (gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0)


def gguf_file(name, arch, meta, tensors):
    w = gguf.GGUFWriter(os.path.join(OUT, name), arch)
    for key, value in meta.items():
        name = key if key.startswith("tokenizer.") else f"{arch}.{key}"
        if isinstance(value, list):
            w.add_array(name, value)
        elif isinstance(value, bool):
            w.add_bool(name, value)
        elif isinstance(value, float):
            w.add_float32(name, value)
        elif isinstance(value, str):
            w.add_string(name, value)
        else:
            w.add_uint32(name, value)
    for tname, data in tensors.items():
        if isinstance(data, tuple):  # (quantized bytes, block type)
            w.add_tensor(tname, data[0], raw_dtype=data[1])
        else:
            w.add_tensor(tname, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# llama.cpp's name of each per-layer Hugging Face tensor.
GGUF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "mlp.gate_up_proj.weight": "ffn_up.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.bias": "attn_output.bias",
    "post_self_attn_layernorm.weight": "post_attention_norm.weight",  # GLM-4
    "post_mlp_layernorm.weight": "post_ffw_norm.weight"}


def permute_qk_rows(tensors, heads, kv_heads):
    """Q and K rows as llama.cpp's converter permutes a Llama's (LlamaModel.permute), for
    GPT-J-style (interleaved) rotation."""
    def permute(w, n):
        return (w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:])
                .swapaxes(1, 2).reshape(w.shape))
    return {k: permute(v, heads) if k.endswith("q_proj.weight")
            else permute(v, kv_heads) if k.endswith("k_proj.weight") else v
            for k, v in tensors.items()}


def to_gguf_names(tensors, sandwich=False):
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = dict(GGUF_LAYER_NAMES)
    if sandwich:  # Gemma 2/3: llama.cpp's names for the four norms of a layer
        per_layer.update({"post_attention_layernorm.weight": "post_attention_norm.weight",
                          "pre_feedforward_layernorm.weight": "ffn_norm.weight",
                          "post_feedforward_layernorm.weight": "post_ffw_norm.weight"})
    out = {}
    for k, v in tensors.items():
        if k in names:
            out[names[k]] = v
        else:
            _, _, i, rest = k.split(".", 3)
            out[f"blk.{i}.{per_layer[rest]}"] = v
    return out


def gemma_gguf(name, arch, grng, layers, qk_norm, extra=None):
    """A Gemma 2/3 GGUF file as llama.cpp's converter writes it (see main)."""
    GH, GKV, GHD, GF = 2, 1, 256, 64
    tensors = {}
    for k, x in llama_tensors(grng, GHD, qk_norm, GH, GKV, GF, layers, sandwich=True).items():
        if x.ndim == 1:
            tensors[k] = (1.0 + 0.1 * x).astype(np.float32)  # stored 1 + w
        else:
            tensors[k] = (x / np.sqrt(x.shape[1])).astype(np.float16)
    meta = {"block_count": layers, "embedding_length": D, "feed_forward_length": GF,
            "context_length": 128, "attention.head_count": GH, "attention.head_count_kv": GKV,
            "attention.key_length": GHD, "attention.value_length": GHD,
            "attention.sliding_window": 4, "attention.layer_norm_rms_epsilon": 1e-6,
            "vocab_size": V}
    if arch == "gemma3":
        meta["rope.freq_base"] = 1000000.0
    meta.update(extra or {})
    gguf_file(name, arch, meta, to_gguf_names(tensors, sandwich=True))


def compressed_tensors_dir(src, dst, weights, dtype, inputs=None, fmt="pack-quantized"):
    """Writes OUT/dst: OUT/src in `dtype` quantized by compressed-tensors in format `fmt`
    (`inputs`: the scheme's input activations)."""
    import torch
    import transformers
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (QuantizationArgs, QuantizationConfig,
                                                 QuantizationScheme, QuantizationStatus,
                                                 apply_quantization_config)
    from compressed_tensors.quantization.utils import calculate_qparams
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.join(OUT, src), dtype=getattr(torch, dtype)).eval()
    args = QuantizationArgs(**weights)
    scheme = QuantizationScheme(targets=["Linear"], weights=args,
                                input_activations=QuantizationArgs(**inputs) if inputs else None)
    apply_quantization_config(model, QuantizationConfig(
        config_groups={"group_0": scheme}, ignore=["lm_head"], format=fmt))
    for module in model.modules():
        if hasattr(module, "weight_scale"):
            w = module.weight.data
            g = args.group_size if args.strategy == "group" else w.shape[1]
            wg = w.reshape(w.shape[0], -1, g)
            scale, zero = calculate_qparams(wg.amin(-1), wg.amax(-1), args)
            module.weight_scale.data.copy_(scale.reshape(module.weight_scale.shape))
            module.weight_zero_point.data.copy_(
                zero.reshape(module.weight_zero_point.shape).to(module.weight_zero_point.dtype))
            module.quantization_status = QuantizationStatus.FROZEN
    compressor = ModelCompressor.from_pretrained_model(model, quantization_format=fmt)
    compressor.compress_model(model)
    path = os.path.join(OUT, dst)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path)
    compressor.update_config(path)
    os.remove(os.path.join(path, "generation_config.json"))
    os.chmod(os.path.join(path, "model.safetensors"), 0o644)


def fp8_dir(src, dst, block):
    """Writes OUT/dst: OUT/src's linear layers as FP8 E4M3 codes with f32 scales per block of
    `block` [rows, cols] (transformers' fine-grained FP8 and DeepSeek-V3's format: `weight`
    float8_e4m3fn, `weight_scale_inv` [rows / block[0], cols / block[1]], the weight is their
    product), each block's largest magnitude at 448, rounded by torch's cast."""
    import torch
    from safetensors.torch import load_file as load_torch, save_file as save_torch
    t = load_torch(os.path.join(OUT, src, "model.safetensors"))
    out = {}
    for k, w in t.items():
        if not k.endswith("_proj.weight"):
            out[k] = w
            continue
        o, i = w.shape
        bo, bi = min(block[0], o), min(block[1], i)
        blocks = w.float().reshape(o // bo, bo, i // bi, bi)
        scale = blocks.abs().amax(dim=(1, 3)) / 448.0
        q = (blocks / scale[:, None, :, None]).to(torch.float8_e4m3fn)
        out[k] = q.reshape(o, i)
        out[k + "_scale_inv"] = scale.float()
    config = json.load(open(os.path.join(OUT, src, "config.json")))
    config["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3",
                                     "activation_scheme": "dynamic",
                                     "weight_block_size": list(block)}
    path = os.path.join(OUT, dst)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_torch(out, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(path, "model.safetensors"), 0o644)


def gptq_dir(src, dst, bits, group, sym, act_order):
    """Writes OUT/dst: OUT/src's linear layers quantized to nearest in AutoGPTQ's (v1) format,
    scales f16: qweight [in * bits / 32, out] (codes packed down the inputs), qzeros
    [groups, out * bits / 32] (zero - 1, packed along the outputs), scales [groups, out],
    g_idx [in]. With act_order, g_idx is a permutation's groups (desc_act: the inputs are
    quantized in a shuffled order). Written here; transformers reads it through optimum and
    GPTQModel for the references."""
    t = load_file(os.path.join(OUT, src, "model.safetensors"))
    qrng = np.random.default_rng(7)
    out, levels, per = {}, 1 << bits, 32 // bits
    for k, w in t.items():
        if not k.endswith("_proj.weight"):
            out[k] = w
            continue
        base = k[:-len(".weight")]
        w = w.astype(np.float32)  # [out, in]
        o, i = w.shape
        g_idx = np.arange(i) // group
        if act_order:
            g_idx = g_idx[qrng.permutation(i)]
        scales = np.zeros((i // group, o), np.float16)
        zeros = np.zeros((i // group, o), np.int64)
        q = np.zeros((i, o), np.int64)
        for g in range(i // group):
            cols = np.nonzero(g_idx == g)[0]
            wg = w[:, cols]  # [out, group]
            if sym:
                s = (np.abs(wg).max(1) / (levels / 2 - 1)).astype(np.float16)
                z = np.full(o, levels // 2)
            else:
                lo, hi = np.minimum(wg.min(1), 0), np.maximum(wg.max(1), 0)
                s = ((hi - lo) / (levels - 1)).astype(np.float16)
                z = np.clip(np.round(-lo / s.astype(np.float32)), 1, levels - 1).astype(np.int64)
            scales[g], zeros[g] = s, z
            q[cols] = np.clip(np.round(wg / s.astype(np.float32)[:, None]) + z[:, None],
                              0, levels - 1).T
        qweight = np.zeros((i // per, o), np.uint32)
        for j in range(per):
            qweight |= q[j::per].astype(np.uint32) << (bits * j)
        qzeros = np.zeros((i // group, o // per), np.uint32)
        for j in range(per):
            qzeros |= (zeros[:, j::per] - 1).astype(np.uint32) << (bits * j)
        out[base + ".qweight"] = qweight.view(np.int32)
        out[base + ".qzeros"] = qzeros.view(np.int32)
        out[base + ".scales"] = scales
        out[base + ".g_idx"] = g_idx.astype(np.int32)
    config = json.load(open(os.path.join(OUT, src, "config.json")))
    config["quantization_config"] = {"quant_method": "gptq", "bits": bits, "group_size": group,
                                     "desc_act": act_order, "sym": sym,
                                     "checkpoint_format": "gptq"}
    hf_dir(dst, out, config)


def awq_dir(src, dst, group):
    """Writes OUT/dst: OUT/src's linear layers as asymmetric 4-bit codes to nearest in
    AutoAWQ's GEMM format, scales f16: qweight [in, out / 8] and qzeros [groups, out / 8]
    (codes packed along the outputs, a word's nibbles holding outputs 0 2 4 6 1 3 5 7),
    scales [groups, out]. Written here; transformers reads it through GPTQModel for the
    references."""
    t = load_file(os.path.join(OUT, src, "model.safetensors"))
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    out = {}
    for k, w in t.items():
        if not k.endswith("_proj.weight"):
            out[k] = w
            continue
        base = k[:-len(".weight")]
        w = w.astype(np.float32).T  # [in, out]
        i, o = w.shape
        wg = w.reshape(i // group, group, o)
        lo, hi = np.minimum(wg.min(1), 0), np.maximum(wg.max(1), 0)  # [groups, out]
        scales = ((hi - lo) / 15).astype(np.float16)
        zeros = np.clip(np.round(-lo / scales.astype(np.float32)), 0, 15).astype(np.int64)
        q = np.clip(np.round(wg / scales.astype(np.float32)[:, None]) + zeros[:, None], 0, 15)
        q = q.reshape(i, o).astype(np.uint32)

        def pack(x):
            packed = np.zeros((x.shape[0], x.shape[1] // 8), np.uint32)
            for p, col in enumerate(order):
                packed |= x[:, col::8].astype(np.uint32) << (4 * p)
            return packed.view(np.int32)
        out[base + ".qweight"] = pack(q)
        out[base + ".qzeros"] = pack(zeros)
        out[base + ".scales"] = scales
    config = json.load(open(os.path.join(OUT, src, "config.json")))
    config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": group,
                                     "zero_point": True, "version": "gemm"}
    hf_dir(dst, out, config)


def main():
    llama = llama_tensors()
    hf_dir("hf-tiny-llama", llama, llama_config())
    broken = dict(llama)
    del broken["model.layers.1.mlp.up_proj.weight"]
    hf_dir("hf-missing-tensor", broken, llama_config())
    broken = dict(llama)
    broken["model.layers.0.self_attn.k_proj.weight"] = rng.standard_normal((KV * HD, D + 1)).astype(np.float32)
    hf_dir("hf-wrong-shape", broken, llama_config())

    # GPT-2 as the original checkpoints store it: no "transformer." prefix, Conv1D [in, out].
    gd, gl, gv, gp = 16, 1, 32, 32
    g = {"wte.weight": (gv, gd), "wpe.weight": (gp, gd), "ln_f.weight": (gd,), "ln_f.bias": (gd,)}
    for i in range(gl):
        p = f"h.{i}."
        g.update({p + "ln_1.weight": (gd,), p + "ln_1.bias": (gd,),
                  p + "attn.c_attn.weight": (gd, 3 * gd), p + "attn.c_attn.bias": (3 * gd,),
                  p + "attn.c_proj.weight": (gd, gd), p + "attn.c_proj.bias": (gd,),
                  p + "ln_2.weight": (gd,), p + "ln_2.bias": (gd,),
                  p + "mlp.c_fc.weight": (gd, 4 * gd), p + "mlp.c_fc.bias": (4 * gd,),
                  p + "mlp.c_proj.weight": (4 * gd, gd), p + "mlp.c_proj.bias": (gd,)})
    hf_dir("hf-gpt2-bare-names", {k: rng.standard_normal(s).astype(np.float32) for k, s in g.items()},
           {"model_type": "gpt2", "vocab_size": gv, "n_embd": gd, "n_layer": gl, "n_head": 2,
            "n_positions": gp, "activation_function": "gelu_new"})

    meta = {"block_count": L, "embedding_length": D, "feed_forward_length": F, "context_length": 128,
            "attention.head_count": H, "attention.head_count_kv": KV, "rope.freq_base": 10000.0,
            "attention.layer_norm_rms_epsilon": 1e-5, "vocab_size": V, "rope.dimension_count": HD}
    gguf_llama = to_gguf_names(llama)
    gguf_file("tiny-llama.gguf", "llama", meta, gguf_llama)
    broken = dict(gguf_llama)
    del broken["blk.1.attn_v.weight"]
    gguf_file("gguf-missing-tensor.gguf", "llama", meta, broken)
    gguf_file("gguf-unknown-arch.gguf", "mamba", {"block_count": 1}, {"token_embd.weight": llama["model.embed_tokens.weight"]})
    missing_meta = dict(meta)
    del missing_meta["block_count"]
    gguf_file("gguf-missing-metadata.gguf", "llama", missing_meta, gguf_llama)

    # Qwen3 (its own generator, so the files above stay as they were): head_dim 16 apart
    # from hidden 32 / 4 heads, a q_norm and k_norm of [head_dim] per layer; as a Hugging
    # Face directory and as GGUF (llama.cpp's names, no Q/K permutation for qwen3).
    qrng = np.random.default_rng(3)
    qhd = 16
    q = llama_tensors(qrng, qhd, qk_norm=True)
    qconfig = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": V,
               "hidden_size": D, "intermediate_size": F, "num_hidden_layers": L,
               "num_attention_heads": H, "num_key_value_heads": KV, "head_dim": qhd,
               "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
               "tie_word_embeddings": True, "attention_bias": False, "use_sliding_window": False,
               "hidden_act": "silu"}
    hf_dir("hf-tiny-qwen3", q, qconfig)
    qmeta = {"block_count": L, "embedding_length": D, "feed_forward_length": F,
             "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
             "attention.key_length": qhd, "attention.value_length": qhd,
             "rope.freq_base": 1000000.0, "attention.layer_norm_rms_epsilon": 1e-6,
             "vocab_size": V, "rope.dimension_count": qhd}
    gguf_file("tiny-qwen3.gguf", "qwen3", qmeta, to_gguf_names(q))

    # Gemma 3 as llama.cpp's converter writes it: its own names for the four norms of a
    # layer, every norm weight stored as 1 + w (Hugging Face stores w), no Q/K permutation,
    # head_dim 256 (llama.cpp scales attention by 1/sqrt(key_length); transformers'
    # GGUF loader by query_pre_attn_scalar's default 256: the same here). Six layers, so
    # that the fixed pattern of five local layers to one global one has both; a 4-token
    # window. transformers loads it for the reference logits (scripts/gen-reference-logits.py,
    # Reference.TinyGemma3GgufMatchesTransformers).
    gemma_gguf("tiny-gemma3.gguf", "gemma3", np.random.default_rng(7), layers=6, qk_norm=True)
    # Gemma 2 the same way: two layers (local, global), no query/key norms, the caps
    # llama.cpp writes (gemma2.attn_logit_softcapping 50, final_logit_softcapping 30, which
    # are also transformers' defaults; its GGUF reader does not read them).
    gemma_gguf("tiny-gemma2.gguf", "gemma2", np.random.default_rng(8), layers=2, qk_norm=False,
               extra={"attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0})

    # Phi-3 as llama.cpp writes it: Q, K, V in one attn_qkv tensor, gate and up in ffn_up
    # (gate rows first), rotate-half RoPE (transformers reads no rope.dimension_count for phi3).
    prng = np.random.default_rng(9)
    p3 = llama_tensors(prng)
    for i in range(L):
        p = f"model.layers.{i}."
        p3[p + "self_attn.qkv_proj.weight"] = np.concatenate(
            [p3.pop(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
        p3[p + "mlp.gate_up_proj.weight"] = np.concatenate(
            [p3.pop(p + f"mlp.{n}_proj.weight") for n in ("gate", "up")])
    p3meta = {"block_count": L, "embedding_length": D, "feed_forward_length": F,
              "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
              "rope.dimension_count": HD, "rope.freq_base": 10000.0,
              "attention.layer_norm_rms_epsilon": 1e-5, "vocab_size": V,
              "tokenizer.ggml.padding_token_id": 0}  # transformers' default 32000 > V
    p3["lm_head.weight"] = prng.standard_normal((V, D)).astype(np.float32)
    names = to_gguf_names({k: v for k, v in p3.items() if k != "lm_head.weight"})
    names["output.weight"] = p3["lm_head.weight"]
    gguf_file("tiny-phi3.gguf", "phi3", p3meta, names)
    # Qwen3-MoE as llama.cpp writes it: per-head q/k norms, each layer's router
    # (ffn_gate_inp) and its experts' matrices stacked in one 3-D tensor per kind
    # (ffn_gate_exps / ffn_up_exps [E, F, D], ffn_down_exps [E, D, F]; llama.cpp's ne order
    # reversed), 8 experts of 16 features, 2 per token (renormalized: llama.cpp fixes it for
    # qwen3moe, transformers' GGUF reader too). transformers reads it for the reference.
    qrng = np.random.default_rng(11)
    E, EF, QHD = 8, 16, 16
    q3 = {}
    for k, x in llama_tensors(qrng, QHD, qk_norm=True).items():
        if "mlp." in k:
            continue
        q3[k] = (1.0 + 0.1 * x if x.ndim == 1 else x / np.sqrt(x.shape[1])).astype(np.float32)
    names = to_gguf_names(q3)
    for i in range(L):
        def stack(*shape):
            return (qrng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
        names[f"blk.{i}.ffn_gate_inp.weight"] = stack(E, D)
        names[f"blk.{i}.ffn_gate_exps.weight"] = stack(E, EF, D)
        names[f"blk.{i}.ffn_up_exps.weight"] = stack(E, EF, D)
        names[f"blk.{i}.ffn_down_exps.weight"] = stack(E, D, EF)
    gguf_file("tiny-qwen3-moe.gguf", "qwen3moe", {
        "block_count": L, "embedding_length": D, "feed_forward_length": F,
        "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
        "attention.key_length": QHD, "attention.value_length": QHD, "rope.freq_base": 1000000.0,
        "attention.layer_norm_rms_epsilon": 1e-6, "expert_count": E, "expert_used_count": 2,
        "expert_feed_forward_length": EF, "vocab_size": V}, names)

    # The same Qwen3-MoE shape with experts of 32 features and every matrix in Q8_0 blocks
    # (gguf's own quantizer), norms f32: the default plan keeps the experts' blocks.
    q8rng = np.random.default_rng(13)
    q8 = {}
    for k, x in llama_tensors(q8rng, QHD, qk_norm=True).items():
        if "mlp." not in k:
            q8[k] = (1.0 + 0.1 * x if x.ndim == 1 else x / np.sqrt(x.shape[1])).astype(np.float32)
    q8names = to_gguf_names(q8)
    for i in range(L):
        q8names[f"blk.{i}.ffn_gate_inp.weight"] = stack(E, D)
        q8names[f"blk.{i}.ffn_gate_exps.weight"] = stack(E, 32, D)
        q8names[f"blk.{i}.ffn_up_exps.weight"] = stack(E, 32, D)
        q8names[f"blk.{i}.ffn_down_exps.weight"] = stack(E, D, 32)
    gguf_file("tiny-qwen3-moe-q8.gguf", "qwen3moe", {
        "block_count": L, "embedding_length": D, "feed_forward_length": F,
        "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
        "attention.key_length": QHD, "attention.value_length": QHD, "rope.freq_base": 1000000.0,
        "attention.layer_norm_rms_epsilon": 1e-6, "expert_count": E, "expert_used_count": 2,
        "expert_feed_forward_length": 32, "vocab_size": V},
        {k: quantized(v) for k, v in q8names.items()})

    # Mixtral as a Hugging Face directory: each expert's w1 (gate), w3 (up), w2 (down) a
    # tensor of its own, 4 experts of 16 features, 2 per token. transformers loads it (its
    # checkpoint conversion stacks the experts) for the reference.
    mrng = np.random.default_rng(15)
    mx = {}
    for k, x in llama_tensors(mrng).items():
        if "mlp." not in k:
            mx[k] = (1.0 + 0.1 * x if x.ndim == 1 else x / np.sqrt(x.shape[1])).astype(np.float32)
    for i in range(L):
        p = f"model.layers.{i}.block_sparse_moe."
        mx[p + "gate.weight"] = (mrng.standard_normal((4, D)) / np.sqrt(D)).astype(np.float32)
        for e in range(4):
            for n, shape in (("w1", (16, D)), ("w3", (16, D)), ("w2", (D, 16))):
                mx[p + f"experts.{e}.{n}.weight"] = (
                    mrng.standard_normal(shape) / np.sqrt(shape[1])).astype(np.float32)
    mx["lm_head.weight"] = (mrng.standard_normal((V, D)) / np.sqrt(D)).astype(np.float32)
    hf_dir("hf-tiny-mixtral", mx, {
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "vocab_size": V,
        "hidden_size": D, "intermediate_size": 16, "num_hidden_layers": L,
        "num_attention_heads": H, "num_key_value_heads": KV, "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "num_local_experts": 4,
        "num_experts_per_tok": 2, "tie_word_embeddings": False, "hidden_act": "silu"})

    # Qwen2-MoE as llama.cpp writes it (qwen2moe): Q/K/V biases, 8 experts of 16 features, 2
    # per token (not renormalized), and a shared expert of 24 (ffn_*_shexp) whose gate
    # ffn_gate_inp_shexp is a [D] vector. transformers reads it for the reference.
    q2rng = np.random.default_rng(14)
    q2 = {}
    for k, x in llama_tensors(q2rng).items():
        if "mlp." not in k:
            q2[k] = (1.0 + 0.1 * x if x.ndim == 1 else x / np.sqrt(x.shape[1])).astype(np.float32)
    q2names = to_gguf_names(q2)

    def stack2(*shape):
        return (q2rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
    for i in range(L):
        for n, rows in (("q", H * HD), ("k", KV * HD), ("v", KV * HD)):
            q2names[f"blk.{i}.attn_{n}.bias"] = (0.1 * q2rng.standard_normal(rows)).astype(np.float32)
        q2names[f"blk.{i}.ffn_gate_inp.weight"] = stack2(E, D)
        q2names[f"blk.{i}.ffn_gate_exps.weight"] = stack2(E, EF, D)
        q2names[f"blk.{i}.ffn_up_exps.weight"] = stack2(E, EF, D)
        q2names[f"blk.{i}.ffn_down_exps.weight"] = stack2(E, D, EF)
        q2names[f"blk.{i}.ffn_gate_shexp.weight"] = stack2(24, D)
        q2names[f"blk.{i}.ffn_up_shexp.weight"] = stack2(24, D)
        q2names[f"blk.{i}.ffn_down_shexp.weight"] = stack2(D, 24)
        q2names[f"blk.{i}.ffn_gate_inp_shexp.weight"] = stack2(1, D)[0]
    gguf_file("tiny-qwen2-moe.gguf", "qwen2moe", {
        "block_count": L, "embedding_length": D, "feed_forward_length": F,
        "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
        "rope.freq_base": 1000000.0, "attention.layer_norm_rms_epsilon": 1e-6,
        "expert_count": E, "expert_used_count": 2, "expert_feed_forward_length": EF,
        "expert_shared_feed_forward_length": 24, "vocab_size": V}, q2names)

    # GraniteMoE as llama.cpp writes it (granitemoe: the router as ffn_gate_inp, input_linear
    # split into ffn_gate_exps and ffn_up_exps), and the same with GraniteMoeShared's shared
    # experts, which modelc refuses.
    grng = np.random.default_rng(12)
    gm = {k: v for k, v in q3.items() if "_norm." not in k or "layernorm" in k}
    gnames = to_gguf_names({k: v for k, v in gm.items() if "self_attn.q_norm" not in k
                            and "self_attn.k_norm" not in k})
    for i in range(L):
        gnames[f"blk.{i}.ffn_gate_inp.weight"] = stack(E, D)
        gnames[f"blk.{i}.ffn_gate_exps.weight"] = stack(E, EF, D)
        gnames[f"blk.{i}.ffn_up_exps.weight"] = stack(E, EF, D)
        gnames[f"blk.{i}.ffn_down_exps.weight"] = stack(E, D, EF)
    gmeta = {"block_count": L, "embedding_length": D, "feed_forward_length": EF,
             "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
             "attention.key_length": QHD, "rope.freq_base": 10000.0,
             "attention.layer_norm_rms_epsilon": 1e-6, "expert_count": E, "expert_used_count": 2,
             "embedding_scale": 12.0, "residual_scale": 0.22, "attention.scale": 0.0625,
             "logit_scale": 8.0, "vocab_size": V}
    gguf_file("tiny-granitemoe.gguf", "granitemoe", gmeta, gnames)
    shared = dict(gnames)
    for i in range(L):
        shared[f"blk.{i}.ffn_gate_shexp.weight"] = stack(EF, D)
        shared[f"blk.{i}.ffn_up_shexp.weight"] = stack(EF, D)
        shared[f"blk.{i}.ffn_down_shexp.weight"] = stack(D, EF)
    gguf_file("granitemoe-shared.gguf", "granitemoe",
              dict(gmeta, expert_shared_feed_forward_length=EF), shared)

    # gpt-oss as transformers saves it (hf-tiny-gpt-oss: each expert's gate and up features
    # interleaved in gate_up_proj [E, D, 2I], down_proj [E, I, D], both [in, out]; attention
    # sinks; biases everywhere), and the same tensors as llama.cpp's converter writes them
    # (gate and up apart, [out, in]): tiny-gpt-oss.gguf in f32, tiny-gpt-oss-mxfp4.gguf with
    # the experts in MXFP4 blocks (gguf's own quantizer). 4 experts of 32 features, 2 per
    # token; the experts' weights large enough that the SwiGLU clamp (7) bites. transformers
    # loads the directory for the reference.
    orng = np.random.default_rng(16)
    OD, OI, OE, OH, OKV, OHD = 64, 32, 4, 4, 2, 16

    def onormal(*shape, scale=1.0):
        return (scale * orng.standard_normal(shape) / np.sqrt(shape[-2] if len(shape) == 3
                                                              else shape[-1])).astype(np.float32)
    go = {"model.embed_tokens.weight": onormal(V, OD), "model.norm.weight":
          (1.0 + 0.1 * orng.standard_normal(OD)).astype(np.float32),
          "lm_head.weight": onormal(V, OD)}
    for i in range(L):
        p = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            go[p + n + ".weight"] = (1.0 + 0.1 * orng.standard_normal(OD)).astype(np.float32)
        for n, rows in (("q", OH * OHD), ("k", OKV * OHD), ("v", OKV * OHD)):
            go[p + f"self_attn.{n}_proj.weight"] = onormal(rows, OD)
            go[p + f"self_attn.{n}_proj.bias"] = (0.1 * orng.standard_normal(rows)).astype(np.float32)
        go[p + "self_attn.o_proj.weight"] = onormal(OD, OH * OHD)
        go[p + "self_attn.o_proj.bias"] = (0.1 * orng.standard_normal(OD)).astype(np.float32)
        go[p + "self_attn.sinks"] = orng.standard_normal(OH).astype(np.float32)
        go[p + "mlp.router.weight"] = onormal(OE, OD)
        go[p + "mlp.router.bias"] = (0.1 * orng.standard_normal(OE)).astype(np.float32)
        go[p + "mlp.experts.gate_up_proj"] = onormal(OE, OD, 2 * OI, scale=4.0)
        go[p + "mlp.experts.gate_up_proj_bias"] = orng.standard_normal((OE, 2 * OI)).astype(np.float32)
        go[p + "mlp.experts.down_proj"] = onormal(OE, OI, OD)
        go[p + "mlp.experts.down_proj_bias"] = (0.1 * orng.standard_normal((OE, OD))).astype(np.float32)
    hf_dir("hf-tiny-gpt-oss", go, {
        "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "vocab_size": V,
        "hidden_size": OD, "intermediate_size": OI, "num_hidden_layers": L,
        "num_attention_heads": OH, "num_key_value_heads": OKV, "head_dim": OHD,
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "sliding_window": 4,
        "num_local_experts": OE, "num_experts_per_tok": 2, "tie_word_embeddings": False,
        "layer_types": ["sliding_attention", "full_attention"], "attention_bias": True,
        "rope_parameters": {"rope_type": "yarn", "rope_theta": 150000.0, "factor": 32.0,
                            "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
                            "original_max_position_embeddings": 4096}})
    onames = {"token_embd.weight": go["model.embed_tokens.weight"],
              "output_norm.weight": go["model.norm.weight"], "output.weight": go["lm_head.weight"]}
    for i in range(L):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        onames[b + "attn_norm.weight"] = go[p + "input_layernorm.weight"]
        onames[b + "post_attention_norm.weight"] = go[p + "post_attention_layernorm.weight"]
        for n, g in (("q", "q"), ("k", "k"), ("v", "v"), ("o", "output")):
            onames[b + f"attn_{g}.weight"] = go[p + f"self_attn.{n}_proj.weight"]
            onames[b + f"attn_{g}.bias"] = go[p + f"self_attn.{n}_proj.bias"]
        onames[b + "attn_sinks.weight"] = go[p + "self_attn.sinks"]
        onames[b + "ffn_gate_inp.weight"] = go[p + "mlp.router.weight"]
        onames[b + "ffn_gate_inp.bias"] = go[p + "mlp.router.bias"]
        gate_up = go[p + "mlp.experts.gate_up_proj"].transpose(0, 2, 1)  # [E, 2I, D]
        onames[b + "ffn_gate_exps.weight"] = np.ascontiguousarray(gate_up[:, ::2, :])
        onames[b + "ffn_up_exps.weight"] = np.ascontiguousarray(gate_up[:, 1::2, :])
        onames[b + "ffn_gate_exps.bias"] = np.ascontiguousarray(go[p + "mlp.experts.gate_up_proj_bias"][:, ::2])
        onames[b + "ffn_up_exps.bias"] = np.ascontiguousarray(go[p + "mlp.experts.gate_up_proj_bias"][:, 1::2])
        onames[b + "ffn_down_exps.weight"] = np.ascontiguousarray(
            go[p + "mlp.experts.down_proj"].transpose(0, 2, 1))  # [E, D, I]
        onames[b + "ffn_down_exps.bias"] = go[p + "mlp.experts.down_proj_bias"]
    ometa = {"block_count": L, "embedding_length": OD, "feed_forward_length": OI,
             "context_length": 1024, "attention.head_count": OH, "attention.head_count_kv": OKV,
             "attention.key_length": OHD, "attention.value_length": OHD,
             "rope.freq_base": 150000.0, "attention.layer_norm_rms_epsilon": 1e-5,
             "expert_count": OE, "expert_used_count": 2, "expert_feed_forward_length": OI,
             "attention.sliding_window": 4, "rope.scaling.type": "yarn",
             "rope.scaling.factor": 32.0, "rope.scaling.original_context_length": 4096,
             "vocab_size": V}
    gguf_file("tiny-gpt-oss.gguf", "gpt-oss", ometa, onames)
    mx4 = gguf.GGMLQuantizationType.MXFP4
    gguf_file("tiny-gpt-oss-mxfp4.gguf", "gpt-oss", ometa,
              {k: (gguf.quants.quantize(v, mx4), mx4) if "_exps.weight" in k else v
               for k, v in onames.items()})

    # The official gpt-oss checkpoints' layout (hf-tiny-gpt-oss-mxfp4): experts as MXFP4
    # `*_blocks` [E, rows, cols / 32, 16] (two codes a byte, the even one low) and `*_scales`
    # [E, rows, cols / 32] (E8M0), rows the output features ([out, in], gate and up interleaved),
    # quantized by gguf's quantizer from the same weights; transformers' own dequantizer must
    # give what gguf's gives for the same codes.
    import torch
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors
    gm = {k: v for k, v in go.items() if "mlp.experts.gate_up_proj" not in k or "bias" in k}
    gm = {k: v for k, v in gm.items() if not k.endswith("mlp.experts.down_proj")}
    for i in range(L):
        p = f"model.layers.{i}.mlp.experts."
        for name, w in (("gate_up_proj", go[p + "gate_up_proj"]), ("down_proj", go[p + "down_proj"])):
            out_in = np.ascontiguousarray(w.transpose(0, 2, 1))  # [E, out, in]
            e_, r_, c_ = out_in.shape
            g = gguf.quants.quantize(out_in, mx4).reshape(e_, r_, c_ // 32, 17)
            codes = np.concatenate([g[..., 1:] & 15, g[..., 1:] >> 4], axis=-1)  # element order
            blocks = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
            scales = np.ascontiguousarray(g[..., 0])
            ours = gguf.quants.dequantize(g.reshape(e_, r_, -1), mx4)
            theirs = convert_moe_packed_tensors(torch.from_numpy(blocks), torch.from_numpy(scales),
                                                dtype=torch.float32).numpy()  # [E, in, out]
            theirs = theirs.transpose(0, 2, 1)
            assert np.array_equal(ours, theirs), name
            gm[p + name + "_blocks"] = blocks
            gm[p + name + "_scales"] = scales
    hf_dir("hf-tiny-gpt-oss-mxfp4", gm, dict(
        json.load(open(os.path.join(OUT, "hf-tiny-gpt-oss", "config.json"))),
        quantization_config={"quant_method": "mxfp4", "modules_to_not_convert": [
            "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens",
            "lm_head"]}))

    # Checkpoints quantized by compressed-tensors (what llm-compressor writes, and vLLM
    # serves): hf-tiny-llama's weights with every Linear but lm_head as symmetric int4 codes
    # in groups of 16 (W4A16), hf-tiny-qwen3's as symmetric int8 per output channel (W8A16),
    # in its pack-quantized format; hf-tiny-llama-w4a16-bf16 and hf-tiny-qwen3-w8a16-bf16 the
    # same as bf16 models, int4 in groups of 32 (their bf16 scales make the codes Q4_0 and
    # Q8_0 blocks). Scales are min/max (compressed-tensors'
    # calculate_qparams); transformers decompresses them for the references.
    for src, dst, args, dtype in [
            ("hf-tiny-llama", "hf-tiny-llama-w4a16",
             dict(num_bits=4, type="int", symmetric=True, strategy="group", group_size=16),
             "float32"),
            ("hf-tiny-qwen3", "hf-tiny-qwen3-w8a16",
             dict(num_bits=8, type="int", symmetric=True, strategy="channel"), "float32"),
            ("hf-tiny-llama", "hf-tiny-llama-w4a16-bf16",
             dict(num_bits=4, type="int", symmetric=True, strategy="group", group_size=32),
             "bfloat16"),
            ("hf-tiny-qwen3", "hf-tiny-qwen3-w8a16-bf16",
             dict(num_bits=8, type="int", symmetric=True, strategy="channel"), "bfloat16")]:
        compressed_tensors_dir(src, dst, args, dtype)

    # GPTQ checkpoints (AutoGPTQ's v1 format): hf-tiny-llama as 4-bit codes in groups of 32,
    # symmetric and not (f16 scales: Q4_ZP blocks as they stand), hf-tiny-qwen3 as 8-bit
    # asymmetric ones in groups of 16 with act-order (g_idx shuffled: dense).
    gptq_dir("hf-tiny-llama", "hf-tiny-llama-gptq", 4, 32, True, False)
    gptq_dir("hf-tiny-llama", "hf-tiny-llama-gptq-asym", 4, 32, False, False)
    gptq_dir("hf-tiny-qwen3", "hf-tiny-qwen3-gptq-act-order", 8, 16, False, True)
    # AWQ (AutoAWQ's GEMM format): hf-tiny-qwen3 as asymmetric 4-bit codes in groups of 32.
    awq_dir("hf-tiny-qwen3", "hf-tiny-qwen3-awq", 32)
    # compressed-tensors' FP8 (llm-compressor's FP8_DYNAMIC scheme, RedHatAI's *-FP8-dynamic:
    # E4M3 weights with an f32 scale per output channel, activations quantized per token at
    # run time, which modelc does not do), float-quantized.
    compressed_tensors_dir(
        "hf-tiny-qwen3", "hf-tiny-qwen3-fp8-dynamic",
        dict(num_bits=8, type="float", symmetric=True, strategy="channel"), "float32",
        inputs=dict(num_bits=8, type="float", symmetric=True, strategy="token", dynamic=True),
        fmt="float-quantized")
    # FP8 (transformers' fine-grained FP8, as Qwen3-*-FP8 and DeepSeek-V3 ship): hf-tiny-llama
    # in blocks of 32 x 32 (runs of 32 inputs share a scale: F8_E4M3_B32 blocks), hf-tiny-qwen3
    # in blocks of 16 x 16 (they do not: dense f32 products).
    fp8_dir("hf-tiny-llama", "hf-tiny-llama-fp8", (32, 32))
    fp8_dir("hf-tiny-qwen3", "hf-tiny-qwen3-fp8", (16, 16))

    # SmolLM3 (no RoPE on every fourth layer): 4 layers, so layer 3 has none; the same weights
    # as llama.cpp's converter writes them (a Llama's: Q and K rows permuted for interleaved
    # rotation), checked against the directory's reference.
    smol = llama_tensors(gen=np.random.default_rng(31), layers=4)
    smol_config = dict(llama_config(), architectures=["SmolLM3ForCausalLM"],
                       model_type="smollm3", num_hidden_layers=4, rope_theta=2000000.0,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2)
    hf_dir("hf-tiny-smollm3", smol, smol_config)

    smol_gguf = to_gguf_names(permute_qk_rows(smol, H, KV))
    gguf_file("tiny-smollm3.gguf", "smollm3", dict(meta, block_count=4, **{
        "rope.freq_base": 2000000.0}), smol_gguf)

    # The same tensors as a Hugging Face directory whose config says one KV head where
    # qkv_proj holds two: the parts would not tile the fused tensor.
    hf_dir("hf-phi3-wrong-fused", {k: v for k, v in p3.items()},
           {"model_type": "phi3", "vocab_size": V, "hidden_size": D, "intermediate_size": F,
            "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": 1,
            "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "tie_word_embeddings": False})


def manifest_model(manifest):
    """A manifest's model (models/<manifest>: modelc's seeded random weights, rebuilt by
    scripts/gen-reference-logits.py) as transformers holds it."""
    loader = importlib.util.spec_from_file_location(
        "gen_reference_logits", os.path.join(os.path.dirname(__file__), "gen-reference-logits.py"))
    ref = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(ref)
    return ref.tiny_checkpoint_model(manifest)[1]


def rope_parameter(config, key, default):
    """A RoPE setting where transformers keeps it (the config, or its rope_parameters)."""
    value = getattr(config, key, None)
    if value is None:
        rope = getattr(config, "rope_parameters", None) or {}
        rope = rope.get("full_attention", rope)  # per layer type (OLMo 3): the full layers'
        value = rope.get(key, default)
    return value


def manifest_meta(c):
    """The metadata llama.cpp writes for a Llama-family config."""
    hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    meta = {"block_count": c.num_hidden_layers, "embedding_length": c.hidden_size,
            "feed_forward_length": c.intermediate_size,
            "context_length": c.max_position_embeddings,
            "attention.head_count": c.num_attention_heads,
            "attention.head_count_kv": c.num_key_value_heads,
            "rope.freq_base": float(rope_parameter(c, "rope_theta", 10000.0)),
            "rope.dimension_count": int(hd * rope_parameter(c, "partial_rotary_factor", 1.0)),
            "attention.layer_norm_rms_epsilon": float(c.rms_norm_eps), "vocab_size": c.vocab_size}
    if getattr(c, "head_dim", None):  # TextModel writes a config's head_dim
        meta.update({"attention.key_length": hd, "attention.value_length": hd})
    return meta


def manifest_gguf(manifest, permute_qk=False, sandwich=False):
    """A manifest's model as llama.cpp's converter writes it, so its plan answers to the
    manifest's reference logits. Returns (metadata, tensors) for the caller to add its RoPE
    scaling to."""
    model = manifest_model(manifest)
    c = model.config
    tensors = {k: v.numpy() for k, v in model.state_dict().items()
               if not (k == "lm_head.weight" and c.tie_word_embeddings)}
    if permute_qk:
        tensors = permute_qk_rows(tensors, c.num_attention_heads, c.num_key_value_heads)
    return manifest_meta(c), to_gguf_names(tensors, sandwich)


def model_gguf_tensors(model, names, special):
    """A transformers model's tensors under llama.cpp's names: the embeddings, final norm and
    head, then each layer's, `special(i, rest, v, tensors)` writing those it converts itself
    (returning True) and `names` naming the rest."""
    tensors = {"token_embd.weight": model.model.embed_tokens.weight.detach().numpy(),
               "output_norm.weight": model.model.norm.weight.detach().numpy(),
               "output.weight": model.lm_head.weight.detach().numpy()}
    for k, v in model.state_dict().items():
        if not k.startswith("model.layers."):
            continue
        _, _, i, rest = k.split(".", 3)
        if not special(i, rest, v.numpy(), tensors):
            tensors[f"blk.{i}.{names[rest]}"] = v.numpy()
    return tensors


def mixture_tensors(model, split_kv_b=False):
    """A DeepSeek-style mixture's tensors (DeepSeek-V2/V3, GLM-4.5) as llama.cpp writes them:
    experts stacked per kind, shared experts as *_shexp, the correction bias as exp_probs_b;
    DeepSeek's kv_b_proj as attn_kv_b or, split_kv_b, as each head's key rows transposed
    (attn_k_b [H, R, nope]) and value rows (attn_v_b [H, vd, R])."""
    c = model.config
    names = dict(GGUF_LAYER_NAMES, **{
        "self_attn.q_a_proj.weight": "attn_q_a.weight",
        "self_attn.q_a_layernorm.weight": "attn_q_a_norm.weight",
        "self_attn.q_b_proj.weight": "attn_q_b.weight",
        "self_attn.kv_a_proj_with_mqa.weight": "attn_kv_a_mqa.weight",
        "self_attn.kv_a_layernorm.weight": "attn_kv_a_norm.weight",
        "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.experts.down_proj": "ffn_down_exps.weight",
        "mlp.shared_experts.gate_proj.weight": "ffn_gate_shexp.weight",
        "mlp.shared_experts.up_proj.weight": "ffn_up_shexp.weight",
        "mlp.shared_experts.down_proj.weight": "ffn_down_shexp.weight"})
    def special(i, rest, v, tensors):
        if rest == "self_attn.kv_b_proj.weight":
            if split_kv_b:
                H, R, nope, vd = (c.num_attention_heads, c.kv_lora_rank, c.qk_nope_head_dim,
                                  c.v_head_dim)
                kv_b = v.reshape(H, nope + vd, R)
                tensors[f"blk.{i}.attn_k_b.weight"] = np.ascontiguousarray(
                    kv_b[:, :nope, :].transpose(0, 2, 1))
                tensors[f"blk.{i}.attn_v_b.weight"] = np.ascontiguousarray(kv_b[:, nope:, :])
            else:
                tensors[f"blk.{i}.attn_kv_b.weight"] = v
        elif rest == "mlp.experts.gate_up_proj":  # [E, 2I, D]: each expert's gate rows, then up
            ff = v.shape[1] // 2
            tensors[f"blk.{i}.ffn_gate_exps.weight"] = np.ascontiguousarray(v[:, :ff, :])
            tensors[f"blk.{i}.ffn_up_exps.weight"] = np.ascontiguousarray(v[:, ff:, :])
        elif rest in ("mlp.gate.e_score_correction_bias", "mlp.e_score_correction_bias",
                      "mlp.gate.moe_statics.e_score_correction_bias"):
            tensors[f"blk.{i}.exp_probs_b.bias"] = v
        else:
            return False
        return True
    return model_gguf_tensors(model, names, special)


def mixture_meta(c):
    """The metadata of DeepSeek-style experts (DeepSeek, GLM-4.5) as llama.cpp writes it."""
    # GLM-4.7-Flash's config names its dense layers in mlp_layer_types (a leading run).
    dense = getattr(c, "first_k_dense_replace", None)
    if dense is None:
        dense = next(i for i, t in enumerate(c.mlp_layer_types + ["sparse"]) if t != "dense")
    meta = {"leading_dense_block_count": dense,
            "expert_feed_forward_length": c.moe_intermediate_size,
            "expert_count": c.n_routed_experts, "expert_used_count": c.num_experts_per_tok,
            "expert_shared_count": c.n_shared_experts,
            "expert_weights_scale": float(c.routed_scaling_factor),
            "expert_gating_func": 1 if c.model_type == "deepseek_v2" else 2,
            "expert_weights_norm": bool(c.norm_topk_prob)}
    if getattr(c, "n_group", 1) and c.n_group > 1:
        meta.update({"expert_group_count": c.n_group, "expert_group_used_count": c.topk_group})
    return meta


def deepseek_gguf(manifest, name, split_kv_b, extra=None, metadata_only=False):
    """A DeepSeek-V2/V3 manifest's model as llama.cpp's DeepseekV2Model writes it
    (deepseek2): mixture_tensors, and with split_kv_b the latent's widths as key_length /
    value_length and one KV head (newer conversions)."""
    model = manifest_model(manifest)
    c = model.config
    H, R, nope, vd, rot = (c.num_attention_heads, c.kv_lora_rank, c.qk_nope_head_dim,
                           c.v_head_dim, c.qk_rope_head_dim)
    tensors = mixture_tensors(model, split_kv_b)
    rs = getattr(c, "rope_parameters", None) or {}
    meta = {"block_count": c.num_hidden_layers, "embedding_length": c.hidden_size,
            "feed_forward_length": c.intermediate_size,
            "context_length": c.max_position_embeddings,
            "attention.head_count": H, "attention.head_count_kv": 1 if split_kv_b else H,
            "attention.kv_lora_rank": R, "rope.dimension_count": rot,
            "rope.freq_base": float(rs.get("rope_theta", 10000.0)),
            "attention.layer_norm_rms_epsilon": float(c.rms_norm_eps), "vocab_size": c.vocab_size,
            **mixture_meta(c)}
    if c.q_lora_rank:
        meta["attention.q_lora_rank"] = c.q_lora_rank
    if split_kv_b:
        meta.update({"attention.key_length": R + rot, "attention.value_length": R,
                     "attention.key_length_mla": nope + rot, "attention.value_length_mla": vd})
    else:
        meta.update({"attention.key_length": nope + rot, "attention.value_length": vd})
    if rs.get("rope_type") == "yarn":
        assert rs["mscale"] == rs["mscale_all_dim"]  # GGUF keeps one of them
        meta.update({"rope.scaling.type": "yarn", "rope.scaling.factor": float(rs["factor"]),
                     "rope.scaling.original_context_length": rs["original_max_position_embeddings"],
                     "rope.scaling.yarn_log_multiplier": 0.1 * rs["mscale_all_dim"]})
    meta.update(extra or {})
    meta = {k: v for k, v in meta.items() if v is not None}  # None in extra: left out
    gguf_file(name, "deepseek2", meta, {} if metadata_only else tensors)


def manifest_hf_dir(manifest, name):
    """A manifest's model saved by transformers as its checkpoints are laid out."""
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    manifest_model(manifest).save_pretrained(path)
    for f in os.listdir(path):
        os.chmod(os.path.join(path, f), 0o644)


def llama3_rope_freqs(manifest):
    """Llama 3.1's RoPE scaling of a manifest as rope_freqs, one divisor per rotated pair
    (LlamaModel's generate_extra_tensors), computed in f32 as the converter does."""
    cfg = json.load(open(os.path.join(MODELS, manifest)))["config"]
    rs = cfg["rope_scaling"]
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = 1.0 / (np.float32(cfg["rope_theta"]) **
                   (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    old = rs["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / rs["low_freq_factor"], old / rs["high_freq_factor"]
    factors = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(rs["factor"])
        else:
            smooth = (old / wavelen - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
            factors.append(1 / ((1 - smooth) / rs["factor"] + smooth))
    return factors


def multimodal_dir(name, manifest, whole_class, config_class, vision, text_config=None, **extra):
    """test/modelc/Inputs/<name>: a multimodal checkpoint as transformers saves it, whose
    language model holds the manifest's weights, beside a tiny vision tower (seeded torch
    init). Read back by transformers, its language model must be the manifest's model.
    `text_config`: the wrapper's text config (default: the manifest model's own)."""
    import torch
    text = manifest_model(manifest)
    torch.manual_seed(0)
    if text_config is None:
        text_config = text.config.to_dict()
        text_config.pop("_name_or_path", None)  # where transformers loaded it from (a temporary directory)
    config = config_class(text_config=text_config, vision_config=vision.to_dict(), **extra)
    config.tie_word_embeddings = text.config.tie_word_embeddings
    whole = whole_class(config)
    language_model = getattr(whole, "language_model", None) or whole.model.language_model
    if hasattr(language_model, "lm_head"):  # a whole causal LM (Llama 4)
        language_model.load_state_dict(text.state_dict())
    else:  # the decoder (model.*) apart from the wrapper's lm_head
        state = text.state_dict()
        language_model.load_state_dict({k[len("model."):]: v for k, v in state.items()
                                        if k.startswith("model.")})
        whole.lm_head.load_state_dict({"weight": state["lm_head.weight"]})
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    whole.save_pretrained(path)
    for f in os.listdir(path):
        os.chmod(os.path.join(path, f), 0o644)
    back, info = whole_class.from_pretrained(path, dtype=torch.float32,
                                             attn_implementation="eager",
                                             output_loading_info=True)
    assert not any(info.values()), info
    prompt = torch.tensor([[1, 17, 42, 99, 3]])
    back = back.eval()
    with torch.no_grad():
        # Llama 4's wrapper cannot run text alone (transformers 5.24): its language model can.
        got = (back.language_model(prompt) if hasattr(back, "language_model")
               else back(input_ids=prompt)).logits
        # (Qwen3-VL-MoE's experts run another kernel path than Qwen3-MoE's: not bit for bit.)
        assert torch.allclose(got, text(prompt).logits, rtol=0, atol=1e-5), name


def manifest_ggufs():
    """Manifests' models as llama.cpp's converter writes them, each checked against the
    manifest's reference: RoPE scaling, DeepSeek's latent attention."""
    # Llama 3.1's scaling: rope_freqs, one divisor per rotated pair (LlamaModel's
    # generate_extra_tensors), computed in f32 as the converter does.
    meta, tensors = manifest_gguf("tiny-llama.json", permute_qk=True)
    factors = llama3_rope_freqs("tiny-llama.json")
    assert len(set(factors)) == 3, factors  # all three bands: kept, smoothed, divided
    tensors["rope_freqs.weight"] = np.array(factors, dtype=np.float32)
    gguf_file("tiny-llama31.gguf", "llama", meta, tensors)
    # The same with a factor too few: refused by name.
    tensors["rope_freqs.weight"] = tensors["rope_freqs.weight"][:-1]
    gguf_file("gguf-rope-freqs-short.gguf", "llama", meta, tensors)

    # LFM2 as llama.cpp's converter writes it (lfm2; LFM2Model): the short convolutions'
    # tensors as shortconv.*, their kernels squeezed to [D, K]; embedding_norm (the final
    # norm) as token_embd_norm; attention.head_count_kv per block, 0 for the convolutions;
    # feed_forward_length the MLP's width as adjusted; Q and K rows as they are. transformers'
    # own GGUF reader must read it back as the manifest's model.
    lfm2 = manifest_model("tiny-lfm2.json")
    c = lfm2.config
    lfm2_names = {"operator_norm.weight": "attn_norm.weight", "ffn_norm.weight": "ffn_norm.weight",
                  "conv.in_proj.weight": "shortconv.in_proj.weight",
                  "conv.conv.weight": "shortconv.conv.weight",
                  "conv.out_proj.weight": "shortconv.out_proj.weight",
                  "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
                  "self_attn.v_proj.weight": "attn_v.weight",
                  "self_attn.out_proj.weight": "attn_output.weight",
                  "self_attn.q_layernorm.weight": "attn_q_norm.weight",
                  "self_attn.k_layernorm.weight": "attn_k_norm.weight",
                  "feed_forward.w1.weight": "ffn_gate.weight", "feed_forward.w3.weight": "ffn_up.weight",
                  "feed_forward.w2.weight": "ffn_down.weight"}
    tensors = {"token_embd.weight": lfm2.model.embed_tokens.weight.detach().numpy(),
               "token_embd_norm.weight": lfm2.model.embedding_norm.weight.detach().numpy()}
    for k, v in lfm2.state_dict().items():
        if k.startswith("model.layers."):
            _, _, i, rest = k.split(".", 3)
            v = v.numpy()
            tensors[f"blk.{i}.{lfm2_names[rest]}"] = v.squeeze(1) if rest == "conv.conv.weight" else v
    lfm2_meta = {"block_count": c.num_hidden_layers, "embedding_length": c.hidden_size,
                 "feed_forward_length": lfm2.model.layers[0].feed_forward.w1.out_features,
                 "context_length": c.max_position_embeddings,
                 "attention.head_count": c.num_attention_heads,
                 "attention.head_count_kv": [0 if t == "conv" else c.num_key_value_heads
                                             for t in c.layer_types],
                 "rope.freq_base": float(rope_parameter(c, "rope_theta", 1000000.0)),
                 "attention.layer_norm_rms_epsilon": float(c.norm_eps), "vocab_size": c.vocab_size,
                 "shortconv.l_cache": c.conv_L_cache,
                 # transformers' reader counts the vocabulary here
                 "tokenizer.ggml.tokens": [f"t{i}" for i in range(c.vocab_size)]}
    gguf_file("tiny-lfm2.gguf", "lfm2", lfm2_meta, tensors)
    import torch
    import transformers as tf
    back = tf.AutoModelForCausalLM.from_pretrained(
        OUT, gguf_file="tiny-lfm2.gguf", dtype=torch.float32).eval()
    prompt = torch.tensor([[1, 17, 42, 99, 3, 250, 7]])
    with torch.no_grad():
        assert torch.allclose(back(prompt).logits, lfm2(prompt).logits, rtol=0, atol=1e-5)

    # LongRoPE (Phi3MiniModel): rope_factors_short/long, the original context and the
    # attention factor sqrt(1 + ln(s) / ln(original)) the converter computes; the window.
    meta, tensors = manifest_gguf("tiny-phi3-long.json")
    cfg = json.load(open(os.path.join(MODELS, "tiny-phi3-long.json")))["config"]
    orig, scale = cfg["original_max_position_embeddings"], cfg["max_position_embeddings"] / cfg["original_max_position_embeddings"]
    meta.update({"rope.scaling.original_context_length": orig,
                 "rope.scaling.attn_factor": math.sqrt(1 + math.log(scale) / math.log(orig)),
                 "attention.sliding_window": cfg["sliding_window"]})
    tensors["rope_factors_long.weight"] = np.array(cfg["rope_scaling"]["long_factor"], np.float32)
    tensors["rope_factors_short.weight"] = np.array(cfg["rope_scaling"]["short_factor"], np.float32)
    gguf_file("tiny-phi3-long.gguf", "phi3", meta, tensors)

    # YaRN (Qwen2Model: rope.scaling.type, factor, original_context_length).
    meta, tensors = manifest_gguf("tiny-qwen2-yarn.json")
    rs = json.load(open(os.path.join(MODELS, "tiny-qwen2-yarn.json")))["config"]["rope_scaling"]
    meta.update({"rope.scaling.type": "yarn", "rope.scaling.factor": rs["factor"],
                 "rope.scaling.original_context_length": rs["original_max_position_embeddings"]})
    gguf_file("tiny-qwen2-yarn.gguf", "qwen2", meta, tensors)
    # DeepSeek's YaRN multiplier for another architecture: refused by name, not ignored.
    gguf_file("gguf-yarn-log-multiplier.gguf", "qwen2",
              dict(meta, **{"rope.scaling.yarn_log_multiplier": 0.1}), tensors)
    # OLMo 3 (written as olmo2: norms of each block's output, a sliding window on three layers
    # of four, YaRN with its attention factor on the others).
    meta, tensors = manifest_gguf("tiny-olmo3.json", sandwich=True)
    cfg = json.load(open(os.path.join(MODELS, "tiny-olmo3.json")))["config"]
    rs = cfg["rope_scaling"]
    meta.update({"attention.sliding_window": cfg["sliding_window"], "rope.scaling.type": "yarn",
                 "rope.scaling.factor": rs["factor"],
                 "rope.scaling.original_context_length": rs["original_max_position_embeddings"],
                 "rope.scaling.attn_factor": 0.1 * math.log(rs["factor"]) + 1.0})
    gguf_file("tiny-olmo3.gguf", "olmo2", meta, tensors)
    # DeepSeek-V2 (old layout: attn_kv_b, softmax routing in groups) and V3 (new layout:
    # attn_k_b / attn_v_b, sigmoid routing, YaRN with yarn_log_multiplier).
    deepseek_gguf("tiny-deepseek-v2.json", "tiny-deepseek-v2.gguf", split_kv_b=False)
    deepseek_gguf("tiny-deepseek-v3-mscale.json", "tiny-deepseek-v3.gguf", split_kv_b=True)
    # GLM-4.7-Flash (Glm4MoeLiteForCausalLM, which llama.cpp converts as deepseek2): value heads
    # wider than the keys' plain part, sigmoid routing written as expert_gating_func 2. The
    # real files leave expert_gating_func out (the config has no scoring_func); llama.cpp
    # takes sigmoid for 47 or 48 blocks and 154880 tokens, GLM-4.7-Flash's shape (the
    # metadata-only file below), softmax otherwise.
    deepseek_gguf("tiny-glm4-moe-lite.json", "tiny-glm4-moe-lite.gguf", split_kv_b=True)
    # llama.cpp's Ministral 3 (mistral3; metadata only): refused by name, not read as Llama.
    meta, _ = manifest_gguf("tiny-ministral3.json")
    gguf_file("gguf-mistral3.gguf", "mistral3",
              dict(meta, **{"attention.temperature_scale": 0.1, "attention.temperature_length": 8}),
              {})
    # Mistral Large 3's attention temperature as llama.cpp writes it in deepseek2 files
    # (metadata only: read with --dummy-weights); and its scale without the length, refused.
    deepseek_gguf("tiny-deepseek-v3-mscale.json", "gguf-deepseek2-temperature.gguf",
                  split_kv_b=True, metadata_only=True,
                  extra={"attention.temperature_scale": 0.1, "attention.temperature_length": 8})
    deepseek_gguf("tiny-deepseek-v3-mscale.json", "gguf-deepseek2-temperature-no-length.gguf",
                  split_kv_b=True, metadata_only=True,
                  extra={"attention.temperature_scale": 0.1})
    deepseek_gguf("tiny-glm4-moe-lite.json", "gguf-glm4-moe-lite-shape.gguf", split_kv_b=True,
                  extra={"block_count": 48, "nextn_predict_layers": 1, "vocab_size": 154880,
                         "expert_gating_func": None}, metadata_only=True)
    # GLM-4 (glm4: its own norm names, gate_up_proj as ffn_up, interleaved pairs kept as they
    # are) and GLM-4.5 (glm4moe: DeepSeek-V3's routing, one NextN block after the model's,
    # which is not read).
    meta, tensors = manifest_gguf("tiny-glm4.json")
    gguf_file("tiny-glm4.gguf", "glm4", meta, tensors)
    model = manifest_model("tiny-glm4-moe.json")
    meta, tensors = manifest_meta(model.config), mixture_tensors(model)
    nextn = model.config.num_hidden_layers
    tensors.update({f"blk.{nextn}.{t}.weight": np.ones(model.config.hidden_size, np.float32)
                    for t in ("attn_norm", "nextn.enorm", "nextn.hnorm")})
    meta.update(mixture_meta(model.config), block_count=nextn + 1, nextn_predict_layers=1)
    gguf_file("tiny-glm4-moe.gguf", "glm4moe", meta, tensors)
    # Refused by name: an architecture modelc reads from Hugging Face directories only.
    gguf_file("gguf-minimax-m2-underscore.gguf", "minimax_m2", {"block_count": 1}, {})
    # Refused by name: NextN blocks that leave none for the model.
    gguf_file("gguf-glm4moe-all-nextn.gguf", "glm4moe", dict(meta, nextn_predict_layers=3), {})
    # EXAONE 4 (exaone4: OLMo 2's norm names, per-head norms, one bool a layer for the window).
    meta, tensors = manifest_gguf("tiny-exaone4.json", sandwich=True)
    cfg = json.load(open(os.path.join(MODELS, "tiny-exaone4.json")))["config"]
    meta.update({"attention.sliding_window": cfg["sliding_window"],
                 "attention.sliding_window_pattern": [(i + 1) % cfg["sliding_window_pattern"] != 0
                                                      for i in range(cfg["num_hidden_layers"])]})
    gguf_file("tiny-exaone4.gguf", "exaone4", meta, tensors)
    # ERNIE 4.5's mixture as its checkpoints hold it (the correction bias [1, E]).
    manifest_hf_dir("tiny-ernie4_5-moe.json", "hf-tiny-ernie4_5-moe")
    # ERNIE 4.5 (ernie4_5: interleaved pairs as the checkpoint has them; ernie4_5-moe: softmax
    # routing with exp_probs_b, Ernie4_5MoeModel's keys, its expert_shared_feed_forward_length
    # as it computes it).
    meta, tensors = manifest_gguf("tiny-ernie4_5.json")
    gguf_file("tiny-ernie4_5.gguf", "ernie4_5", meta, tensors)
    model = manifest_model("tiny-ernie4_5-moe.json")
    c = model.config
    meta, tensors = manifest_meta(c), mixture_tensors(model)
    meta.update({"expert_count": c.moe_num_experts, "expert_used_count": c.moe_k,
                 "interleave_moe_layer_step": c.moe_layer_interval,
                 "leading_dense_block_count": c.moe_layer_start_index,
                 "expert_feed_forward_length": c.moe_intermediate_size,
                 "expert_shared_count": c.moe_num_shared_experts,
                 "expert_shared_feed_forward_length": c.intermediate_size // c.num_key_value_heads})
    gguf_file("tiny-ernie4_5-moe.gguf", "ernie4_5-moe", meta, tensors)
    # Refused by name: a scoring function llama.cpp does not define.
    deepseek_gguf("tiny-deepseek-v2.json", "gguf-deepseek2-bad-routing.gguf", split_kv_b=False,
                  extra={"expert_gating_func": 3}, metadata_only=True)
    # MiniMax-M2 (minimax-m2: Mixtral's experts stacked, the correction bias as exp_probs_b,
    # full-width Q/K norms, rope.dimension_count = rotary_dim, sigmoid gating).
    model = manifest_model("tiny-minimax-m2.json")
    c = model.config
    meta, tensors = manifest_meta(c), mixture_tensors(model)
    meta.update({"expert_count": c.num_local_experts, "expert_used_count": c.num_experts_per_tok,
                 "expert_feed_forward_length": c.intermediate_size, "expert_gating_func": 2})
    gguf_file("tiny-minimax-m2.gguf", "minimax-m2", meta, tensors)
    # Seed-OSS (seed_oss: the MLP's input norm as post_attention_norm, biases, rotate-half).
    meta, tensors = manifest_gguf("tiny-seed-oss.json", sandwich=True)
    gguf_file("tiny-seed-oss.gguf", "seed_oss", meta, tensors)
    # Llama 4, Gemma 3 and Ministral 3 as they are released: a multimodal checkpoint whose
    # language model is the manifest's (its tensors under language_model.*), beside a tiny
    # vision tower (seeded torch init; modelc reads none of it).
    import transformers
    multimodal_dir("hf-tiny-llama4", "tiny-llama4.json",
                   transformers.Llama4ForConditionalGeneration, transformers.Llama4Config,
                   transformers.Llama4VisionConfig(
                       hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, image_size=28, patch_size=14, vision_output_dim=32,
                       projector_input_dim=32, projector_output_dim=32, pixel_shuffle_ratio=0.5))
    multimodal_dir("hf-tiny-gemma3-mm", "tiny-gemma3.json",
                   transformers.Gemma3ForConditionalGeneration, transformers.Gemma3Config,
                   transformers.SiglipVisionConfig(
                       hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, image_size=28, patch_size=14),
                   mm_tokens_per_image=4, image_token_index=255, boi_token_index=253,
                   eoi_token_index=254)
    multimodal_dir("hf-tiny-ministral3-mm", "tiny-ministral3.json",
                   transformers.Mistral3ForConditionalGeneration, transformers.Mistral3Config,
                   transformers.PixtralVisionConfig(
                       hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, image_size=28, patch_size=14, head_dim=16),
                   image_token_index=10)
    # Qwen3-VL (dense, MoE) and Qwen2.5-VL: the manifests' text fields with multimodal RoPE
    # sections (a text-only prompt rotates as plain RoPE). Qwen3-VL-MoE's text config has no
    # norm_topk_prob (it always renormalizes).
    def qwen_vl_text(manifest, sections, interleaved, drop=()):
        cfg = json.load(open(os.path.join(MODELS, manifest)))["config"]
        cfg = {k: v for k, v in cfg.items() if k not in ("model_type", "rope_theta") + drop}
        rope = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": sections}
        if interleaved:
            rope["mrope_interleaved"] = True
        return dict(cfg, rope_parameters=rope)
    qwen_vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2,
                       out_hidden_size=64, patch_size=14, spatial_merge_size=2,
                       temporal_patch_size=2)
    multimodal_dir("hf-tiny-qwen3-vl", "tiny-qwen3.json",
                   transformers.Qwen3VLForConditionalGeneration, transformers.Qwen3VLConfig,
                   transformers.Qwen3VLVisionConfig(num_position_embeddings=16,
                                                    deepstack_visual_indexes=[0], **qwen_vision),
                   text_config=qwen_vl_text("tiny-qwen3.json", [12, 10, 10], True,
                                            ("use_sliding_window",)),
                   tie_word_embeddings=True)
    multimodal_dir("hf-tiny-qwen3-vl-moe", "tiny-qwen3-vl-moe.json",
                   transformers.Qwen3VLMoeForConditionalGeneration, transformers.Qwen3VLMoeConfig,
                   transformers.Qwen3VLMoeVisionConfig(num_position_embeddings=16,
                                                       deepstack_visual_indexes=[0],
                                                       **qwen_vision),
                   text_config=qwen_vl_text("tiny-qwen3-vl-moe.json", [4, 2, 2], True,
                                            ("norm_topk_prob",)),
                   tie_word_embeddings=False)
    # Qwen3-VL-MoE as released: the experts [in, out] (gate_up_proj [E, D, 2I], down_proj
    # [E, I, D]), which transformers transposes on loading; the same model.
    import torch
    from safetensors.torch import load_file as load_torch, save_file as save_torch
    src, dst = (os.path.join(OUT, n) for n in ("hf-tiny-qwen3-vl-moe", "hf-tiny-qwen3-vl-moe-released"))
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    path = os.path.join(dst, "model.safetensors")
    tensors = load_torch(path)
    save_torch({k: (v.transpose(1, 2).contiguous() if ".mlp.experts." in k else v)
                for k, v in tensors.items()}, path, metadata={"format": "pt"})
    for f in os.listdir(dst):
        os.chmod(os.path.join(dst, f), 0o644)
    a = transformers.Qwen3VLMoeForConditionalGeneration.from_pretrained(src, dtype=torch.float32)
    b = transformers.Qwen3VLMoeForConditionalGeneration.from_pretrained(dst, dtype=torch.float32)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the same parameters, loaded
    # Only the language model's tensors are kept of this copy (modelc reads no others).
    save_torch({k: v for k, v in load_torch(path).items() if "language_model" in k or k == "lm_head.weight"},
               path, metadata={"format": "pt"})
    # Qwen3.5 (Qwen3_5ForConditionalGeneration): its hybrid decoder under
    # model.language_model., with the manifest's own multimodal RoPE sections.
    qwen35_text = {k: v for k, v in
                   json.load(open(os.path.join(MODELS, "tiny-qwen3_5.json")))["config"].items()
                   if k != "model_type"}
    multimodal_dir("hf-tiny-qwen3_5-mm", "tiny-qwen3_5.json",
                   transformers.Qwen3_5ForConditionalGeneration, transformers.Qwen3_5Config,
                   transformers.Qwen3_5VisionConfig(num_position_embeddings=16, **qwen_vision),
                   text_config=qwen35_text, tie_word_embeddings=False)
    # LFM2-VL (Lfm2VlForConditionalGeneration): LFM2's decoder under model.language_model.
    lfm2_text = dict(json.load(open(os.path.join(MODELS, "tiny-lfm2.json")))["config"])
    multimodal_dir("hf-tiny-lfm2-vl", "tiny-lfm2.json",
                   transformers.Lfm2VlForConditionalGeneration, transformers.Lfm2VlConfig,
                   transformers.Siglip2VisionConfig(hidden_size=32, intermediate_size=64,
                                                    num_hidden_layers=1, num_attention_heads=2,
                                                    num_patches=16),
                   text_config=lfm2_text, projector_hidden_size=32, tie_word_embeddings=True)
    multimodal_dir("hf-tiny-qwen2_5-vl", "tiny-qwen2.json",
                   transformers.Qwen2_5_VLForConditionalGeneration, transformers.Qwen2_5_VLConfig,
                   transformers.Qwen2_5_VLVisionConfig(fullatt_block_indexes=[0], **qwen_vision),
                   text_config=qwen_vl_text("tiny-qwen2.json", [2, 3, 3], False),
                   tie_word_embeddings=True)

    # Llama 4 as llama.cpp's converter writes it (llama4; Llama4Model): intermediate_size_mlp as
    # feed_forward_length, the experts' size as expert_feed_forward_length, gate_up_proj
    # transposed and split into ffn_gate_exps / ffn_up_exps, down_proj transposed, Q and K
    # as they are (undo_permute False), Llama 3 scaling as rope_freqs. What llama.cpp fixes
    # (chunks of 8192, the fourth layer without RoPE, the temperature) is Scout's setting in
    # tiny-llama4-scout, whose reference it answers to.
    model = manifest_model("tiny-llama4-scout.json")
    c = model.config
    names = dict(GGUF_LAYER_NAMES, **{
        "feed_forward.gate_proj.weight": "ffn_gate.weight",
        "feed_forward.up_proj.weight": "ffn_up.weight",
        "feed_forward.down_proj.weight": "ffn_down.weight",
        "feed_forward.router.weight": "ffn_gate_inp.weight",
        "feed_forward.shared_expert.gate_proj.weight": "ffn_gate_shexp.weight",
        "feed_forward.shared_expert.up_proj.weight": "ffn_up_shexp.weight",
        "feed_forward.shared_expert.down_proj.weight": "ffn_down_shexp.weight"})

    def experts(i, rest, v, tensors):
        if rest == "feed_forward.experts.gate_up_proj":  # [E, D, 2I] -> [E, 2I, D], halves
            t = v.transpose(0, 2, 1)
            ff = t.shape[1] // 2
            tensors[f"blk.{i}.ffn_gate_exps.weight"] = np.ascontiguousarray(t[:, :ff, :])
            tensors[f"blk.{i}.ffn_up_exps.weight"] = np.ascontiguousarray(t[:, ff:, :])
        elif rest == "feed_forward.experts.down_proj":  # [E, I, D] -> [E, D, I]
            tensors[f"blk.{i}.ffn_down_exps.weight"] = np.ascontiguousarray(v.transpose(0, 2, 1))
        else:
            return False
        return True
    tensors = model_gguf_tensors(model, names, experts)
    tensors["rope_freqs.weight"] = np.array(llama3_rope_freqs("tiny-llama4-scout.json"),
                                            dtype=np.float32)
    meta = manifest_meta(c)
    meta.update({"feed_forward_length": c.intermediate_size_mlp,
                 "expert_feed_forward_length": c.intermediate_size,
                 "expert_count": c.num_local_experts, "expert_used_count": c.num_experts_per_tok,
                 "interleave_moe_layer_step": c.interleave_moe_layer_step})
    gguf_file("tiny-llama4.gguf", "llama4", meta, tensors)
    # MobileLLM-R1's kind (attention.sliding_window 0): every layer rotated, no chunks, no
    # temperature.
    gguf_file("tiny-llama4-no-chunks.gguf", "llama4", dict(meta, **{"attention.sliding_window": 0}),
              tensors)


def lora_adapters():
    """LoRA adapters for hf-tiny-llama, written by PEFT itself (save_pretrained), with every
    A and B matrix random (PEFT starts B at zero, which would test nothing):
    hf-tiny-llama-lora: rank 4 on all seven linears of each layer, lora_alpha 8;
    hf-tiny-llama-lora-rs: rank 2 on q_proj, v_proj and down_proj, rsLoRA scaling, and an
    alpha_pattern giving down_proj its own alpha;
    hf-tiny-mixtral-lora (on hf-tiny-mixtral, whose LM head is its own): rank 4 on q_proj,
    o_proj and lm_head (the GEMM that sees only the sampled rows; PEFT also saves its base
    weight). (Not the router: transformers 5 names it mlp.gate, the checkpoint
    block_sparse_moe.gate, and plans know the checkpoint's names.)"""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    configs = {
        "hf-tiny-llama-lora": LoraConfig(
            r=4, lora_alpha=8, lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                            "down_proj"]),
        "hf-tiny-llama-lora-rs": LoraConfig(
            r=2, lora_alpha=6, lora_dropout=0.0, use_rslora=True,
            alpha_pattern={"down_proj": 3}, target_modules=["q_proj", "v_proj", "down_proj"]),
    }
    configs["hf-tiny-mixtral-lora"] = LoraConfig(
        r=4, lora_alpha=4, lora_dropout=0.0, target_modules=["q_proj", "o_proj", "lm_head"])
    for seed, (name, config) in enumerate(configs.items()):
        base = os.path.join(OUT, "hf-tiny-mixtral" if "mixtral" in name else "hf-tiny-llama")
        model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        model = get_peft_model(model, config)
        gen = torch.Generator().manual_seed(100 + seed)
        with torch.no_grad():
            for pname, param in model.named_parameters():
                if "lora_" in pname:
                    param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
        out = os.path.join(OUT, name)
        model.save_pretrained(out)
        # PEFT records where the base came from; this tree's path is what matters here.
        cfg_path = os.path.join(out, "adapter_config.json")
        cfg = json.load(open(cfg_path))
        cfg["base_model_name_or_path"] = os.path.basename(base)
        json.dump(cfg, open(cfg_path, "w"), indent=2, sort_keys=True)
        readme = os.path.join(out, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
        print("wrote", out)


def tiny_tokenizer(single=None, pair=None, extra=()):
    """A tokenizer.json small enough for the tiny models' vocabulary of 64 (37 tokens):
    SentencePiece-style BPE (Metaspace) over lower-case letters, '.' and ',', a few merges,
    and a post-processor that appends </s>, as Qwen3-Embedding's appends <|endoftext|>.
    `single` and `pair`: other post-processor templates (lists of "$A", "$B" and special
    tokens; single None and pair None: no post-processor at all, as Qwen's byte-level
    tokenizers); `extra`: more tokens (special when written <...>), after the 37."""
    import string
    vocab = {"<s>": 0, "</s>": 1}
    for c in ["\u2581"] + list(string.ascii_lowercase) + [".", ","]:
        vocab[c] = len(vocab)
    merges = []
    for a, b in [("t", "h"), ("th", "e"), ("i", "s"), ("a", "n"), ("\u2581", "the"),
                 ("\u2581", "is")]:
        merges.append(a + " " + b)
        vocab[a + b] = len(vocab)

    for t in extra:
        vocab[t] = len(vocab)

    def special(i, content):
        return {"id": i, "content": content, "special": True, "single_word": False,
                "lstrip": False, "rstrip": False, "normalized": False}
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                 "split": False}

    def template(items, type_id=0):
        out = []
        for item in items:
            if item in ("$A", "$B"):
                out.append({"Sequence": {"id": item[1], "type_id": type_id}})
                type_id = 1 if item == "$B" else type_id
            else:
                out.append({"SpecialToken": {"id": item, "type_id": type_id}})
        return out
    if single is None and pair is None and not extra:
        post = {"type": "TemplateProcessing", "single": template(["$A", "</s>"]), "pair": [],
                "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}}
    elif single is None:
        post = None
    else:
        used = [t for t in single + pair if t not in ("$A", "$B")]
        post = {"type": "TemplateProcessing", "single": template(single),
                "pair": template(pair),
                "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in used}}
    added = [special(0, "<s>"), special(1, "</s>")] + \
        [special(vocab[t], t) for t in extra if t.startswith("<")]
    return {"version": "1.0", "added_tokens": added,
            "normalizer": None, "pre_tokenizer": metaspace,
            "post_processor": post,
            "decoder": metaspace,
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                      "merges": merges}}


def st_modules(path, mode, normalize, dims=None):
    """sentence-transformers' modules of a saved embedder: modules.json (Transformer, Pooling,
    Normalize if `normalize`) and 1_Pooling/config.json pooling by `mode` (its name without
    "pooling_mode_") over `dims` features (D unless given)."""
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(path, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)
    os.makedirs(os.path.join(path, "1_Pooling"))
    modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
             "weightedmean_tokens", "lasttoken"]
    config = {"word_embedding_dimension": dims or D, "include_prompt": True}
    config.update({"pooling_mode_" + m: m == mode for m in modes})
    with open(os.path.join(path, "1_Pooling", "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def embedding_models():
    """Embedding checkpoints as sentence-transformers saves decoder models (Qwen3-Embedding):
    the bare decoder's tensors (no "model." prefix, no LM head), modules.json naming a
    Transformer, a Pooling module (1_Pooling/config.json) and maybe Normalize.
    hf-tiny-qwen3-embedding: hf-tiny-qwen3's weights, config as Qwen3-Embedding's
    (Qwen3ForCausalLM), last-token pooling, normalized, and tiny_tokenizer();
    hf-tiny-llama-embedding: hf-tiny-llama's weights, architecture LlamaModel, mean pooling,
    not normalized; tiny-qwen3-embedding.gguf: hf-tiny-qwen3-embedding as llama.cpp's
    converter writes an embedding model (qwen3.pooling_type 3: last, no output.weight)."""
    for name, base, arch, mode, normalize in [
            ("hf-tiny-qwen3-embedding", "hf-tiny-qwen3", "Qwen3ForCausalLM", "lasttoken", True),
            ("hf-tiny-llama-embedding", "hf-tiny-llama", "LlamaModel", "mean_tokens", False)]:
        tensors = load_file(os.path.join(OUT, base, "model.safetensors"))
        bare = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        with open(os.path.join(OUT, base, "config.json")) as f:
            config = json.load(f)
        config["architectures"] = [arch]
        hf_dir(name, bare, config)
        path = os.path.join(OUT, name)
        st_modules(path, mode, normalize)
        if name == "hf-tiny-qwen3-embedding":  # texts for the server's test
            with open(os.path.join(path, "tokenizer.json"), "w") as f:
                json.dump(tiny_tokenizer(), f, ensure_ascii=False, indent=1)
            # The file as it stands (without a class, transformers 5 would rebuild Qwen2's
            # byte-level pipeline around its vocabulary).
            with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
                # A chat template within the vocabulary (chat-form embeddings).
                json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "</s>",
                           "pad_token": "</s>", "model_max_length": 128,
                           "chat_template": "{% for m in messages %}{{ m['content'] }}."
                                            "{% endfor %}"}, f, indent=1)
        print("wrote", path)
    q = load_file(os.path.join(OUT, "hf-tiny-qwen3", "model.safetensors"))
    gguf_file("tiny-qwen3-embedding.gguf", "qwen3", qwen3_gguf_meta(3),
              {k: v for k, v in to_gguf_names(q).items() if k != "output.weight"})
    print("wrote tiny-qwen3-embedding.gguf")


def qwen3_gguf_meta(pooling_type):
    """hf-tiny-qwen3's metadata as llama.cpp's converter writes it, with a pooling_type."""
    qhd = 16
    return {"block_count": L, "embedding_length": D, "feed_forward_length": F,
            "context_length": 128, "attention.head_count": H, "attention.head_count_kv": KV,
            "attention.key_length": qhd, "attention.value_length": qhd,
            "rope.freq_base": 1000000.0, "attention.layer_norm_rms_epsilon": 1e-6,
            "vocab_size": V, "rope.dimension_count": qhd, "pooling_type": pooling_type}


def classifier_models():
    """Sequence classifiers (modelc --task classify), as transformers saves them:
    hf-tiny-qwen3-classifier: Qwen3ForSequenceClassification (hf-tiny-qwen3's decoder and a
    random score.weight of 3 labels, id2label named; softmax), its tokenizer's pair template
    "$A </s> $B </s>"; hf-tiny-llama-cross-encoder: LlamaForSequenceClassification of one
    label with sentence-transformers' Sigmoid (a cross-encoder), pair template
    "<s> $A <s> $B" and a <pad> token apart from them (pad_token_id), so that transformers
    pools the true last token; hf-tiny-qwen3-reranker: hf-tiny-qwen3 (a Qwen3ForCausalLM with
    tied embeddings) whose tokenizer has "yes" and "no" tokens and no post-processor, as
    Qwen3-Reranker is served with --classifier-from-token no,yes."""
    crng = np.random.default_rng(7)
    qwen = load_file(os.path.join(OUT, "hf-tiny-qwen3", "model.safetensors"))
    llama = load_file(os.path.join(OUT, "hf-tiny-llama", "model.safetensors"))
    for name, base, tensors, arch, labels, extra_config, single, pair, extra in [
            ("hf-tiny-qwen3-classifier", "hf-tiny-qwen3", qwen,
             "Qwen3ForSequenceClassification", ["negative", "neutral", "positive"], {},
             ["$A", "</s>"], ["$A", "</s>", "$B", "</s>"], ()),
            ("hf-tiny-llama-cross-encoder", "hf-tiny-llama", llama,
             "LlamaForSequenceClassification", ["LABEL_0"],
             {"sentence_transformers": {
                 "activation_fn": "torch.nn.modules.activation.Sigmoid"}},
             ["<s>", "$A"], ["<s>", "$A", "<s>", "$B"], ("<pad>",))]:
        body = {k: v for k, v in tensors.items() if k.startswith("model.")}
        body["score.weight"] = (crng.standard_normal((len(labels), D)) * 0.5).astype(np.float32)
        with open(os.path.join(OUT, base, "config.json")) as f:
            config = json.load(f)
        config["architectures"] = [arch]
        config["id2label"] = {str(i): label for i, label in enumerate(labels)}
        config["label2id"] = {label: i for i, label in enumerate(labels)}
        config.update(extra_config)
        tokenizer = tiny_tokenizer(single, pair, extra)
        if extra:
            config["pad_token_id"] = tokenizer["model"]["vocab"][extra[0]]
        hf_dir(name, body, config)
        path = os.path.join(OUT, name)
        with open(os.path.join(path, "tokenizer.json"), "w") as f:
            json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 128,
                       "bos_token": "<s>", "eos_token": "</s>",
                       "pad_token": extra[0] if extra else "</s>"}, f, indent=1)
        print("wrote", path)
    # tiny-qwen3-reranker.gguf: hf-tiny-qwen3-reranker as llama.cpp's converter writes a
    # Qwen3-Reranker: pooling_type 4 (rank), cls.output.weight the "yes" and "no" rows of the
    # (tied) head in that order, their labels, and a rerank template.
    embed = qwen["model.embed_tokens.weight"]
    tensors = {k: v for k, v in to_gguf_names(qwen).items() if k != "output.weight"}
    tensors["cls.output.weight"] = np.stack([embed[38], embed[37]])
    meta = qwen3_gguf_meta(4)
    meta["classifier.output_labels"] = ["yes", "no"]
    meta["tokenizer.chat_template.rerank"] = "query: {query}\ndocument: {document}"
    gguf_file("tiny-qwen3-reranker.gguf", "qwen3", meta, tensors)
    print("wrote tiny-qwen3-reranker.gguf")
    name = "hf-tiny-qwen3-reranker"
    with open(os.path.join(OUT, "hf-tiny-qwen3", "config.json")) as f:
        config = json.load(f)
    hf_dir(name, qwen, config)
    path = os.path.join(OUT, name)
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        json.dump(tiny_tokenizer(extra=("no", "yes")), f, ensure_ascii=False, indent=1)
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 128,
                   "eos_token": "</s>", "pad_token": "</s>"}, f, indent=1)
    print("wrote", path)


def save_model(model, name):
    """Saves a transformers model as safetensors in a fresh OUT/name; returns the path."""
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path, safe_serialization=True)
    return path


def perturb(model, weights, biases):
    """Moves a transformers model's random weights off their initial values, in place: each
    LayerNorm's weight near 1 and bias near 0 (not exactly), each linear's bias by `biases`
    times N(0, 1), and its weight to `weights` times N(0, 1) where given (so that a
    classifier's logits are not all near 0)."""
    import torch
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.2 * torch.randn_like(module.weight))
                module.bias.copy_(0.1 * torch.randn_like(module.bias))
            if isinstance(module, torch.nn.Linear):
                if weights is not None:
                    module.weight.copy_(weights * torch.randn_like(module.weight))
                if module.bias is not None:
                    module.bias.copy_(biases * torch.randn_like(module.bias))


def encoder_models():
    """Encoders (modelc embeds with bidirectional attention) as sentence-transformers saves
    them, their random weights from transformers itself (LayerNorms perturbed off 1 and 0):
    hf-tiny-bert-embedding: BertModel (2 layers, 4 heads of 8, exact GELU), the WordPiece
    tokenizer of unittests/tokenize/data/wordpiece-uncased, mean pooling and Normalize;
    hf-tiny-roberta-embedding: RobertaForMaskedLM (its tensors under "roberta.", positions
    from pad_token_id + 1, tanh GELU, one token type), tiny_tokenizer() with RoBERTa's
    "<s> $A </s>" template and a <pad> token (id 37: RoBERTa numbers a text's positions
    from pad_token_id + 1, and gives pad tokens, which must not be </s>, position
    pad_token_id), [CLS] pooling, not normalized."""
    import torch
    import transformers
    torch.manual_seed(11)
    wordpiece = os.path.join(os.path.dirname(__file__), "..", "unittests", "tokenize", "data",
                             "wordpiece-uncased", "tokenizer.json")
    for name, kind, mode, normalize in [
            ("hf-tiny-bert-embedding", "bert", "mean_tokens", True),
            ("hf-tiny-roberta-embedding", "roberta", "cls_token", False)]:
        sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
        if kind == "bert":
            config = transformers.BertConfig(vocab_size=600, max_position_embeddings=64,
                                             type_vocab_size=2, hidden_act="gelu",
                                             pad_token_id=0, **sizes)
            model = transformers.BertModel(config, add_pooling_layer=False)
        else:
            # <pad> is tiny_tokenizer()'s 38th token: positions from 38 on.
            config = transformers.RobertaConfig(vocab_size=V, max_position_embeddings=78,
                                                type_vocab_size=1, hidden_act="gelu_new",
                                                pad_token_id=37, bos_token_id=0, eos_token_id=1,
                                                **sizes)
            model = transformers.RobertaForMaskedLM(config)
        perturb(model, None, 0.05)
        path = save_model(model, name)
        if kind == "bert":
            shutil.copy(wordpiece, os.path.join(path, "tokenizer.json"))
            tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 64,
                          "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                          "unk_token": "[UNK]", "mask_token": "[MASK]"}
        else:
            with open(os.path.join(path, "tokenizer.json"), "w") as f:
                json.dump(tiny_tokenizer(single=["<s>", "$A", "</s>"],
                                         pair=["<s>", "$A", "</s>", "</s>", "$B", "</s>"],
                                         extra=("<pad>",)),
                          f, ensure_ascii=False, indent=1)
            tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 40,
                          "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump(tok_config, f, indent=1)
        st_modules(path, mode, normalize, 32)
        with open(os.path.join(path, "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": 64 if kind == "bert" else 40, "do_lower_case": False}, f)
        print("wrote", path)
    bert_gguf()
    encoder_classifiers()


def encoder_classifiers():
    """Encoders' sequence classifiers, as transformers saves them (random weights, biases
    perturbed): hf-tiny-bert-classifier, a BertForSequenceClassification of 3 named labels
    (its pooler, then the classifier) with hf-tiny-bert-embedding's sizes and tokenizer;
    hf-tiny-roberta-cross-encoder, a RobertaForSequenceClassification of one label (its
    classification head: dense, tanh, out_proj) with sentence-transformers' Sigmoid, and
    hf-tiny-roberta-embedding's sizes and tokenizer (pairs: <s> A </s> </s> B </s>);
    hf-tiny-bert-cross-encoder, a BertForSequenceClassification of one label with
    sentence-transformers' Sigmoid (ms-marco-MiniLM's layout: the document is token type 1)."""
    import torch
    import transformers
    torch.manual_seed(13)
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    for name, base in [("hf-tiny-bert-classifier", "hf-tiny-bert-embedding"),
                       ("hf-tiny-roberta-cross-encoder", "hf-tiny-roberta-embedding"),
                       ("hf-tiny-bert-cross-encoder", "hf-tiny-bert-embedding")]:
        if name == "hf-tiny-bert-cross-encoder":
            config = transformers.BertConfig(
                vocab_size=600, max_position_embeddings=64, type_vocab_size=2,
                hidden_act="gelu", pad_token_id=0, num_labels=1, **sizes)
            config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
            model = transformers.BertForSequenceClassification(config)
        elif name.startswith("hf-tiny-bert"):
            labels = ["negative", "neutral", "positive"]
            config = transformers.BertConfig(
                vocab_size=600, max_position_embeddings=64, type_vocab_size=2,
                hidden_act="gelu", pad_token_id=0, num_labels=3,
                id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                **sizes)
            model = transformers.BertForSequenceClassification(config)
        else:
            config = transformers.RobertaConfig(
                vocab_size=V, max_position_embeddings=78, type_vocab_size=1,
                hidden_act="gelu_new", pad_token_id=37, bos_token_id=0, eos_token_id=1,
                num_labels=1, **sizes)
            config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
            model = transformers.RobertaForSequenceClassification(config)
        perturb(model, 0.3, 0.1)
        path = save_model(model, name)
        for f in ["tokenizer.json", "tokenizer_config.json"]:
            shutil.copy(os.path.join(OUT, base, f), path)
        if name == "hf-tiny-bert-cross-encoder":  # token_type_ids from the tokenizer, as BERT's
            with open(os.path.join(path, "tokenizer_config.json")) as f:
                tok_config = json.load(f)
            tok_config["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"]
            with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
                json.dump(tok_config, f, indent=1)
        print("wrote", path)


def xlmr_models():
    """XLM-RoBERTa checkpoints with a Unigram tokenizer (unittests/tokenize/data/unigram-xlmr:
    SentencePiece's nmt_nfkc charsmap, 382 pieces; <s> <pad> </s> <unk> first, as XLM-R
    numbers them), random weights from transformers (LayerNorms perturbed):
    hf-tiny-xlmr-embedding, an XLMRobertaModel (exact GELU; positions from pad_token_id 1 + 1, 64 of them)
    saved by sentence-transformers' layout with [CLS] pooling and Normalize (bge-m3's);
    hf-tiny-xlmr-reranker, an XLMRobertaForSequenceClassification of one label with
    sentence-transformers' Sigmoid (bge-reranker-v2-m3's layout: <s> A </s> </s> B </s>)."""
    import torch
    import transformers
    torch.manual_seed(17)
    unigram = os.path.join(os.path.dirname(__file__), "..", "unittests", "tokenize", "data",
                           "unigram-xlmr")
    sizes = dict(vocab_size=382, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                 max_position_embeddings=66, type_vocab_size=1, hidden_act="gelu",
                 pad_token_id=1, bos_token_id=0, eos_token_id=2)
    for name in ["hf-tiny-xlmr-embedding", "hf-tiny-xlmr-reranker"]:
        if name == "hf-tiny-xlmr-embedding":
            model = transformers.XLMRobertaModel(transformers.XLMRobertaConfig(**sizes),
                                                 add_pooling_layer=False)
            perturb(model, None, 0.05)
        else:
            config = transformers.XLMRobertaConfig(num_labels=1, **sizes)
            config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
            model = transformers.XLMRobertaForSequenceClassification(config)
            perturb(model, 0.3, 0.1)
        path = save_model(model, name)
        shutil.copy(os.path.join(unigram, "tokenizer.json"), path)
        with open(os.path.join(unigram, "tokenizer_config.json")) as f:
            tok_config = json.load(f)
        tok_config["model_max_length"] = 64
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump(tok_config, f, indent=1)
        if name == "hf-tiny-xlmr-embedding":
            st_modules(path, "cls_token", True, 32)
            with open(os.path.join(path, "sentence_bert_config.json"), "w") as f:
                json.dump({"max_seq_length": 64, "do_lower_case": False}, f)
        print("wrote", path)


def bert_gguf(src=None, dst=None):
    """tiny-bert-embedding.gguf: hf-tiny-bert-embedding as llama.cpp's converter writes a
    BertModel: its tensors under llama.cpp's names (gguf's own map), "bert" metadata
    (attention.causal false, pooling_type 1: mean), and the WordPiece vocabulary in its
    "phantom space" spelling (a word-initial piece with a U+2581 before it, a "##" piece
    without the "##", special tokens as they are), with the special token ids gguf's
    SpecialVocab finds ([CLS] as BOS, [SEP] as EOS and separator; no cls key: the writer
    has none). `src` and `dst`: another BertModel directory (sentence-transformers' pooling
    config read for the pooling type) and GGUF path (bench/cpu/bert_model.py --gguf); its
    vocabulary is padded with [unused<i>] pieces to the embedding table's rows."""
    src = src or os.path.join(OUT, "hf-tiny-bert-embedding")
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config["num_hidden_layers"])
    out = {}
    for key, value in tensors.items():
        mapped = names.get_name(key, try_suffixes=(".weight", ".bias"))
        assert mapped, key
        out[mapped] = value
    with open(os.path.join(src, "tokenizer.json")) as f:
        tok = json.load(f)
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    special = {a["content"] for a in tok["added_tokens"] if a["special"]}
    tokens = [t if t in special else t[2:] if t.startswith("##") else "\u2581" + t
              for t, _ in vocab]
    types = [3 if t in special else 1 for t, _ in vocab]
    for i in range(len(tokens), config["vocab_size"]):
        tokens.append("\u2581[unused%d]" % i)
        types.append(1)
    with open(os.path.join(src, "1_Pooling", "config.json")) as f:
        mean = json.load(f).get("pooling_mode_mean_tokens", False)
    meta = {"block_count": config["num_hidden_layers"],
            "context_length": config["max_position_embeddings"],
            "embedding_length": config["hidden_size"],
            "feed_forward_length": config["intermediate_size"],
            "attention.head_count": config["num_attention_heads"],
            "attention.layer_norm_epsilon": config["layer_norm_eps"], "attention.causal": False,
            "pooling_type": 1 if mean else 2,
            "tokenizer.ggml.model": "bert", "tokenizer.ggml.pre": "default",
            "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
            "tokenizer.ggml.token_type_count": 2}
    found = gguf.SpecialVocab(src, n_vocab=len(tokens)).special_token_ids
    keys = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
            "sep": "seperator_token_id", "pad": "padding_token_id", "mask": "mask_token_id"}
    meta.update({"tokenizer.ggml." + keys[k]: v for k, v in found.items() if k in keys})
    gguf_file(dst or "tiny-bert-embedding.gguf", "bert", meta, out)
    print("wrote", dst or "tiny-bert-embedding.gguf")


def xlmr_gguf(name="tiny-xlmr-embedding", src_name="hf-tiny-xlmr-embedding"):
    """tiny-xlmr-embedding.gguf: hf-tiny-xlmr-embedding as llama.cpp's converter writes an
    XLMRobertaModel: architecture "bert", the position table without its first
    pad_token_id + 1 rows (llama.cpp numbers positions from 0), and the Unigram vocabulary
    as a "t5" (UGM) tokenizer: pieces, scores and token types (CONTROL for the special
    tokens, UNKNOWN for <unk>), the SentencePiece charsmap, add_space_prefix, and
    remove_extra_whitespaces true (bge-m3's tokenizer_config.json has
    clean_up_tokenization_spaces true, which the converter writes there). With
    tiny-xlmr-reranker / hf-tiny-xlmr-reranker: its XLMRobertaForSequenceClassification
    (the "roberta." prefix dropped, the head as "cls" and "cls.output", pooling_type 4:
    rank), as bge-reranker-v2-m3's GGUFs are."""
    src = os.path.join(OUT, src_name)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    tensors = {k[len("roberta."):] if k.startswith("roberta.") else k: v
               for k, v in tensors.items()}
    ranker = any(k.startswith("classifier.") for k in tensors)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config["num_hidden_layers"])
    offset = config["pad_token_id"] + 1
    w = gguf.GGUFWriter(os.path.join(OUT, name + ".gguf"), "bert")
    w.add_block_count(config["num_hidden_layers"])
    w.add_context_length(config["max_position_embeddings"] - offset)
    w.add_embedding_length(config["hidden_size"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_layer_norm_eps(config["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.RANK if ranker else gguf.PoolingType.CLS)
    with open(os.path.join(src, "tokenizer.json")) as f:
        tok = json.load(f)
    special = {a["id"] for a in tok["added_tokens"] if a["special"]}
    unk = tok["model"]["unk_id"]
    tokens = [piece for piece, _ in tok["model"]["vocab"]]
    scores = [score for _, score in tok["model"]["vocab"]]
    types = [gguf.TokenType.UNKNOWN if i == unk else gguf.TokenType.CONTROL if i in special
             else gguf.TokenType.NORMAL for i in range(len(tokens))]
    import base64
    charsmap = base64.b64decode(tok["normalizer"]["normalizers"][0]["precompiled_charsmap"])
    w.add_tokenizer_model("t5")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_add_space_prefix(True)
    w.add_token_type_count(config["type_vocab_size"])
    w.add_remove_extra_whitespaces(True)
    w.add_precompiled_charsmap(charsmap)
    gguf.SpecialVocab(src, n_vocab=len(tokens)).add_to_gguf(w)
    for key, value in tensors.items():
        mapped = names.get_name(key, try_suffixes=(".weight", ".bias"))
        assert mapped, key
        if key == "embeddings.position_embeddings.weight":
            value = value[offset:]
        w.add_tensor(mapped, np.ascontiguousarray(value))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", name + ".gguf")


if __name__ == "__main__":
    if "--manifest-ggufs" in sys.argv:
        manifest_ggufs()
    elif "--lora" in sys.argv:
        lora_adapters()
    elif "--embedding" in sys.argv:
        embedding_models()
    elif "--classifier" in sys.argv:
        classifier_models()
    elif "--encoder" in sys.argv:
        encoder_models()
    elif "--xlmr" in sys.argv:
        xlmr_models()
        xlmr_gguf()
        xlmr_gguf("tiny-xlmr-reranker", "hf-tiny-xlmr-reranker")
    else:
        main()
        manifest_ggufs()
        lora_adapters()
        embedding_models()
        classifier_models()
        encoder_models()
        xlmr_models()
        xlmr_gguf()
        xlmr_gguf("tiny-xlmr-reranker", "hf-tiny-xlmr-reranker")
