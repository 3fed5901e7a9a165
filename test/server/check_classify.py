#!/usr/bin/env python3
"""Drives vLLM's POST /classify, /score and /rerank (standard library only) on classification
plans and checks what a client notices: a sequence classifier's labels and probabilities are
transformers' (test/goldens/hf-tiny-qwen3-classifier.json), a cross-encoder's and a yes/no
reranker's scores of text pairs are sentence-transformers' CrossEncoder's and
Qwen3-Reranker's model card's (hf-tiny-llama-cross-encoder.json, hf-tiny-qwen3-reranker.json);
a prompt alone, in a list and among concurrent requests gives the same bits; bad requests get
a 400 naming the problem; the embedding and generating endpoints are refused (and /classify
on an embedding plan).

    check_classify.py MODELRT CLASSIFIER_PLAN CROSS_ENCODER_PLAN RERANKER_PLAN EMBED_PLAN GOLDENS
"""
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client  # noqa: E402

modelrt, classifier_plan, cross_encoder_plan, reranker_plan, embed_plan, goldens = sys.argv[1:7]
# Encoders' (bidirectional): a BERT sequence classifier, a RoBERTa cross-encoder and a BERT
# cross-encoder (its document token type 1).
bert_classifier_plan, roberta_cross_encoder_plan, bert_cross_encoder_plan = sys.argv[7:10]
xlmr_reranker_plan = sys.argv[10]
TOLERANCE = 1e-5  # measured: probabilities 1.2e-7 to 7.2e-7 (EmbeddingTest.cpp)


def start(path):
    port = http_client.free_port()
    server = subprocess.Popen([modelrt, "serve", path, "--port", str(port)],
                              stderr=subprocess.PIPE, text=True)
    return server, "http://127.0.0.1:%d" % port


def golden(name):
    with open(os.path.join(goldens, name + ".json")) as f:
        return json.load(f)


def post(base, path, body):
    status, text = http_client.request(base, path, body)
    return status, json.loads(text)


def close(ours, ref):
    return len(ours) == len(ref) and all(abs(a - b) < TOLERANCE for a, b in zip(ours, ref))


def refused(base, path, body, words):
    status, answer = post(base, path, body)
    return status == 400 and words in answer["error"]["message"]


def serving(path, checks):
    server, base = start(path)
    check = http_client.checker(server)
    try:
        http_client.wait_healthy(base)
        checks(base, check)
    finally:
        server.kill()
        server.wait()


def sequence_classifier(base, check):
    g = golden("hf-tiny-qwen3-classifier")
    prompts = [c["prompt"] for c in g["cases"]]
    status, answer = post(base, "/classify", {"input": prompts, "model": "hf-tiny-qwen3-classifier"})
    check(status == 200 and answer["object"] == "list" and answer["id"].startswith("classify-") and
          [d["index"] for d in answer["data"]] == list(range(len(prompts))) and
          all(d["num_classes"] == 3 for d in answer["data"]) and
          answer["usage"]["prompt_tokens"] == sum(len(p) for p in prompts),
          "/classify: one object per input, in order, with num_classes and usage")
    check(all(close(d["probs"], c["probs"]) for d, c in zip(answer["data"], g["cases"])),
          "the probabilities are the softmax of transformers' logits")
    check([d["label"] for d in answer["data"]] ==
          [g["labels"][max(range(3), key=lambda k: c["probs"][k])] for c in g["cases"]],
          "each label is id2label's name of the most probable class")
    status, raw = post(base, "/classify", {"input": prompts[0], "use_activation": False})
    check(status == 200 and close(raw["data"][0]["probs"], g["cases"][0]["logits"]),
          "use_activation false: the logits")
    status, alone = post(base, "/classify", {"input": prompts[1]})
    check(status == 200 and alone["data"][0]["probs"] == answer["data"][1]["probs"],
          "an input alone gives the bits it gives in a list")
    results = [None] * 8

    def client(i):
        results[i] = post(base, "/classify", {"input": prompts[i % len(prompts)]})
    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(s == 200 and a["data"][0]["probs"] == answer["data"][i % len(prompts)]["probs"]
              for i, (s, a) in enumerate(results)),
          "concurrent requests answer as alone, bit for bit")
    status, pooled = post(base, "/pooling", {"input": prompts})
    check(status == 200 and pooled["id"].startswith("pool-") and
          all(d["object"] == "pooling" and close(d["data"], c["logits"])
              for d, c in zip(pooled["data"], g["cases"])),
          "/pooling: each input's logits, as transformers'")
    status, texts = post(base, "/classify", {"input": ["the cat sat.", "an end"]})
    check(status == 200 and len(texts["data"]) == 2, "texts classify through the plan's tokenizer")
    check(refused(base, "/classify", {"input": prompts[0], "dimensions": 2},
                  "'dimensions' applies to /v1/embeddings, not /classify") and
          refused(base, "/classify", {"input": ""}, "an empty string has nothing to classify") and
          refused(base, "/classify", {"input": [[1, 64]]}, "outside the vocabulary of 64") and
          refused(base, "/classify", {"input": prompts[0], "use_activation": 1},
                  "'use_activation'") and
          refused(base, "/pooling", {"input": prompts[0], "dimensions": 2},
                  "'dimensions' applies to embedding plans, not classifiers"),
          "400s naming what a /classify request gets wrong")
    check(refused(base, "/v1/score", {"text_1": "a", "text_2": "b"},
                  "scores need a classifier of one label (a cross-encoder); this one has 3") and
          refused(base, "/v1/embeddings", {"input": "a"}, "this model is a classifier") and
          refused(base, "/v1/completions", {"prompt": "a"}, "this model is a classifier"),
          "score (3 labels), embeddings and completions are refused, naming /classify")
    status, _ = post(base, "/classify", {"input": "an"})
    check(status == 200, "the server still answers after the errors")


def pair_scorer(name):
    def checks(base, check):
        g = golden(name)
        queries = [c["text_1"] for c in g["cases"]]
        documents = [c["text_2"] for c in g["cases"]]
        probs = [c["probs"][0] for c in g["cases"]]
        status, answer = post(base, "/v1/score", {"text_1": queries, "text_2": documents})
        check(status == 200 and [d["index"] for d in answer["data"]] == list(range(len(probs))) and
              close([d["score"] for d in answer["data"]], probs) and
              answer["usage"]["prompt_tokens"] == sum(len(c["prompt"]) for c in g["cases"]),
              name + ": /v1/score of pairs is the reference's probability of each pair")
        status, answer = post(base, "/rerank", {"query": queries[0], "documents": documents,
                                               "top_n": 2})
        one = [c for c in [post(base, "/score", {"text_1": queries[0], "text_2": d})[1]
                           for d in documents]]
        ranked = sorted(range(len(documents)), key=lambda i: -one[i]["data"][0]["score"])
        check(status == 200 and [r["index"] for r in answer["results"]] == ranked[:2] and
              [r["relevance_score"] for r in answer["results"]] ==
              [one[i]["data"][0]["score"] for i in ranked[:2]] and
              answer["results"][0]["document"]["text"] == documents[ranked[0]],
              name + ": /rerank sorts the documents by their score against the query, "
              "each as /score gives it alone")
        check(close([one[0]["data"][0]["score"]], [probs[0]]),
              name + ": the first pair scores as the reference")
        status, raw = post(base, "/score", {"text_1": queries[0], "text_2": documents[0],
                                           "use_activation": False})
        check(status == 200 and close([raw["data"][0]["score"]], g["cases"][0]["logits"]),
              name + ": use_activation false: the pair's logit")
        keep = len(g["cases"][1]["prompt"]) - 3
        status, cut = post(base, "/score", {"text_1": queries[1], "text_2": documents[1],
                                           "truncate_prompt_tokens": keep})
        check(status == 200 and cut["usage"]["prompt_tokens"] <= keep and
              not close([cut["data"][0]["score"]], [probs[1]]),
              name + ": truncate_prompt_tokens cuts the document to fit")
        check(refused(base, "/score", {"text_1": queries[1], "text_2": documents[1],
                                       "truncate_prompt_tokens": 2},
                      "truncation cuts documents, not queries"),
              name + ": a bound the query alone passes is a 400")
        check(refused(base, "/rerank", {"query": "a", "documents": []}, "'documents'") and
              refused(base, "/v1/embeddings", {"input": "a"}, "POST /classify, or /score"),
              name + ": 400s for no documents and for embeddings")
    return checks


def embedding_plan(base, check):
    check(refused(base, "/classify", {"input": "an"},
                  "this model computes embeddings (a plan compiled with modelc --task embed)"),
          "an embedding plan refuses /classify, naming /v1/embeddings")
    body = {"input": ["the cat", "an end"], "dimensions": 8}
    status, pooled = post(base, "/pooling", body)
    _, embedded = post(base, "/v1/embeddings", body)
    check(status == 200 and [d["data"] for d in pooled["data"]] ==
          [d["embedding"] for d in embedded["data"]],
          "/pooling on an embedding plan: its embeddings, bit for bit")


serving(classifier_plan, sequence_classifier)
serving(cross_encoder_plan, pair_scorer("hf-tiny-llama-cross-encoder"))
serving(reranker_plan, pair_scorer("hf-tiny-qwen3-reranker"))
serving(embed_plan, embedding_plan)


def encoder_classifier(base, check):
    g = golden("hf-tiny-bert-classifier")
    status, answer = post(base, "/classify", {"input": [c["prompt"] for c in g["cases"]]})
    check(status == 200 and
          all(close(d["probs"], c["probs"]) and d["label"] == g["labels"][c["probs"].index(
              max(c["probs"]))] for d, c in zip(answer["data"], g["cases"])),
          "a BERT classifier: /classify is transformers' softmax, pooled at [CLS]")
    status, texts = post(base, "/classify", {"input": ["The quick brown fox.", "a"]})
    check(status == 200 and len(texts["data"]) == 2 and texts["usage"]["prompt_tokens"] == 7 + 3,
          "a BERT classifier classifies texts through its WordPiece tokenizer")


serving(bert_classifier_plan, encoder_classifier)
serving(roberta_cross_encoder_plan, pair_scorer("hf-tiny-roberta-cross-encoder"))
serving(bert_cross_encoder_plan, pair_scorer("hf-tiny-bert-cross-encoder"))
serving(xlmr_reranker_plan, pair_scorer("hf-tiny-xlmr-reranker"))
print("all classify checks passed")
