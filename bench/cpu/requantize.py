#!/usr/bin/env python3
"""Requantizes a GGUF file with llama.cpp's own quantizer (llama-cpp-python), e.g. to
Q4_K_M, the file type most GGUF models are published in, so modelrt and llama.cpp can be
compared on it.
    bench/cpu/requantize.py SRC.gguf DST.gguf [Q4_K_M|Q5_K_M|Q3_K_M|Q2_K|IQ4_XS|Q6_K|Q8_0|Q4_0]
"""
import ctypes
import sys

import llama_cpp

TYPES = {"Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "Q5_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
         "Q3_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q3_K_M, "Q2_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q2_K,
         "IQ4_XS": llama_cpp.LLAMA_FTYPE_MOSTLY_IQ4_XS,
         "Q6_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K, "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
         "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] not in TYPES):
        sys.exit(__doc__)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = TYPES[sys.argv[3] if len(sys.argv) == 4 else "Q4_K_M"]
    params.allow_requantize = True  # the source may already be quantized
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(),
                                        ctypes.byref(params))
    if rc != 0:
        sys.exit(f"llama_model_quantize failed ({rc})")


if __name__ == "__main__":
    main()
