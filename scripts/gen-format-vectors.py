#!/usr/bin/env python3
"""Writes the small GGUF and safetensors files the formats unit tests read back.

Files are written by the formats' own reference packages (`gguf`, `safetensors`), and the
expected dequantized values come from `gguf.quants.dequantize`, so the C++ readers are
checked against code nobody here wrote. Output: unittests/formats/data/ (a few tens of KB).

    pip install gguf safetensors numpy && python3 scripts/gen-format-vectors.py
"""
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors import _safetensors_rust as st_rust
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unittests", "formats", "data")
rng = np.random.default_rng(1234)


def st_save(path, tensors, metadata=None):
    """tensors: name -> (dtype name as the package spells it, shape, numpy array of the bytes)."""
    specs, alive = {}, []
    for name, (dtype, shape, arr) in tensors.items():
        arr = np.ascontiguousarray(arr)
        alive.append(arr)  # serialize reads raw pointers
        specs[name] = st_rust.TensorSpec(dtype=dtype, shape=list(shape), data_ptr=arr.ctypes.data,
                                         data_len=arr.nbytes)
    st_rust.serialize_file(specs, path, metadata)


def random_kquant_blocks(qtype, n_blocks, gen=None):
    """Random K-quant blocks whose f16 scales are finite (gguf cannot quantize K types)."""
    gen = gen or rng
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = gen.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    scales = gen.uniform(-0.05, 0.05, size=(n_blocks, 2)).astype(np.float16).view(np.uint8)
    if qtype == Q.Q6_K:
        blocks[:, 208:210] = scales[:, 0:2]  # d is last
    elif qtype == Q.Q3_K:
        blocks[:, 108:110] = scales[:, 0:2]  # d is last
    elif qtype == Q.Q2_K:
        blocks[:, 80:84] = scales  # d, dmin last
    else:
        blocks[:, 0:4] = scales  # d, dmin first
    return blocks


def bf16_bits(x):
    """Round-to-nearest-even f32 -> bf16, as torch does."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r


def write_gguf():
    path = os.path.join(OUT, "all-types.gguf")
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 1.5)
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", 2.25)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo wörld ✓")
    w.add_array("test.array_i32", [1, -2, 3])
    w.add_array("test.array_str", ["a", "bc", ""])
    w.add_array("test.array_f32", [0.5, -1.25])
    w.add_array("test.array_nested", [[1, 2], [3]])
    w.add_context_length(128)
    w.add_embedding_length(64)

    goldens = {}
    shape = (2, 512)  # rows, row length: a multiple of every block size
    base = rng.standard_normal(shape).astype(np.float32)
    w.add_tensor("t.f32", base)
    goldens["t.f32"] = base
    f16 = base.astype(np.float16)
    w.add_tensor("t.f16", f16)
    goldens["t.f16"] = f16.astype(np.float32)
    for qtype in (Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
        data = gguf.quants.quantize(base, qtype)
        w.add_tensor("t." + qtype.name.lower(), data, raw_dtype=qtype)
        goldens["t." + qtype.name.lower()] = gguf.quants.dequantize(data, qtype)
    for qtype in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        n_blocks = shape[0] * shape[1] // 256
        blocks = random_kquant_blocks(qtype, n_blocks).reshape(shape[0], -1)
        w.add_tensor("t." + qtype.name.lower(), blocks, raw_dtype=qtype)
        goldens["t." + qtype.name.lower()] = gguf.quants.dequantize(blocks, qtype)
    # Q2_K, Q3_K, IQ4_NL and IQ4_XS from a generator of their own, so the other files'
    # values stay as they were.
    krng = np.random.default_rng(4321)
    for qtype in (Q.Q2_K, Q.Q3_K, Q.IQ4_NL, Q.IQ4_XS):
        n_blocks = shape[0] * shape[1] // gguf.GGML_QUANT_SIZES[qtype][0]
        blocks = random_kquant_blocks(qtype, n_blocks, krng).reshape(shape[0], -1)
        w.add_tensor("t." + qtype.name.lower(), blocks, raw_dtype=qtype)
        goldens["t." + qtype.name.lower()] = gguf.quants.dequantize(blocks, qtype)
    # MXFP4 (gpt-oss's experts): random nibbles under exponents from the subnormal scales
    # (e = 0, 1) to 2^21, a generator of its own.
    mrng = np.random.default_rng(8765)
    n_blocks = shape[0] * shape[1] // 32
    e = mrng.integers(0, 150, size=(n_blocks, 1), dtype=np.uint8)
    e[:2, 0] = [0, 1]
    blocks = np.concatenate([e, mrng.integers(0, 256, size=(n_blocks, 16), dtype=np.uint8)], axis=1)
    w.add_tensor("t.mxfp4", blocks.reshape(shape[0], -1), raw_dtype=Q.MXFP4)
    goldens["t.mxfp4"] = gguf.quants.dequantize(blocks.reshape(shape[0], -1), Q.MXFP4)
    # A 3-d tensor to check dimension order (GGUF stores innermost first).
    cube = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    w.add_tensor("t.cube", cube)
    goldens["t.cube"] = cube

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Read back with the reference reader too, so a writer bug cannot hide.
    r = gguf.GGUFReader(path)
    assert r.fields["test.string"].contents() == "héllo wörld ✓"

    # Goldens: f32 values, plus f16 and bf16 conversions, in a file the safetensors package writes.
    tensors = {}
    for name, g in goldens.items():
        g = np.ascontiguousarray(g.reshape(g.shape), dtype=np.float32)
        tensors[name + ".f32"] = ("float32", g.shape, g)
        h = g.astype(np.float16)
        tensors[name + ".f16"] = ("float16", g.shape, h)
        tensors[name + ".bf16"] = ("bfloat16", g.shape, bf16_bits(g))
    st_save(os.path.join(OUT, "all-types.golden.safetensors"), tensors)


def write_safetensors():
    a = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal((7,)).astype(np.float16)
    c = bf16_bits(rng.standard_normal((2, 2)).astype(np.float32))
    d = rng.integers(-128, 128, size=(4, 3), dtype=np.int8)
    e = rng.integers(0, 256, size=(6,), dtype=np.uint8)
    st_save(os.path.join(OUT, "single.safetensors"), {
        "a.f32": ("float32", a.shape, a),
        "b.f16": ("float16", b.shape, b),
        "c.bf16": ("bfloat16", (2, 2), c),
        "d.i8": ("int8", d.shape, d),
        "e.u8": ("uint8", e.shape, e),
        "scalar": ("float32", (), np.array(3.5, dtype=np.float32)),
    }, {"format": "pt", "note": "modelc test"})
    expected = {"a.f32": a, "b.f16": b.astype(np.float32), "d.i8": d.astype(np.float32),
                "e.u8": e.astype(np.float32)}
    save_file({k + ".expect": np.ascontiguousarray(v) for k, v in expected.items()},
              os.path.join(OUT, "single.expect.safetensors"))

    # Sharded checkpoint in the Hugging Face layout.
    shard_dir = os.path.join(OUT, "sharded")
    os.makedirs(shard_dir, exist_ok=True)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = np.arange(5, dtype=np.float16)
    z = np.full((2,), 7, dtype=np.float32)
    save_file({"layer.0.x": x}, os.path.join(shard_dir, "model-00001-of-00002.safetensors"))
    save_file({"layer.1.y": y, "layer.1.z": z},
              os.path.join(shard_dir, "model-00002-of-00002.safetensors"))
    index = {"metadata": {"total_size": x.nbytes + y.nbytes + z.nbytes},
             "weight_map": {"layer.0.x": "model-00001-of-00002.safetensors",
                            "layer.1.y": "model-00002-of-00002.safetensors",
                            "layer.1.z": "model-00002-of-00002.safetensors"}}
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def byte_level_alphabet():
    """GPT-2's byte -> printable character map (bytes_to_unicode)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def write_tiny_vocab():
    """A vocabulary-only GGUF (byte-level BPE, SmolLM2 pre-tokenizer) and the ids the HF
    tokenizers library gives with the same vocabulary, so the GGUF tokenizer path is checked
    in CI without the real model file. Also a seed for the GGUF fuzzer."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    alphabet = byte_level_alphabet()
    words = ["hello", "Ġworld", "Ġthe", "ing", "Ġtoken", "izer", "Ġ1", "..."]
    tokens = list(alphabet)
    merges = []
    for w in words:  # every prefix of each word becomes a token through left-to-right merges
        for k in range(2, len(w) + 1):
            left, right = w[:k - 1], w[k - 1]
            if w[:k] not in tokens:
                tokens.append(w[:k])
                merges.append((left, right))
    tokens.append("<|endoftext|>")
    types = [1] * (len(tokens) - 1) + [3]

    path = os.path.join(OUT, "tiny-vocab.gguf")
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(len(tokens) - 1)
    w.add_eos_token_id(len(tokens) - 1)
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    texts = ["hello world", "hello the tokenizer", "tokenizing 12345 ... 🦙", "  hello\n\nworld  ",
             "héllo wörld", "<|endoftext|>hello"]
    vectors = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
    with open(os.path.join(OUT, "tiny-vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vectors, f, ensure_ascii=False, indent=0)


def main():
    os.makedirs(OUT, exist_ok=True)
    write_gguf()
    write_safetensors()
    write_tiny_vocab()
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
