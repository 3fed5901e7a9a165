#!/usr/bin/env python3
"""Copies a Hugging Face model directory with its F32 safetensors tensors converted to BF16
or F16 (round to nearest even), with the Python standard library alone: the checkpoints
people download are 16-bit.

    to_half.py SRC_DIR DST_DIR bf16|f16
"""
import json
import os
import shutil
import struct
import sys

src, dst, kind = sys.argv[1:4]
os.makedirs(dst, exist_ok=True)
for name in os.listdir(src):
    if not name.endswith(".safetensors"):
        shutil.copy(os.path.join(src, name), os.path.join(dst, name))
        continue
    data = open(os.path.join(src, name), "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out_header, chunks, offset = {}, [], 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            out_header[tensor] = info
            continue
        assert info["dtype"] == "F32", tensor
        begin, end = info["data_offsets"]
        values = struct.unpack("<%df" % ((end - begin) // 4), body[begin:end])
        if kind == "bf16":
            words = []
            for v in values:
                bits = struct.unpack("<I", struct.pack("<f", v))[0]
                bits += 0x7FFF + ((bits >> 16) & 1)  # round to nearest even (finite values)
                words.append((bits >> 16) & 0xFFFF)
            chunk = struct.pack("<%dH" % len(words), *words)
        else:
            chunk = struct.pack("<%de" % len(values), *values)
        out_header[tensor] = {"dtype": "BF16" if kind == "bf16" else "F16", "shape": info["shape"],
                              "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    text = json.dumps(out_header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(dst, name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
