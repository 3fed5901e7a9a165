"""What the benchmark GGUF writers share (bench/cpu/*_gguf.py): a donor file's tokenizer
copied into the new file, and seeded random matrices (Q8_0 blocks) and norm vectors."""
import gguf
import numpy as np


def copy_tokenizer(reader, writer):
    """Every tokenizer.* key of `reader` (a GGUFReader) into `writer` (a GGUFWriter)."""
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value, kind = field.contents(), field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, value)
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_string(key, value)
        elif kind == gguf.GGUFValueType.BOOL:
            writer.add_bool(key, value)
        else:
            writer.add_uint32(key, value)


class RandomTensors:
    """Adds seeded random tensors to a GGUFWriter: matrices N(0, 1/cols) as Q8_0 blocks,
    vectors 1 + N(0, 0.01) in f32."""

    def __init__(self, writer, rng):
        self.writer, self.rng = writer, rng

    def matrix(self, name, rows, cols):
        data = (self.rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
        self.writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                               raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    def vector(self, name, n):
        self.writer.add_tensor(name, (1.0 + 0.1 * self.rng.standard_normal(n)).astype(np.float32))

    def llama_layer(self, i, d, heads, kv_heads, head_dim, ffn):
        """Layer i of a Llama-layout decoder as llama.cpp's converter names it: the two norms,
        Q, K, V, O and the gated MLP."""
        p = f"blk.{i}."
        self.vector(p + "attn_norm.weight", d)
        self.vector(p + "ffn_norm.weight", d)
        self.matrix(p + "attn_q.weight", heads * head_dim, d)
        self.matrix(p + "attn_k.weight", kv_heads * head_dim, d)
        self.matrix(p + "attn_v.weight", kv_heads * head_dim, d)
        self.matrix(p + "attn_output.weight", d, heads * head_dim)
        self.matrix(p + "ffn_gate.weight", ffn, d)
        self.matrix(p + "ffn_up.weight", ffn, d)
        self.matrix(p + "ffn_down.weight", d, ffn)
