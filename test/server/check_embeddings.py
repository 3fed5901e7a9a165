#!/usr/bin/env python3
"""Drives POST /v1/embeddings (standard library only) on an embedding plan of
hf-tiny-qwen3-embedding (which carries its tokenizer) and checks what a client notices:
texts and token ids embed as sentence-transformers embeds them (test/goldens:
hf-tiny-qwen3-embedding-text and hf-tiny-qwen3-embedding), in input order; an input alone,
in a list, and among concurrent requests gives the same bits; base64 is the floats' bytes;
dimensions, add_special_tokens and truncate_prompt_tokens do what vLLM's do; vLLM's score
and rerank APIs give the cosine similarities of those vectors; bad requests get a 400 naming
the problem, and the generating endpoints are refused on this plan (and embeddings on a
generating plan).

    check_embeddings.py MODELRT EMBED_PLAN GENERATE_PLAN TOKENIZER GOLDENS
"""
import base64
import json
import math
import os
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client  # noqa: E402

modelrt, plan, generate_plan, tokenizer, goldens = sys.argv[1:6]
TOLERANCE = 1e-5  # measured: 5e-7 to 8e-7 (EmbeddingTest.cpp)


def start(path, *extra):
    port = http_client.free_port()
    server = subprocess.Popen([modelrt, "serve", path, "--port", str(port)] + list(extra),
                              stderr=subprocess.PIPE, text=True)
    return server, "http://127.0.0.1:%d" % port


server, base = start(plan)
check = http_client.checker(server)


def golden(name):
    return http_client.embedding_golden(goldens, name)


def embed(body):
    status, text = http_client.request(base, "/v1/embeddings", body)
    return status, json.loads(text)


def vectors(answer):
    return [item["embedding"] for item in answer["data"]]


def close(ours, ref):
    scale = max(abs(x) for x in ref)
    return len(ours) == len(ref) and max(abs(a - b) for a, b in zip(ours, ref)) / scale < TOLERANCE


def refused(body, words, path="/v1/embeddings"):
    status, text = http_client.request(base, path, body)
    return status == 400 and words in json.loads(text)["error"]["message"]


try:
    http_client.wait_healthy(base)
    text_meta, text_ref = golden("hf-tiny-qwen3-embedding-text")
    texts = [p["text"] for p in text_meta["prompts"]]
    status, answer = embed({"input": texts, "model": "hf-tiny-qwen3-embedding"})
    check(status == 200 and answer["object"] == "list" and
          [d["index"] for d in answer["data"]] == [0, 1, 2] and
          all(d["object"] == "embedding" for d in answer["data"]) and
          answer["model"] == "hf-tiny-qwen3-embedding" and answer["id"].startswith("embd-"),
          "a list of texts: one embedding object per input, in order")
    check(all(close(v, r) for v, r in zip(vectors(answer), text_ref)),
          "texts embed as sentence-transformers embeds them (its tokenizer, </s> appended)")
    tokens = sum(len(p["prompt"]) for p in text_meta["prompts"])
    check(answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens},
          "usage counts the prompt tokens")
    batched = vectors(answer)
    status, alone = embed({"input": texts[2]})
    check(status == 200 and vectors(alone) == [batched[2]],
          "a text alone gives the bits it gives in a list")

    ids_meta, ids_ref = golden("hf-tiny-qwen3-embedding")
    ids = [p["prompt"] for p in ids_meta["prompts"]]
    status, answer = embed({"input": ids})
    check(status == 200 and all(close(v, r) for v, r in zip(vectors(answer), ids_ref)),
          "lists of token ids embed as sentence-transformers embeds them")
    status, one = embed({"input": ids[0]})
    check(status == 200 and vectors(one) == [vectors(answer)[0]],
          "one list of token ids is one input")

    status, packed = embed({"input": ids, "encoding_format": "base64"})
    decoded = [list(struct.unpack("<%df" % (len(base64.b64decode(d["embedding"])) // 4),
                                  base64.b64decode(d["embedding"]))) for d in packed["data"]]
    check(status == 200 and decoded == vectors(answer),
          "base64: the little-endian float32 bytes of the same vectors")

    status, short = embed({"input": ids, "dimensions": 8})
    cut = []
    for r in ids_ref:
        norm = math.sqrt(sum(x * x for x in r[:8]))
        cut.append([x / norm for x in r[:8]])
    check(status == 200 and all(close(v, r) for v, r in zip(vectors(short), cut)),
          "dimensions 8: the first 8 features, normalized again")

    status, plain = embed({"input": texts[0], "add_special_tokens": False})
    check(status == 200 and plain["usage"]["prompt_tokens"] == len(text_meta["prompts"][0]["prompt"]) - 1
          and not close(vectors(plain)[0], text_ref[0]),
          "add_special_tokens false: no </s>, another vector")
    last3 = text_meta["prompts"][0]["prompt"][-3:]
    status, truncated = embed({"input": texts[0], "truncate_prompt_tokens": 3})
    status2, direct = embed({"input": last3})
    check(status == 200 and status2 == 200 and truncated["usage"]["prompt_tokens"] == 3 and
          vectors(truncated) == vectors(direct),
          "truncate_prompt_tokens 3 keeps the last 3 tokens")

    # vLLM's chat form: the messages through the chat template (no generation prompt, no
    # special tokens added), the vector of the rendered text.
    status, chat = embed({"messages": [{"role": "user", "content": "the cat"},
                                       {"role": "user", "content": "an end"}]})
    status2, rendered = embed({"input": "the cat.an end.", "add_special_tokens": False})
    check(status == 200 and status2 == 200 and vectors(chat) == vectors(rendered) and
          chat["usage"] == rendered["usage"],
          "messages embed as their chat template renders them")
    check(refused({"input": "an", "messages": [{"role": "user", "content": "an"}]},
                  "give either 'input' or 'messages'"), "400 for both input and messages")

    # Concurrent requests batch together in the engine; each answers as alone.
    singles = {}
    for i, p in enumerate(ids + texts):
        singles[i] = vectors(embed({"input": p})[1])[0]
    results = {}

    def client(i, p):
        results[i] = embed({"input": p})
    threads = [threading.Thread(target=client, args=(i, p)) for i, p in enumerate(ids + texts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(results[i][0] == 200 and vectors(results[i][1])[0] == singles[i]
              for i in singles), "concurrent requests answer as alone, bit for bit")

    check(refused({"input": ""}, "'input': an empty string has no embedding"),
          "400 for an empty string")
    check(refused({"input": []}, "'input' must be a string, a list of token ids"),
          "400 for an empty list")
    check(refused({"input": "an", "encoding_format": "hex"},
                  "'encoding_format' must be \"float\" or \"base64\""), "400 for hex")
    check(refused({"input": "an", "dimensions": 0}, "'dimensions' must be at least 1"),
          "400 for dimensions 0")
    check(refused({"input": "an", "dimensions": 33}, "'dimensions' 33 is more than the model's 32"),
          "400 for more dimensions than the model's")
    check(refused({"input": [1, 64]}, "'input': token id 64 is outside the vocabulary of 64"),
          "400 for a token id outside the vocabulary")
    check(refused({"input": [[1, 2], [3] * 129]},
                  "'input' 1: this model's maximum context length is 128 tokens, and the "
                  "input has 129"), "400 for an input longer than max_seq_len")
    status, fits = embed({"input": [3] * 129, "truncate_prompt_tokens": -1})
    check(status == 200 and fits["usage"]["prompt_tokens"] == 128,
          "truncate_prompt_tokens -1 keeps max_seq_len tokens")
    status, text = http_client.request(base, "/v1/embeddings", raw=b"{not json")
    check(status == 400 and "not a JSON object" in text, "400 for a body that is not JSON")
    check(refused({"prompt": [1, 2]}, "POST /v1/embeddings", "/v1/completions") and
          refused({"messages": [{"role": "user", "content": "an"}]}, "POST /v1/embeddings",
                  "/v1/chat/completions"),
          "the generating endpoints refuse an embedding plan, naming /v1/embeddings")
    # vLLM's score and rerank on an embedding model: cosine similarities of the vectors.
    def cos(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(
            sum(x * x for x in a) * sum(y * y for y in b))

    def post(path, body):
        status, text = http_client.request(base, path, body)
        return status, json.loads(text)
    status, scored = post("/v1/score", {"text_1": texts[0], "text_2": texts})
    check(status == 200 and [d["index"] for d in scored["data"]] == [0, 1, 2] and
          all(abs(d["score"] - cos(text_ref[0], r)) < TOLERANCE
              for d, r in zip(scored["data"], text_ref)) and
          scored["usage"]["prompt_tokens"] == tokens + len(text_meta["prompts"][0]["prompt"]),
          "/v1/score: text_1 against each text_2, the cosine of sentence-transformers' vectors")
    status, pairs = post("/score", {"text_1": texts, "text_2": texts[::-1]})
    check(status == 200 and all(abs(d["score"] - cos(a, b)) < TOLERANCE for d, a, b in
                                zip(pairs["data"], text_ref, text_ref[::-1])),
          "/score: two lists score pairwise")
    order = sorted(range(3), key=lambda i: -cos(text_ref[1], text_ref[i]))
    status, ranked = post("/v1/rerank", {"query": texts[1], "documents": texts})
    check(status == 200 and [r["index"] for r in ranked["results"]] == order and
          [r["document"]["text"] for r in ranked["results"]] == [texts[i] for i in order] and
          all(abs(r["relevance_score"] - cos(text_ref[1], text_ref[r["index"]])) < TOLERANCE
              for r in ranked["results"]),
          "/v1/rerank: documents by similarity to the query, best first")
    status, top = post("/rerank", {"query": texts[1], "documents": [{"text": t} for t in texts],
                                   "top_n": 2, "return_documents": False})
    status2, v2 = post("/v2/rerank", {"query": texts[1], "documents": texts, "top_n": 2})
    check(status == 200 and [r["index"] for r in top["results"]] == order[:2] and
          all("document" not in r for r in top["results"]) and status2 == 200 and
          [r["relevance_score"] for r in v2["results"]] ==
          [r["relevance_score"] for r in top["results"]],
          "top_n 2: the best two; return_documents false leaves the texts out")
    check(refused({"documents": texts}, "'query' must be a string", "/v1/rerank") and
          refused({"query": "an", "documents": []}, "'documents' must be a non-empty list",
                  "/v1/rerank") and
          refused({"query": "an", "documents": texts, "top_n": -1},
                  "'top_n' must be at least 0", "/v1/rerank") and
          refused({"text_1": texts[:2], "text_2": texts},
                  "'text_1' lists 2 texts and 'text_2' 3", "/v1/score") and
          refused({"text_1": "an", "text_2": ["the", ""]}, "'text_2' 1: an empty string",
                  "/v1/score"),
          "400s naming what score and rerank requests lack")
    status, _ = embed({"input": "an"})
    check(status == 200, "the server still answers after the errors")
finally:
    server.kill()
    server.wait()

server, base = start(generate_plan, "--tokenizer", tokenizer)
check = http_client.checker(server)
try:
    http_client.wait_healthy(base)
    check(refused({"input": "an"}, "this model generates text") and
          refused({"query": "an", "documents": ["an"]}, "this model generates text",
                  "/v1/rerank"),
          "a generating plan refuses /v1/embeddings and /v1/rerank")
finally:
    server.kill()
    server.wait()
print("all embeddings checks passed")
