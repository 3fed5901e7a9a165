#!/usr/bin/env python3
"""A GGUF file in Llama-3.2-1B's layer shapes for CPU decode benchmarks of llama.cpp's file
types (requantize it with bench/cpu/requantize.py to Q4_K_M, Q4_0, ...) against llama.cpp on
the same file: seeded random weights (matrices Q8_0, norms f32) laid out as llama.cpp's
converter writes a Llama, with SmolLM2's tokenizer (so a vocabulary of 49152 in place of
128256: the head is smaller, the 16 layers are Llama-3.2-1B's; rows of 2048 and 8192 are
multiples of 256, so llama.cpp's K-quants apply to every matrix, as in published 1B-8B files).

    python3 bench/cpu/llama_gguf.py SMOLLM2_GGUF OUT_GGUF
"""
import sys

import gguf
import numpy as np

from gguf_bench import RandomTensors, copy_tokenizer

src, out = sys.argv[1], sys.argv[2]
# Llama-3.2-1B (config.json): hidden 2048, 16 layers, 32 heads and 8 KV heads of 64,
# intermediate 8192, rope theta 500000, tied embeddings.
D, L, H, KV, HD, F = 2048, 16, 32, 8, 64, 8192
rng = np.random.default_rng(0)
reader = gguf.GGUFReader(src)
V = len(reader.fields["tokenizer.ggml.tokens"].contents())

w = gguf.GGUFWriter(out, "llama")
w.add_uint32("llama.block_count", L)
w.add_uint32("llama.embedding_length", D)
w.add_uint32("llama.feed_forward_length", F)
w.add_uint32("llama.context_length", 8192)
w.add_uint32("llama.attention.head_count", H)
w.add_uint32("llama.attention.head_count_kv", KV)
w.add_uint32("llama.rope.dimension_count", HD)
w.add_float32("llama.rope.freq_base", 500000.0)
w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
w.add_uint32("llama.vocab_size", V)
copy_tokenizer(reader, w)
tensors = RandomTensors(w, rng)
matrix, vector = tensors.matrix, tensors.vector

matrix("token_embd.weight", V, D)
vector("output_norm.weight", D)
for i in range(L):
    tensors.llama_layer(i, D, H, KV, HD, F)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out, V, "tokens")
