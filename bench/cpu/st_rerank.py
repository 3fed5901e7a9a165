#!/usr/bin/env python3
"""The sentence-transformers peer for reranking on the CPU: a CrossEncoder over a
Qwen3ForSequenceClassification of one label in Qwen3-Reranker-0.6B's shapes (random f32
weights: the same work as the real ones; Qwen3-Reranker's own head is two rows of its LM
head, the same 1024-wide dot products), N seeded random pairs already tokenized into LEN
ids, in batches of 32 (equal lengths: no padding), torch's threads = cores, its sigmoid
activation; three passes after a warm-up.

    python3 bench/cpu/st_rerank.py N LEN
"""
import os
import random
import sys
import tempfile
import time

import sentence_transformers
import torch
import transformers

n, length = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(os.cpu_count())
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
config = transformers.Qwen3Config(
    vocab_size=49152, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
    rope_theta=1000000.0, max_position_embeddings=32768, tie_word_embeddings=True,
    num_labels=1, pad_token_id=0)
with tempfile.TemporaryDirectory() as tmp:
    transformers.Qwen3ForSequenceClassification(config).save_pretrained(tmp)
    tok = os.path.join(root, "unittests", "tokenize", "data", "smollm2")
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        with open(os.path.join(tok, name)) as f, open(os.path.join(tmp, name), "w") as g:
            g.write(f.read())
    model = sentence_transformers.CrossEncoder(tmp, device="cpu")
model.model.eval()
rng = random.Random(0)
ids = torch.tensor([[rng.randrange(1000, 40000) for _ in range(length)] for _ in range(n)])


def run():
    scores = []
    with torch.inference_mode():
        for b in range(0, n, 32):
            batch = ids[b:b + 32]
            logits = model.model(input_ids=batch, attention_mask=torch.ones_like(batch)).logits
            scores.append(model.activation_fn(logits))
    return torch.cat(scores)


assert run().shape == (n, 1)
times = []
for _ in range(3):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
best = min(times)
print("sentence-transformers CrossEncoder %s (transformers %s, torch %s, %d threads, f32, %s "
      "attention): %d pairs of %d tokens in %s s; best %.2f requests/s, %.0f tokens/s"
      % (sentence_transformers.__version__, transformers.__version__, torch.__version__,
         torch.get_num_threads(), model.model.config._attn_implementation, n, length,
         " / ".join("%.2f" % t for t in times), n / best, n * length / best))
