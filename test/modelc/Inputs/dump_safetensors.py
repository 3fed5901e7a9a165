#!/usr/bin/env python3
"""Prints values of tensors in a .safetensors file (F32 only), with the Python standard
library alone, as the reference for what modelc puts in a plan.

    dump_safetensors.py FILE ROWS_FROM_EACH TENSOR [TENSOR...] [--transpose] [--count N]

Prints the tensors stacked along dimension 0 (each transposed first with --transpose),
row-major, the first N values (all by default), one per line, as %.9g.
"""
import json
import struct
import sys

args = sys.argv[1:]
transpose = "--transpose" in args
args = [a for a in args if a != "--transpose"]
count = None
if "--count" in args:
    i = args.index("--count")
    count = int(args[i + 1])
    del args[i:i + 2]
path, names = args[0], args[1:]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    values = []
    for name in names:
        t = header[name]
        assert t["dtype"] == "F32", t["dtype"]
        begin, end = t["data_offsets"]
        f.seek(base + begin)
        data = struct.unpack("<%df" % ((end - begin) // 4), f.read(end - begin))
        shape = t["shape"]
        if transpose and len(shape) == 2:
            rows, cols = shape
            data = [data[r * cols + c] for c in range(cols) for r in range(rows)]
        values.extend(data)
for v in values[:count]:
    print("%.9g" % v)
