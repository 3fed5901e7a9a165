#!/usr/bin/env python3
"""Drives POST /v1/embeddings (standard library only) on an encoder's plan (BERT:
bidirectional attention, a WordPiece tokenizer) and checks what a client notices: texts embed
as sentence-transformers embeds them (test/goldens/hf-tiny-bert-embedding), in one request
and in concurrent ones, bit for bit alike; on a plan whose step holds 16 tokens, a longer
prompt gets a 400 naming the limit (an encoder's prompt runs whole, in one step) and the
server goes on answering.

An XLM-RoBERTa embedder's plan (a Unigram tokenizer: SentencePiece's charsmap, XLM-R's
template) embeds its texts as sentence-transformers does too (test/goldens/
hf-tiny-xlmr-embedding).

    check_encoder.py MODELRT PLAN SMALL_STEP_PLAN GOLDENS XLMR_PLAN
"""
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client  # noqa: E402

modelrt, plan, small_plan, goldens, xlmr_plan = sys.argv[1:6]
TOLERANCE = 1e-5  # measured: 1e-7 (EmbeddingTest.cpp)


def start(path):
    port = http_client.free_port()
    server = subprocess.Popen([modelrt, "serve", path, "--port", str(port)],
                              stderr=subprocess.PIPE, text=True)
    return server, "http://127.0.0.1:%d" % port


def embed(base, body):
    status, text = http_client.request(base, "/v1/embeddings", body)
    return status, json.loads(text)


def golden(name):
    """The golden's metadata, its vectors and its texts."""
    meta, vectors = http_client.embedding_golden(goldens, name)
    return meta, vectors, [p["text"] for p in meta["prompts"]]


meta, refs, texts = golden("hf-tiny-bert-embedding")


def close(ours, ref):
    scale = max(abs(x) for x in ref)
    return len(ours) == len(ref) and max(abs(a - b) for a, b in zip(ours, ref)) / scale < TOLERANCE


server, base = start(plan)
check = http_client.checker(server)
try:
    http_client.wait_healthy(base)
    status, answer = embed(base, {"input": texts})
    together = [item["embedding"] for item in answer.get("data", [])]
    check(status == 200 and len(together) == len(refs) and
          all(close(v, r) for v, r in zip(together, refs)),
          "texts embed as sentence-transformers embeds them (WordPiece, bidirectional)")
    check(answer["usage"]["prompt_tokens"] == sum(len(p["prompt"]) for p in meta["prompts"]),
          "usage counts the WordPiece tokens, [CLS] and [SEP] included")
    alone = [None] * len(texts)

    def one(i):
        alone[i] = embed(base, {"input": texts[i]})[1]["data"][0]["embedding"]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(alone == together, "concurrent requests answer as one request does, bit for bit")
finally:
    server.kill()
    server.wait()

server, base = start(small_plan)
check = http_client.checker(server)
try:
    http_client.wait_healthy(base)
    status, answer = embed(base, {"input": texts[4]})  # 26 tokens
    check(status == 400 and "exceeds max-num-batched-tokens 16" in answer["error"]["message"] and
          "runs each prompt whole" in answer["error"]["message"],
          "400 for a prompt longer than the plan's step, naming the limit")
    status, answer = embed(base, {"input": texts[2]})
    check(status == 200 and close(answer["data"][0]["embedding"], refs[2]),
          "a short prompt still embeds after it")
finally:
    server.kill()
    server.wait()
meta, refs, texts = golden("hf-tiny-xlmr-embedding")
server, base = start(xlmr_plan)
check = http_client.checker(server)
try:
    http_client.wait_healthy(base)
    status, answer = embed(base, {"input": texts})
    check(status == 200 and len(answer["data"]) == len(refs) and
          all(close(item["embedding"], r) for item, r in zip(answer["data"], refs)) and
          answer["usage"]["prompt_tokens"] == sum(len(p["prompt"]) for p in meta["prompts"]),
          "XLM-R texts embed as sentence-transformers embeds them (Unigram, NFKC forms)")
finally:
    server.kill()
    server.wait()
print("all encoder checks passed")
