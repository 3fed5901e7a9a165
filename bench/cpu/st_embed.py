#!/usr/bin/env python3
"""The sentence-transformers peer for embeddings on the CPU: Qwen3-Embedding-0.6B's
architecture (transformers' Qwen3Model with random f32 weights: the same work as the real
weights) behind a Pooling (last token) and Normalize module, as the model's own
modules.json builds it; N seeded random prompts of LEN token ids in batches of 32 (equal
lengths: no padding), torch's threads = cores; three passes after a warm-up.

    python3 bench/cpu/st_embed.py N LEN [--rank | --dir DIR]

--rank: the reranking peer instead, a CrossEncoder over a Qwen3ForSequenceClassification of
one label in the same shapes (Qwen3-Reranker-0.6B's; its own head is two rows of its LM
head, the same 1024-wide dot products), its sigmoid activation; N pairs already tokenized
into LEN ids. --dir: the sentence-transformers directory DIR instead (an encoder of
bench/cpu/bert_model.py).
"""
import json
import os
import random
import sys
import tempfile
import time

import sentence_transformers
import torch
import transformers

n, length = int(sys.argv[1]), int(sys.argv[2])
rank = "--rank" in sys.argv[3:]
given = sys.argv[sys.argv.index("--dir") + 1] if "--dir" in sys.argv else None
torch.set_num_threads(os.cpu_count())
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
config = transformers.Qwen3Config(
    vocab_size=49152, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
    rope_theta=1000000.0, max_position_embeddings=32768, tie_word_embeddings=True,
    num_labels=1, pad_token_id=0)


def build(tmp):
    """The Qwen3 peer written to tmp and loaded."""
    (transformers.Qwen3ForSequenceClassification if rank else transformers.Qwen3Model)(
        config).save_pretrained(tmp)
    tok = os.path.join(root, "unittests", "tokenize", "data", "smollm2", "tokenizer.json")
    with open(tok) as f, open(os.path.join(tmp, "tokenizer.json"), "w") as g:
        g.write(f.read())
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<|endoftext|>"},
              open(os.path.join(tmp, "tokenizer_config.json"), "w"))
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(tmp, "modules.json"), "w"))
    os.makedirs(os.path.join(tmp, "1_Pooling"))
    json.dump({"word_embedding_dimension": 1024, "pooling_mode_lasttoken": True},
              open(os.path.join(tmp, "1_Pooling", "config.json"), "w"))
    if rank:
        m = sentence_transformers.CrossEncoder(tmp, device="cpu")
        m.model.eval()
        return m
    return sentence_transformers.SentenceTransformer(tmp, device="cpu").eval()


if given:
    model = sentence_transformers.SentenceTransformer(given, device="cpu").eval()
else:
    with tempfile.TemporaryDirectory() as tmp:
        model = build(tmp)
rng = random.Random(0)
top = 30000 if given else 40000  # within the vocabulary (BERT's is 30522)
ids = torch.tensor([[rng.randrange(1000, top) for _ in range(length)] for _ in range(n)])


def run():
    with torch.inference_mode():
        for b in range(0, n, 32):
            batch = ids[b:b + 32]
            if rank:
                model.activation_fn(model.model(input_ids=batch,
                                                attention_mask=torch.ones_like(batch)).logits)
            else:
                model.forward({"input_ids": batch, "attention_mask": torch.ones_like(batch)})


run()
times = []
for _ in range(3):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
best = min(times)
auto = model.model if rank else model[0].auto_model
print("sentence-transformers %s%s (transformers %s, torch %s, %d threads, f32, %s attention): "
      "%d prompts of %d tokens in %s s; best %.2f requests/s, %.0f tokens/s"
      % (sentence_transformers.__version__, " CrossEncoder" if rank else "",
         transformers.__version__, torch.__version__,
         torch.get_num_threads(), auto.config._attn_implementation, n, length,
         " / ".join("%.2f" % t for t in times), n / best, n * length / best))
