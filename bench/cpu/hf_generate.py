#!/usr/bin/env python3
"""The peer for `modelrt generate` on the CPU: Hugging Face transformers (PyTorch, float32)
generating from the same SmolLM2 GGUF (dequantized by transformers), same prompt, greedy,
same number of tokens; prints prompt time and time per generated token.

    python3 bench/cpu/hf_generate.py GGUF N
"""
import os
import sys
import time

import torch
import transformers

path, n = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(os.cpu_count())
model = transformers.AutoModelForCausalLM.from_pretrained(
    os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32).eval()
ids = torch.tensor([[504, 3575, 282, 4649, 314]])  # "The capital of France is"
with torch.no_grad():
    model(ids)  # warm-up
    t0 = time.perf_counter()
    out = model(ids, use_cache=True)
    t1 = time.perf_counter()
    past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    for _ in range(n - 1):
        out = model(token, past_key_values=past, use_cache=True)
        past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    t2 = time.perf_counter()
print("transformers %s torch %s threads %d: prompt 5 tokens in %.1f ms; %d tokens, %.1f ms per token"
      % (transformers.__version__, torch.__version__, torch.get_num_threads(), (t1 - t0) * 1e3, n,
         (t2 - t1) * 1e3 / (n - 1)))
