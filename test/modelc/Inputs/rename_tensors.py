#!/usr/bin/env python3
"""Rewrites a safetensors file with its tensor names changed, with the Python standard
library alone: each OLD=NEW argument replaces OLD by NEW wherever it ends a tensor's name
(the original BERT checkpoints' LayerNorm.gamma / LayerNorm.beta, for example).

    rename_tensors.py FILE OLD=NEW...
"""
import json
import struct
import sys

path, rules = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
data = open(path, "rb").read()
size = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + size])
renamed = {}
for name, entry in header.items():
    for old, new in rules:
        if name.endswith(old):
            name = name[:-len(old)] + new
    renamed[name] = entry
text = json.dumps(renamed).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + data[8 + size:])
