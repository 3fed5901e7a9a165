#!/usr/bin/env python3
"""Writes test/modelc/Inputs/tiny-llama-q4km.gguf, -q5km.gguf and -q3km.gguf: a 2-layer
Llama (hidden 256, 4 heads of 64, 2 KV heads, MLP 512, vocabulary 256, untied output) in
llama.cpp's most common file types, Q4_K_M (Q4_K and Q6_K blocks), Q5_K_M (Q5_K and
Q6_K) and Q3_K_M (Q3_K with Q4_K, Q5_K and Q6_K), quantized by llama.cpp itself (llama-cpp-python's llama_model_quantize) from an f32
file written by the gguf package. K-quant blocks hold 256 values, hence the widths.
Also -q4_0.gguf and -q8_0.gguf, every matrix Q4_0 or Q8_0 (llama.cpp's --pure), whose
logits llama.cpp computes with activations quantized as GGUF's Q8_0, as modelrt's
--cpu-activations int8 does (scripts/gen-llama-cpp-logits.py).

    pip install numpy gguf llama-cpp-python && scripts/gen-kquant-test-model.py
"""
import ctypes
import os
import sys
import tempfile

import gguf
import llama_cpp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
gen = __import__("gen-compiler-test-models")

INPUTS = os.path.join(os.path.dirname(__file__), "..", "test", "modelc", "Inputs")
FILE_TYPES = {"tiny-llama-q4km.gguf": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
              "tiny-llama-q5km.gguf": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
              "tiny-llama-q3km.gguf": llama_cpp.LLAMA_FTYPE_MOSTLY_Q3_K_M,
              "tiny-llama-q4_0.gguf": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
              "tiny-llama-q8_0.gguf": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}
PURE = {"tiny-llama-q4_0.gguf", "tiny-llama-q8_0.gguf"}  # every matrix of the one type
V, D, H, KV, HD, F, L = 256, 256, 4, 2, 64, 512, 2


def main():
    rng = np.random.default_rng(7)
    t = {"token_embd.weight": (V, D), "output_norm.weight": (D,), "output.weight": (V, D)}
    for i in range(L):
        p = f"blk.{i}."
        t.update({p + "attn_norm.weight": (D,), p + "attn_q.weight": (H * HD, D),
                  p + "attn_k.weight": (KV * HD, D), p + "attn_v.weight": (KV * HD, D),
                  p + "attn_output.weight": (D, H * HD), p + "ffn_norm.weight": (D,),
                  p + "ffn_gate.weight": (F, D), p + "ffn_up.weight": (F, D),
                  p + "ffn_down.weight": (D, F)})
    # Norms near 1, matrices scaled like trained ones (so the logits stay finite and varied).
    tensors = {k: (1 + 0.1 * rng.standard_normal(s) if len(s) == 1
                   else rng.standard_normal(s) / np.sqrt(s[1])).astype(np.float32)
               for k, s in t.items()}
    meta = {"block_count": L, "embedding_length": D, "feed_forward_length": F,
            "context_length": 256, "attention.head_count": H, "attention.head_count_kv": KV,
            "rope.freq_base": 10000.0, "attention.layer_norm_rms_epsilon": 1e-5,
            "vocab_size": V, "rope.dimension_count": HD}
    with tempfile.TemporaryDirectory() as tmp:
        f32 = os.path.join(tmp, "f32.gguf")
        gen.OUT = tmp
        gen.gguf_file("f32.gguf", "llama", meta, tensors)
        for name, ftype in FILE_TYPES.items():
            out = os.path.join(INPUTS, name)
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = ftype
            params.pure = name in PURE
            params.nthread = 2
            rc = llama_cpp.llama_model_quantize(f32.encode(), out.encode(), ctypes.byref(params))
            if rc != 0:
                sys.exit(f"llama_model_quantize failed: {rc}")
            reader = gguf.GGUFReader(out)
            kinds = sorted({t.tensor_type.name for t in reader.tensors})
            print(f"wrote {out}: {len(reader.tensors)} tensors, types {', '.join(kinds)}")


if __name__ == "__main__":
    main()
