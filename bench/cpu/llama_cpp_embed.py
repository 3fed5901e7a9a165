#!/usr/bin/env python3
"""The llama.cpp peer for embeddings: llama-cpp-python (PyPI; it builds llama.cpp from
source) embeds N seeded random prompts of LEN token ids with the GGUF's own pooling (last
token for Qwen3-Embedding), normalized, all cores, as many sequences per decode as fit a
batch of 2048 tokens (llama.cpp's default n_batch for embeddings servers: -b 2048 -ub 2048);
prints the wall time and throughput of three passes after one warm-up pass.

    python3 bench/cpu/llama_cpp_embed.py GGUF N LEN
"""
import os
import random
import sys
import time

import llama_cpp

path, n, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
threads = os.cpu_count()
llm = llama_cpp.Llama(model_path=path, embedding=True, n_ctx=2048, n_batch=2048, n_ubatch=2048,
                      n_seq_max=64, n_threads=threads, n_threads_batch=threads, verbose=False)
rng = random.Random(0)
prompts = {("p%d" % i).encode(): [rng.randrange(1000, 40000) for _ in range(length)]
           for i in range(n)}
# The prompts are token ids: embed() tokenizes each input, so it gets them back by name.
llm.tokenize = lambda text, *args, **kwargs: prompts[text]
names = [p.decode() for p in prompts]
llm.embed(names, normalize=True)
times = []
for _ in range(3):
    t0 = time.perf_counter()
    vectors = llm.embed(names, normalize=True)
    times.append(time.perf_counter() - t0)
assert len(vectors) == n and len(vectors[0]) == llm.n_embd()
best = min(times)
print("llama.cpp (llama-cpp-python %s) threads %d: %d prompts of %d tokens in %s s; "
      "best %.2f requests/s, %.0f tokens/s"
      % (llama_cpp.__version__, threads, n, length, " / ".join("%.2f" % t for t in times),
         n / best, n * length / best))
