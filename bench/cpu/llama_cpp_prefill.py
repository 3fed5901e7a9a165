#!/usr/bin/env python3
"""The llama.cpp peer for a long prompt on the CPU: llama-cpp-python (PyPI) evaluating N
seeded random token ids (1000..40000, within the vocabulary) of the same SmolLM2 GGUF in one batch of N, all cores,
after a warm-up; prints the time of each of three runs. The modelrt side is
`modelrt bench PLAN --num-prompts 1 --input-len N --output-len 1` (its TTFT).

    python3 bench/cpu/llama_cpp_prefill.py GGUF N
"""
import os
import random
import sys
import time

import llama_cpp

path, n = sys.argv[1], int(sys.argv[2])
threads = os.cpu_count()
llm = llama_cpp.Llama(model_path=path, n_ctx=max(2048, n + 16), n_threads=threads,
                      n_threads_batch=threads, n_batch=n, n_ubatch=n, verbose=False)
random.seed(0)
ids = [random.randrange(1000, min(40000, llm.n_vocab())) for _ in range(n)]
llm.reset()
llm.eval(ids[:8])  # warm-up
for _ in range(3):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    t = time.perf_counter() - t0
    print("llama.cpp (llama-cpp-python %s) threads %d: prompt of %d tokens in %.0f ms (%.0f tokens/s)"
          % (llama_cpp.__version__, threads, n, t * 1e3, n / t))
