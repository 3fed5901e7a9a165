#!/usr/bin/env python3
"""The llama.cpp peer for embeddings: llama-cpp-python (PyPI; it builds llama.cpp from
source) embeds N seeded random prompts of LEN token ids with the GGUF's own pooling (last
token for Qwen3-Embedding), normalized, all cores, as many sequences per decode as fit a
batch of BATCH tokens (default 2048, as llama-server -b 2048 -ub 2048; a batch of LEN runs one
sequence per decode); prints the wall time and throughput of three passes after a warm-up.

    python3 bench/cpu/llama_cpp_embed.py GGUF N LEN [BATCH]
"""
import os
import random
import sys
import time

import llama_cpp

path, n, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 2048
threads = os.cpu_count()
llm = llama_cpp.Llama(model_path=path, embedding=True, n_ctx=batch, n_batch=batch, n_ubatch=batch,
                      n_seq_max=64, n_threads=threads, n_threads_batch=threads, verbose=False)
rng = random.Random(0)
top = min(40000, llm.n_vocab())  # within the vocabulary (BERT's is 30522)
prompts = {("p%d" % i).encode(): [rng.randrange(1000, top) for _ in range(length)]
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
print("llama.cpp (llama-cpp-python %s) threads %d, batch %d: %d prompts of %d tokens in %s s; "
      "best %.2f requests/s, %.0f tokens/s"
      % (llama_cpp.__version__, threads, batch, n, length, " / ".join("%.2f" % t for t in times),
         n / best, n * length / best))
