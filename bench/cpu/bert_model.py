#!/usr/bin/env python3
"""Writes a sentence-transformers directory of a BERT embedder with random f32 weights (the
same work as the real weights) in the shapes of all-MiniLM-L6-v2 (6 layers, 384 wide, 12
heads, 1536 in the MLP; mean pooling, Normalize) or, with --base, BAAI/bge-base-en-v1.5
(12 layers, 768 wide, 12 heads, 3072; [CLS] pooling, Normalize): BertModel's tensors as
transformers saves them, and the small WordPiece tokenizer of unittests/tokenize (the
benchmarks send token ids); and OUT_DIR.gguf, the same model as llama.cpp's converter writes
it (scripts/gen-compiler-test-models.py's bert_gguf). With --xlmr-large: BAAI/bge-m3's
shapes instead (XLMRobertaModel: 24 layers, 1024 wide, 16 heads, 4096, a 250002-row table;
[CLS] pooling, Normalize) with the small Unigram tokenizer of unittests/tokenize, no GGUF.

    python3 bench/cpu/bert_model.py OUT_DIR [--base | --xlmr-large]
"""
import importlib.util
import json
import os
import shutil
import sys

import torch
import transformers

out = sys.argv[1]
base = "--base" in sys.argv[2:]
xlmr = "--xlmr-large" in sys.argv[2:]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
torch.manual_seed(0)
shutil.rmtree(out, ignore_errors=True)
if xlmr:
    config = transformers.XLMRobertaConfig(
        vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
        intermediate_size=4096, max_position_embeddings=8194, type_vocab_size=1, pad_token_id=1,
        hidden_act="gelu")
    transformers.XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(out)
    tokenizer = os.path.join(root, "unittests", "tokenize", "data", "unigram-xlmr")
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tokenizer, f), out)
else:
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=768 if base else 384, num_hidden_layers=12 if base else 6,
        num_attention_heads=12, intermediate_size=3072 if base else 1536,
        max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu")
    transformers.BertModel(config, add_pooling_layer=False).save_pretrained(out)
    shutil.copy(os.path.join(root, "unittests", "tokenize", "data", "wordpiece-uncased",
                             "tokenizer.json"), out)
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "[PAD]",
               "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]"},
              open(os.path.join(out, "tokenizer_config.json"), "w"))
spec = importlib.util.spec_from_file_location(
    "gen_models", os.path.join(root, "scripts", "gen-compiler-test-models.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
gen.st_modules(out, "cls_token" if base or xlmr else "mean_tokens", True, config.hidden_size)
if not xlmr:
    gen.bert_gguf(out, os.path.abspath(out) + ".gguf")
print("wrote", out)
