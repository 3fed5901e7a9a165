#!/usr/bin/env python3
"""A GGUF file in LFM2-350M's layer shapes for CPU benchmarks of a hybrid model (short
convolutions with per-request state between attention layers) against llama.cpp on the same
file: seeded random weights (matrices Q8_0, norms and convolution kernels f32), laid out as
llama.cpp's converter writes LFM2 (the layout test/modelc/Inputs/tiny-lfm2.gguf checks against
transformers), with SmolLM2's tokenizer (and so its vocabulary of 49152 in place of LFM2's
65536: the weights are random, the work per token is LFM2-350M's less the larger head).

    python3 bench/cpu/lfm2_gguf.py SMOLLM2_GGUF OUT_GGUF
"""
import sys

import gguf
import numpy as np

from gguf_bench import RandomTensors, copy_tokenizer

src, out = sys.argv[1], sys.argv[2]
# LFM2-350M (config.json): hidden 1024, 16 layers, attention at layers 2, 5, 8, 10, 12, 14,
# 16 heads and 8 KV heads of 64, an MLP of 4608 (block_ff_dim 6656 adjusted), 3 taps.
D, L, H, KV, HD, F, K = 1024, 16, 16, 8, 64, 4608, 3
attention = {2, 5, 8, 10, 12, 14}
rng = np.random.default_rng(0)
reader = gguf.GGUFReader(src)
tokens = reader.fields["tokenizer.ggml.tokens"].contents()
V = len(tokens)

w = gguf.GGUFWriter(out, "lfm2")
w.add_uint32("lfm2.block_count", L)
w.add_uint32("lfm2.embedding_length", D)
w.add_uint32("lfm2.feed_forward_length", F)
w.add_uint32("lfm2.context_length", 4096)
w.add_uint32("lfm2.attention.head_count", H)
w.add_array("lfm2.attention.head_count_kv", [KV if i in attention else 0 for i in range(L)])
w.add_float32("lfm2.rope.freq_base", 1000000.0)
w.add_float32("lfm2.attention.layer_norm_rms_epsilon", 1e-5)
w.add_uint32("lfm2.vocab_size", V)
w.add_uint32("lfm2.shortconv.l_cache", K)
copy_tokenizer(reader, w)
tensors = RandomTensors(w, rng)
matrix, vector = tensors.matrix, tensors.vector

matrix("token_embd.weight", V, D)
vector("token_embd_norm.weight", D)
for i in range(L):
    vector(f"blk.{i}.attn_norm.weight", D)
    vector(f"blk.{i}.ffn_norm.weight", D)
    if i in attention:
        matrix(f"blk.{i}.attn_q.weight", H * HD, D)
        matrix(f"blk.{i}.attn_k.weight", KV * HD, D)
        matrix(f"blk.{i}.attn_v.weight", KV * HD, D)
        matrix(f"blk.{i}.attn_output.weight", D, H * HD)
        vector(f"blk.{i}.attn_q_norm.weight", HD)
        vector(f"blk.{i}.attn_k_norm.weight", HD)
    else:
        matrix(f"blk.{i}.shortconv.in_proj.weight", 3 * D, D)
        w.add_tensor(f"blk.{i}.shortconv.conv.weight",
                     (rng.standard_normal((D, K)) / np.sqrt(K)).astype(np.float32))
        matrix(f"blk.{i}.shortconv.out_proj.weight", D, D)
    matrix(f"blk.{i}.ffn_gate.weight", F, D)
    matrix(f"blk.{i}.ffn_up.weight", F, D)
    matrix(f"blk.{i}.ffn_down.weight", D, F)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out, V, "tokens")
