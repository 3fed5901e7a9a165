#!/usr/bin/env python3
"""The llama.cpp peer for long-context decode with a given KV cache type: llama-cpp-python
(PyPI; it builds llama.cpp from source) runs a GGUF with a prompt of L seeded random token
ids (in batches of 512), then N greedy tokens one at a time, all cores; prints the time per
generated token. KV types: f16 (llama.cpp's default), q8_0 (-ctk/-ctv q8_0: needs flash
attention, which llama.cpp then also uses for f16), f32.

    python3 bench/cpu/llama_cpp_long_context.py GGUF L N f16|q8_0|f32
"""
import os
import random
import sys
import time

import llama_cpp

path, length, n, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
types = {"f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0,
         "f32": llama_cpp.GGML_TYPE_F32}
threads = os.cpu_count()
llm = llama_cpp.Llama(model_path=path, n_ctx=length + n + 16, n_threads=threads,
                      n_threads_batch=threads, n_batch=512, verbose=False, logits_all=False,
                      type_k=types[kind], type_v=types[kind], flash_attn=kind != "f32")
rng = random.Random(0)
ids = [rng.randrange(1000, 40000) for _ in range(length)]
t0 = time.perf_counter()
llm.eval(ids)
t1 = time.perf_counter()
token = ids[-1]
for _ in range(n):
    llm.eval([token])
    token = (token * 7 + 1) % 40000  # the next id: the work per token does not depend on it
t2 = time.perf_counter()
print("llama.cpp (llama-cpp-python %s) KV %s threads %d: prompt %d tokens in %.0f ms; "
      "%d tokens at context %d-%d, %.2f ms per token"
      % (llama_cpp.__version__, kind, threads, length, (t1 - t0) * 1e3, n, length,
         length + n, (t2 - t1) * 1e3 / n))
