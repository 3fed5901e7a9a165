#!/usr/bin/env python3
"""A GGUF file in Qwen3-Embedding-0.6B's shapes for CPU embedding benchmarks against llama.cpp
on the same file: seeded random weights (matrices Q8_0, as Qwen's own Qwen3-Embedding-0.6B
Q8_0 GGUF; norms f32), laid out as llama.cpp's converter writes an embedding model (qwen3,
pooling_type 3: the last token; no output.weight), with SmolLM2's tokenizer (and so a
vocabulary of 49152 in place of 151669: an embedding model has no LM head, so the table's
size changes no work per token).

    python3 bench/cpu/qwen3_embedding_gguf.py SMOLLM2_GGUF OUT_GGUF [--rank]

--rank writes Qwen3-Reranker-0.6B's shapes as llama.cpp's converter writes a reranker
instead: pooling_type 4 (rank), the "yes" and "no" rows of the head as cls.output.weight.
"""
import sys

import gguf
import numpy as np

from gguf_bench import RandomTensors, copy_tokenizer

src, out = sys.argv[1], sys.argv[2]
rank = "--rank" in sys.argv[3:]
# Qwen3-Embedding-0.6B (config.json): hidden 1024, 28 layers, 16 heads and 8 KV heads of
# 128, an MLP of 3072, RMSNorm eps 1e-6, rope_theta 1e6, q/k norms.
D, L, H, KV, HD, F = 1024, 28, 16, 8, 128, 3072
rng = np.random.default_rng(0)
reader = gguf.GGUFReader(src)
V = len(reader.fields["tokenizer.ggml.tokens"].contents())

w = gguf.GGUFWriter(out, "qwen3")
for key, value in [("block_count", L), ("embedding_length", D), ("feed_forward_length", F),
                   ("context_length", 32768), ("attention.head_count", H),
                   ("attention.head_count_kv", KV), ("attention.key_length", HD),
                   ("attention.value_length", HD), ("vocab_size", V),
                   ("pooling_type", 4 if rank else 3)]:
    w.add_uint32("qwen3." + key, value)
if rank:
    w.add_array("qwen3.classifier.output_labels", ["yes", "no"])
w.add_float32("qwen3.rope.freq_base", 1000000.0)
w.add_float32("qwen3.attention.layer_norm_rms_epsilon", 1e-6)
copy_tokenizer(reader, w)
tensors = RandomTensors(w, rng)
matrix, vector = tensors.matrix, tensors.vector

matrix("token_embd.weight", V, D)
if rank:
    matrix("cls.output.weight", 2, D)
vector("output_norm.weight", D)
for i in range(L):
    tensors.llama_layer(i, D, H, KV, HD, F)
    vector(f"blk.{i}.attn_q_norm.weight", HD)
    vector(f"blk.{i}.attn_k_norm.weight", HD)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out, V, "tokens")
