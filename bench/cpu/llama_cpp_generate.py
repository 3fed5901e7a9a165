#!/usr/bin/env python3
"""The llama.cpp peer for `modelrt generate` on the CPU: llama-cpp-python (PyPI; it builds
llama.cpp from source) running the same SmolLM2 GGUF with its own quantized kernels (Q4_1
matrices, Q8_0 embeddings), same prompt tokens, greedy, same number of tokens, all cores;
prints prompt time and time per generated token.

    python3 bench/cpu/llama_cpp_generate.py GGUF N
"""
import os
import sys
import time

import llama_cpp

path, n = sys.argv[1], int(sys.argv[2])
threads = os.cpu_count()
# logits_all: llama-cpp-python 0.3.36 fills `scores` (read below) only then; without it every
# choice was token 0 (the same work per token, but not llama.cpp's own tokens).
llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=threads, n_threads_batch=threads,
                      n_batch=512, verbose=False, logits_all=True)
ids = [504, 3575, 282, 4649, 314]  # "The capital of France is"


def run():
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    t1 = time.perf_counter()
    token = int(llm.scores[llm.n_tokens - 1].argmax())
    for _ in range(n - 1):
        llm.eval([token])
        token = int(llm.scores[llm.n_tokens - 1].argmax())
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


run()  # warm-up
prompt, decode = run()
print("llama.cpp (llama-cpp-python %s) threads %d: prompt 5 tokens in %.1f ms; %d tokens, %.1f ms per token"
      % (llama_cpp.__version__, threads, prompt * 1e3, n, decode * 1e3 / (n - 1)))
