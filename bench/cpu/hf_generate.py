#!/usr/bin/env python3
"""The peer for `modelrt generate` / `modelrt bench` on the CPU: Hugging Face transformers
(PyTorch, float32), one request, greedy, with the KV cache; prints the prompt time and the
time per generated token.

    python3 bench/cpu/hf_generate.py GGUF N
        the SmolLM2 GGUF (dequantized by transformers), prompt "The capital of France is"
    python3 bench/cpu/hf_generate.py --manifest MODEL.json PROMPT_LEN N [--lora DIR]
        a model built from a manifest's config with random weights (the peer of a plan
        compiled from it with dummy weights: the same shapes), a prompt of random ids;
        with --lora, PEFT's LoRA adapter in DIR applied (not merged) as it serves adapters
"""
import json
import os
import sys
import time

import torch
import transformers

torch.set_num_threads(os.cpu_count())
if sys.argv[1] == "--manifest":
    manifest, prompt_len, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    config = dict(json.load(open(manifest))["config"])
    model_type = config.pop("model_type")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        transformers.AutoConfig.for_model(model_type, **config), dtype=torch.float32).eval()
    ids = torch.randint(0, config["vocab_size"], (1, prompt_len))
    if "--lora" in sys.argv:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, sys.argv[sys.argv.index("--lora") + 1]).eval()
else:
    path, n = sys.argv[1], int(sys.argv[2])
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32).eval()
    ids = torch.tensor([[504, 3575, 282, 4649, 314]])  # "The capital of France is"
with torch.no_grad():
    model(ids[:, :8])  # warm-up
    t0 = time.perf_counter()
    out = model(ids, use_cache=True)
    t1 = time.perf_counter()
    past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    for _ in range(n - 1):
        out = model(token, past_key_values=past, use_cache=True)
        past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    t2 = time.perf_counter()
experts = getattr(model.config, "_experts_implementation", None)
print("transformers %s torch %s threads %d%s: prompt %d tokens in %.1f ms; %d tokens, %.1f ms "
      "per token" % (transformers.__version__, torch.__version__, torch.get_num_threads(),
                     " (experts: %s)" % experts if experts else "", ids.shape[1],
                     (t1 - t0) * 1e3, n, (t2 - t1) * 1e3 / (n - 1)))
