#!/usr/bin/env python3
"""Writes a GGUF file with gpt-oss-20b's shapes and random weights, in llama.cpp's gpt-oss
layout (what its converter writes for openai/gpt-oss-20b): hidden 2880, 64 query heads and 8
KV heads of 64, attention sinks, biases on every attention projection, 32 experts of 2880
features (4 per token) in MXFP4 blocks with biases, sliding-window layers alternating with
full ones, YaRN. Fewer layers and a smaller vocabulary than the real model, so that both
modelrt and llama.cpp hold it in this machine's memory; the attention and embedding matrices
in Q8_0. Weights are random bytes (the work per token does not depend on their values); a
byte-level tokenizer makes the file loadable by llama.cpp. The same file goes to both.

    python3 bench/cpu/gpt_oss_gguf.py OUT.gguf [LAYERS=4] [VOCAB=32768]
"""
import sys

import gguf
import numpy as np

out = sys.argv[1]
layers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
vocab = int(sys.argv[3]) if len(sys.argv) > 3 else 32768
D, H, KV, HD, E, I, TOPK = 2880, 64, 8, 64, 32, 2880, 4
rng = np.random.default_rng(0)
Q = gguf.GGMLQuantizationType


def q8_0(rows, cols, scale=0.02):
    """Random Q8_0 blocks: d = scale / 127 (f16), int8 values; [rows, cols / 32 * 34] bytes."""
    blocks = rows * cols // 32
    d = np.full((blocks, 1), scale / 127, dtype=np.float16).view(np.uint8)
    qs = rng.integers(-127, 128, size=(blocks, 32), dtype=np.int8).view(np.uint8)
    return np.concatenate([d, qs], axis=1).reshape(rows, cols // 32 * 34), Q.Q8_0


def mxfp4(experts, rows, cols):
    """Random MXFP4 blocks: E8M0 exponents 118-121 (scales 2^-10..2^-7), random nibbles."""
    blocks = experts * rows * cols // 32
    e = rng.integers(118, 122, size=(blocks, 1), dtype=np.uint8)
    qs = rng.integers(0, 256, size=(blocks, 16), dtype=np.uint8)
    return np.concatenate([e, qs], axis=1).reshape(experts, rows, cols // 32 * 17), Q.MXFP4


def f32(*shape, scale=0.02, offset=0.0):
    return (offset + scale * rng.standard_normal(shape)).astype(np.float32)


w = gguf.GGUFWriter(out, "gpt-oss")
w.add_uint32("gpt-oss.block_count", layers)
w.add_uint32("gpt-oss.context_length", 131072)
w.add_uint32("gpt-oss.embedding_length", D)
w.add_uint32("gpt-oss.feed_forward_length", I)
w.add_uint32("gpt-oss.attention.head_count", H)
w.add_uint32("gpt-oss.attention.head_count_kv", KV)
w.add_uint32("gpt-oss.attention.key_length", HD)
w.add_uint32("gpt-oss.attention.value_length", HD)
w.add_float32("gpt-oss.rope.freq_base", 150000.0)
w.add_float32("gpt-oss.attention.layer_norm_rms_epsilon", 1e-5)
w.add_uint32("gpt-oss.expert_count", E)
w.add_uint32("gpt-oss.expert_used_count", TOPK)
w.add_uint32("gpt-oss.expert_feed_forward_length", I)
w.add_uint32("gpt-oss.attention.sliding_window", 128)
w.add_string("gpt-oss.rope.scaling.type", "yarn")
w.add_float32("gpt-oss.rope.scaling.factor", 32.0)
w.add_uint32("gpt-oss.rope.scaling.original_context_length", 4096)
# Byte-level BPE: the 256 byte symbols, one merge (" t"), then fillers up to the vocabulary.
bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
tokens = [chr(c) for c in cs] + ["\u0120t"] + ["<|f%d|>" % i for i in range(vocab - 257)]
w.add_string("tokenizer.ggml.model", "gpt2")
w.add_string("tokenizer.ggml.pre", "default")
w.add_array("tokenizer.ggml.tokens", tokens)
w.add_array("tokenizer.ggml.token_type", [1] * vocab)
w.add_array("tokenizer.ggml.merges", ["\u0120 t"])
w.add_uint32("tokenizer.ggml.eos_token_id", vocab - 1)


def add(name, data):
    if isinstance(data, tuple):
        w.add_tensor(name, data[0], raw_dtype=data[1])
    else:
        w.add_tensor(name, data)


add("token_embd.weight", q8_0(vocab, D))
add("output_norm.weight", f32(D, scale=0.1, offset=1.0))
add("output.weight", q8_0(vocab, D))
for l in range(layers):
    b = "blk.%d." % l
    add(b + "attn_norm.weight", f32(D, scale=0.1, offset=1.0))
    add(b + "post_attention_norm.weight", f32(D, scale=0.1, offset=1.0))
    for n, rows in (("q", H * HD), ("k", KV * HD), ("v", KV * HD)):
        add(b + "attn_%s.weight" % n, q8_0(rows, D))
        add(b + "attn_%s.bias" % n, f32(rows))
    add(b + "attn_output.weight", q8_0(D, H * HD))
    add(b + "attn_output.bias", f32(D))
    add(b + "attn_sinks.weight", f32(H, scale=1.0))
    add(b + "ffn_gate_inp.weight", f32(E, D))
    add(b + "ffn_gate_inp.bias", f32(E))
    add(b + "ffn_gate_exps.weight", mxfp4(E, I, D))
    add(b + "ffn_up_exps.weight", mxfp4(E, I, D))
    add(b + "ffn_down_exps.weight", mxfp4(E, D, I))
    add(b + "ffn_gate_exps.bias", f32(E, I))
    add(b + "ffn_up_exps.bias", f32(E, I))
    add(b + "ffn_down_exps.bias", f32(E, D))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", out, "(%d layers, vocabulary %d)" % (layers, vocab))
