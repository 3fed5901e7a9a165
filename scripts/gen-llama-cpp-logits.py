#!/usr/bin/env python3
"""Reference logits from llama.cpp itself (llama-cpp-python, CPU) for GGUF files whose
matrices llama.cpp multiplies with 8-bit activations: what modelrt's integer-dot GEMMs
(`--cpu-activations int8`) are checked against. CI compares with the committed outputs and
never needs llama.cpp.

    pip install llama-cpp-python numpy && scripts/gen-llama-cpp-logits.py

For each file (test/modelc/Inputs, scripts/gen-kquant-test-model.py): fixed prompts fed one
token per step -> every position's logits, and 8 greedy tokens after the first prompt.
Output: test/goldens/llama-cpp-<name>.json (+ .logits.f32, little-endian float32), the
layout of scripts/gen-reference-logits.py's goldens. llama.cpp keeps K and V in f16 (its
default), which the test asks of modelrt too; its attention's rounding differs from
modelrt's (and between its own modes: with flash attention its logits move by up to 2.3% on
these tiny random models), so only a sequence's first position, where attention reads one
value, shows the GEMMs alone.
"""
import json
import os
import tempfile

import gguf
import llama_cpp
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INPUTS = os.path.join(ROOT, "test", "modelc", "Inputs")
OUT = os.path.join(ROOT, "test", "goldens")
FILES = {"tiny-llama-q4_0": "tiny-llama-q4_0.gguf", "tiny-llama-q8_0": "tiny-llama-q8_0.gguf",
         "tiny-llama-q4km": "tiny-llama-q4km.gguf",
         # a mixture of experts in Q8_0 blocks (not gpt-oss's MXFP4 experts: llama.cpp's logits
         # of tiny-gpt-oss-mxfp4.gguf differ from transformers' by 1.6-1.8% at a sequence's first
         # position, where modelrt's f32 path matches transformers, so they cannot show the GEMMs)
         "tiny-qwen3-moe-q8": "tiny-qwen3-moe-q8.gguf"}
PROMPTS = [[1, 17, 42, 5, 63, 200, 9, 33, 2, 11, 250, 128, 7], [3, 255, 70], [99]]


def with_no_vocabulary(src, dst):
    """A copy of `src` that llama.cpp loads: the test files carry no tokenizer, which
    llama.cpp wants named ("none": token ids only)."""
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, field.contents())
        else:
            writer.add_key_value(key, field.contents(), kind)
    writer.add_string("tokenizer.ggml.model", "none")
    for t in reader.tensors:
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)  # quantized: rows of bytes
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    for name, file in FILES.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, file)
            with_no_vocabulary(os.path.join(INPUTS, file), path)
            # llama.cpp's attention without flash attention, K and V in f16 (its defaults)
            llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_batch=64, n_threads=2,
                                  logits_all=True, flash_attn=False, verbose=False)
        vocab = llm.n_vocab()
        prompts = [[t % vocab for t in p] for p in PROMPTS]  # the MoE files hold 64 tokens
        rows = []
        for prompt in prompts:
            llm.reset()
            for token in prompt:
                llm.eval([token])
                rows.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
        llm.reset()
        llm.eval(prompts[0])
        greedy = []
        for _ in range(8):
            greedy.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
            llm.eval([greedy[-1]])
        meta = {"model": "llama-cpp-" + name, "file": file,
                "llama_cpp_python": llama_cpp.__version__, "vocab": vocab,
                "prompts": [{"prompt": p, "rows": len(p)} for p in prompts],
                "greedy_after_first_prompt": greedy}
        np.stack(rows).astype("<f4").tofile(os.path.join(OUT, "llama-cpp-" + name + ".logits.f32"))
        with open(os.path.join(OUT, "llama-cpp-" + name + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print("wrote", meta["model"], len(rows), "rows of", vocab, "greedy", greedy)


if __name__ == "__main__":
    main()
