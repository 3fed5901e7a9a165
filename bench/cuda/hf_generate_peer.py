#!/usr/bin/env python3
"""The peer of `modelrt bench --device cuda` on a model.json's shapes with dummy weights
(modelc --dummy-weights): Hugging Face transformers on PyTorch (bf16, SDPA attention, random
weights of the same shapes) generating for the same prompts, all at once (one `generate`
call: static batching) and alone, on the same GPU. Greedy, every request exactly
--output-len tokens. Prints one JSON line: output tokens/s of the batch, and the batch-1
time per output token (the whole call over the tokens, so its prefill is included, where
modelrt's TPOT leaves out the first token: about 1% at 256 in, 64 out).

    bench/cuda/hf_generate_peer.py models/llama-3-8b.json --num-prompts 32 \\
        --input-len 256 --output-len 64
"""
import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--num-prompts", type=int, default=32)
    ap.add_argument("--input-len", type=int, default=256)
    ap.add_argument("--output-len", type=int, default=64)
    args = ap.parse_args()
    spec = json.load(open(args.manifest))
    config_dict = dict(spec["config"])
    config = transformers.AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(
            config, dtype=torch.bfloat16, attn_implementation="sdpa").eval()
    gen = torch.Generator(device="cuda").manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (args.num_prompts, args.input_len), device="cuda",
                        generator=gen)

    def run(batch):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(batch, attention_mask=torch.ones_like(batch),
                                 max_new_tokens=args.output_len, min_new_tokens=args.output_len,
                                 do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        assert out.shape[1] == batch.shape[1] + args.output_len
        return time.perf_counter() - start

    run(ids[:, :8])  # warm-up at the batch's size (kernels, allocator)
    batch_s = run(ids)
    single_s = run(ids[:1])
    print(json.dumps({
        "peer": "transformers %s, torch %s, %s" % (transformers.__version__, torch.__version__,
                                                  torch.cuda.get_device_name()),
        "num_prompts": args.num_prompts, "input_len": args.input_len,
        "output_len": args.output_len,
        "batch_output_tok_per_s": args.num_prompts * args.output_len / batch_s,
        "batch1_ms_per_output_token": 1000 * single_s / args.output_len,
    }))


if __name__ == "__main__":
    main()
