#!/usr/bin/env python3
"""Drives `modelrt serve` over HTTP with the standard library only and checks what a client
of an OpenAI-compatible server would notice. Exits non-zero on the first failure.

    check_server.py MODELRT PLAN TOKENIZER [CHAT_GOLDENS]

CHAT_GOLDENS (test/goldens/chat-templates.json) holds the SmolLM2 chat template rendered
by jinja2 as transformers configures it: /v1/chat/completions must prompt the model with
exactly that text.
"""
import os
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client  # noqa: E402

modelrt, plan, tokenizer = sys.argv[1:4]
chat_goldens = sys.argv[4] if len(sys.argv) > 4 else None
port = http_client.free_port()
base = "http://127.0.0.1:%d" % port
KEY = "test-key"
server = subprocess.Popen([modelrt, "serve", plan, "--tokenizer", tokenizer, "--port", str(port),
                           "--api-key", KEY, "--served-model-name", "smollm2", "--tool-call-parser", "hermes"],
                          stderr=subprocess.PIPE, text=True)


def request(path, body=None, key=KEY, raw=None):
    return http_client.request(base, path, body, key, raw)


check = http_client.checker(server)


try:
    http_client.wait_healthy(base, KEY)
    check(request("/health")[0] == 200, "health answers")
    status, body = request("/v1/models")
    check(status == 200 and json.loads(body)["data"][0]["id"] == "smollm2", "/v1/models lists the served name")
    check(request("/v1/models", key="wrong")[0] == 401, "a wrong API key gets 401")

    prompt = {"prompt": "The capital of France is", "max_tokens": 8}
    status, body = request("/v1/completions", prompt)
    out = json.loads(body)
    text = out["choices"][0]["text"]
    check(status == 200 and text.startswith(" Paris"), "greedy completion says Paris: %r" % text)
    check(out["usage"] == {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13,
                           "prompt_tokens_details": {"cached_tokens": 0}}, "usage counts tokens")

    # Automatic prefix caching: the same long prompt again takes its full KV blocks from the
    # cache (reported as cached_tokens) and answers the same text.
    long_prompt = {"prompt": "Here is a list of European countries and their capital cities. " * 6 +
                   "The capital of France is", "max_tokens": 8}
    status, body = request("/v1/completions", long_prompt)
    first = json.loads(body)
    status, body = request("/v1/completions", long_prompt)
    again = json.loads(body)
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    check(first["usage"]["prompt_tokens_details"]["cached_tokens"] == 0 and
          cached >= first["usage"]["prompt_tokens"] - 16 and cached % 16 == 0 and
          again["choices"][0]["text"] == first["choices"][0]["text"],
          "a repeated prompt takes %d of its %d tokens from the prefix cache and answers the same" %
          (cached, first["usage"]["prompt_tokens"]))
    # n choices of a long new prompt: the later choices adopt the first one's prompt blocks.
    fresh = dict(long_prompt, prompt="A short story about a lighthouse keeper and a storm. " * 6, n=2)
    status, body = request("/v1/completions", fresh)
    pair = json.loads(body)
    check(status == 200 and pair["usage"]["prompt_tokens_details"]["cached_tokens"] >= 16 and
          pair["choices"][0]["text"] == pair["choices"][1]["text"],
          "n=2 on a new long prompt: the second choice reuses the first's prompt blocks (%d cached)" %
          pair["usage"]["prompt_tokens_details"]["cached_tokens"])
    # Choices arrive at the engine together: a later choice can never miss its first
    # choice's start and wait forever (it once did when the engine stepped between them).
    for k in range(4):
        status, body = request("/v1/completions", dict(long_prompt, n=3, max_tokens=4,
                                                       prompt=("Lighthouse log %d. " % k) * 12))
        if status != 200 or len(json.loads(body)["choices"]) != 3:
            break
    check(status == 200 and len(json.loads(body)["choices"]) == 3,
          "n=3 on new long prompts, four in a row: every choice answers")
    status, body = request("/v1/completions", {"prompt": [504, 3575, 282, 4649, 314], "max_tokens": 8})
    check(status == 200 and json.loads(body)["choices"][0]["text"] == text,
          "a prompt given as token ids answers like its text")
    status, body = request("/v1/completions", {"prompt": [504, 99999], "max_tokens": 8})
    check(status == 400 and "outside the vocabulary" in body, "400 for a token id outside the vocabulary")
    # n choices: choice i is what one request with seed + i gives, plain or streamed.
    sampled = dict(prompt, temperature=0.9, seed=5)
    status, body = request("/v1/completions", dict(sampled, n=3))
    many = json.loads(body)
    singles = [json.loads(request("/v1/completions", dict(sampled, seed=5 + i))[1]) for i in range(3)]
    check(status == 200 and [c["index"] for c in many["choices"]] == [0, 1, 2] and
          [c["text"] for c in many["choices"]] == [s["choices"][0]["text"] for s in singles] and
          many["usage"]["completion_tokens"] == sum(s["usage"]["completion_tokens"] for s in singles) and
          many["usage"]["prompt_tokens"] == singles[0]["usage"]["prompt_tokens"],
          "n=3: choice i is the request with seed + i (%r)" % [c["text"] for c in many["choices"]])
    status, body = request("/v1/completions", dict(sampled, n=3, stream=True))
    lines = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    texts = ["", "", ""]
    finishes = 0
    for line in lines[:-1]:
        for c in json.loads(line)["choices"]:
            texts[c["index"]] += c["text"]
            finishes += c["finish_reason"] is not None
    check(lines[-1] == "[DONE]" and lines.count("[DONE]") == 1 and finishes == 3 and
          texts == [c["text"] for c in many["choices"]],
          "n=3 streamed: each choice's chunks give its text, one [DONE]")

    # echo: max_tokens 0 with logprobs scores the prompt (lm-eval-harness's loglikelihood);
    # the score of " Paris" after the question equals the logprob generating it reported.
    status, body = request("/v1/completions", {"prompt": "The capital of France is Paris", "max_tokens": 0,
                                               "echo": True, "logprobs": 1})
    scored = json.loads(body)
    lp = scored["choices"][0]["logprobs"]
    status2, body2 = request("/v1/completions", dict(prompt, max_tokens=1, logprobs=1))
    one = json.loads(body2)["choices"][0]["logprobs"]
    check(status == 200 and scored["choices"][0]["text"] == "The capital of France is Paris" and
          lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None and
          len(lp["tokens"]) == scored["usage"]["prompt_tokens"] == 6 and
          scored["usage"]["completion_tokens"] == 0 and
          lp["tokens"][-1] == one["tokens"][0] and lp["token_logprobs"][-1] == one["token_logprobs"][0],
          "echo scores the prompt: %r" % list(zip(lp["tokens"], lp["token_logprobs"])))
    status, body = request("/v1/completions", dict(prompt, max_tokens=3, echo=True))
    check(status == 200 and json.loads(body)["choices"][0]["text"].startswith("The capital of France is Paris"),
          "echo puts the prompt before the completion")
    check(request("/v1/completions", dict(prompt, echo=True, stream=True))[0] == 400,
          "400 for echo with stream")

    # vLLM's /tokenize and /detokenize: the ids the completion used, and back to the text.
    status, body = request("/tokenize", {"prompt": "The capital of France is", "return_token_strs": True})
    tok = json.loads(body) if status == 200 else {}
    check(status == 200 and tok["tokens"] == [504, 3575, 282, 4649, 314] and tok["count"] == 5 and
          tok["max_model_len"] > 0 and tok["token_strs"][1] == "\u0120capital",
          "/tokenize gives the prompt's ids: %r" % body[:200])
    status, body = request("/detokenize", {"tokens": tok.get("tokens", [])})
    check(status == 200 and json.loads(body)["prompt"] == "The capital of France is",
          "/detokenize gives the text back")
    status, body = request("/detokenize", {"tokens": [1, 99999999]})
    check(status == 400 and "outside the vocabulary" in body, "400 for /detokenize of an unknown id")
    check(request("/tokenize", {"prompt": "x"}, key="wrong")[0] == 401, "/tokenize needs the API key")
    chat_msgs = [{"role": "user", "content": "Hello!"}]
    status, body = request("/tokenize", {"messages": chat_msgs})
    status2, body2 = request("/v1/chat/completions", {"messages": chat_msgs, "max_tokens": 1})
    check(status == 200 and status2 == 200 and
          json.loads(body)["count"] == json.loads(body2)["usage"]["prompt_tokens"],
          "/tokenize of messages counts the chat prompt's tokens")

    # A batch of prompts (OpenAI's list form; lm-eval-harness sends one): choice p is prompt
    # p's, with the text the prompt alone gets; usage counts every prompt; echo scores each.
    germany = {"prompt": "The capital of Germany is", "max_tokens": 8}
    alone = [json.loads(request("/v1/completions", p)[1])["choices"][0]["text"]
             for p in (prompt, germany)]
    status, body = request("/v1/completions", {"prompt": [prompt["prompt"], germany["prompt"]],
                                               "max_tokens": 8})
    batch = json.loads(body) if status == 200 else {}
    check(status == 200 and [c["index"] for c in batch["choices"]] == [0, 1] and
          [c["text"] for c in batch["choices"]] == alone and
          batch["usage"]["prompt_tokens"] == 2 * out["usage"]["prompt_tokens"],
          "a batch of two prompts answers each as alone: %r" % body[:300])
    status, body = request("/v1/completions", {"prompt": [prompt["prompt"], germany["prompt"]],
                                               "max_tokens": 8, "stream": True})
    streamed = {}
    for line in body.split("\n"):
        if line.startswith("data: ") and line != "data: [DONE]":
            for c in json.loads(line[6:])["choices"]:
                streamed[c["index"]] = streamed.get(c["index"], "") + c["text"]
    check(status == 200 and [streamed.get(0), streamed.get(1)] == alone,
          "a streamed batch gives each prompt's text under its index")
    status, body = request("/v1/completions", {"prompt": ["The capital of France is Paris", [504, 3575]],
                                               "max_tokens": 0, "echo": True, "logprobs": 1})
    scored2 = json.loads(body) if status == 200 else {}
    check(status == 200 and scored2["choices"][0]["logprobs"]["token_logprobs"] == lp["token_logprobs"] and
          len(scored2["choices"][1]["logprobs"]["tokens"]) == 2 and
          scored2["usage"]["prompt_tokens"] == 8,
          "echo scores every prompt of a batch: %r" % body[:300])
    status, body = request("/v1/completions", {"prompt": ["a", ""], "max_tokens": 2})
    check(status == 400 and "'prompt' 1: the prompt encodes to no tokens" in body,
          "400 naming the batch's empty prompt: %r" % body[:200])

    # logit_bias +100 on token 504 ("The", the prompt's first token) forces it every time.
    status, body = request("/v1/completions", dict(prompt, max_tokens=3, logit_bias={"504": 100}))
    check(status == 200 and json.loads(body)["choices"][0]["text"] == "TheTheThe",
          "logit_bias forces a token: %r" % body[:200])
    status, body = request("/v1/completions", dict(prompt, logit_bias={"99999": 1}))
    check(status == 400 and "logit_bias" in body, "400 for a logit_bias token outside the vocabulary")
    status, body = request("/v1/completions", dict(prompt, frequency_penalty=2.0, max_tokens=12))
    check(status == 200 and len(json.loads(body)["choices"][0]["text"]) > 0, "frequency_penalty is accepted")

    # vLLM's sampling extras. stop_token_ids on the greedy first token ends the answer at once
    # (the stop token's text left out, as vLLM leaves it unless include_stop_str_in_output);
    # min_tokens holds that token (and EOS) back, so the answer runs on without it, in every
    # choice.
    first = json.loads(request("/tokenize", {"prompt": " Paris", "add_special_tokens": False})[1])["tokens"][0]
    status, body = request("/v1/completions", dict(prompt, stop_token_ids=[first]))
    stopped = json.loads(body)["choices"][0] if status == 200 else {}
    status, body = request("/v1/completions", dict(prompt, stop_token_ids=[first],
                                                   include_stop_str_in_output=True))
    kept = json.loads(body)["choices"][0] if status == 200 else {}
    status, body = request("/v1/completions", dict(prompt, stop_token_ids=[first], min_tokens=4, n=2,
                                                   temperature=0.8, seed=3))
    held = json.loads(body) if status == 200 else {"choices": [], "usage": {}}
    check(stopped.get("text") == "" and stopped.get("finish_reason") == "stop" and
          kept.get("text") == " Paris" and len(held["choices"]) == 2 and
          all(len(json.loads(request("/tokenize", {"prompt": c["text"], "add_special_tokens": False})[1])
                  ["tokens"]) >= 3 and not c["text"].startswith(" Paris") for c in held["choices"]),
          "min_tokens holds back stop tokens: %r / %r / %r" % (stopped, kept, body[:300]))
    status, body = request("/v1/completions", dict(prompt, stop=[" Paris"]))
    check(status == 200 and json.loads(body)["choices"][0]["text"] == "", "a stop string at once: empty text")
    status, body = request("/v1/completions", dict(prompt, stop=[" Paris"], min_tokens=1))
    armed = json.loads(body)["choices"][0]["text"] if status == 200 else ""
    status, body = request("/v1/completions", dict(prompt, stop=[" Paris"], min_tokens=1, stream=True))
    streamed = "".join(json.loads(line[6:])["choices"][0]["text"] for line in body.split("\n")
                       if line.startswith("data: ") and line != "data: [DONE]")
    check(armed.startswith(" Paris") and streamed == armed,
          "stop strings count after min_tokens, streamed too: %r / %r" % (armed, streamed))
    status, body = request("/v1/completions", dict(prompt, stop=[" Paris"], include_stop_str_in_output=True))
    check(status == 200 and json.loads(body)["choices"][0]["text"] == " Paris",
          "include_stop_str_in_output sends the stop string: %r" % body[:200])
    status, body = request("/v1/completions", dict(prompt, max_tokens=3, allowed_token_ids=[504]))
    check(status == 200 and json.loads(body)["choices"][0]["text"] == "TheTheThe",
          "allowed_token_ids: only those come: %r" % body[:200])
    # prompt_logprobs (vLLM's): each prompt token's logprob (echo's, bit for bit) and rank, and
    # the k most likely tokens; chat's at the response's top level.
    status, body = request("/v1/completions", {"prompt": "The capital of France is Paris",
                                               "max_tokens": 1, "prompt_logprobs": 2})
    plp = json.loads(body)["choices"][0].get("prompt_logprobs") if status == 200 else None
    ids = json.loads(request("/tokenize", {"prompt": "The capital of France is Paris"})[1])["tokens"]
    check(plp is not None and len(plp) == 6 and plp[0] is None and
          all(str(t) in e and len(e) <= 3 and e[str(t)]["rank"] >= 1 for t, e in zip(ids[1:], plp[1:])) and
          [e[str(t)]["logprob"] for t, e in zip(ids[1:], plp[1:])] == lp["token_logprobs"][1:] and
          plp[-1][str(ids[-1])]["rank"] == 1 and plp[-1][str(ids[-1])]["decoded_token"] == " Paris",
          "prompt_logprobs: each prompt token's logprob and rank: %r" % (plp or body[:200]))
    status, body = request("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}],
                                                    "max_tokens": 1, "prompt_logprobs": 0})
    check(status == 200 and json.loads(body)["prompt_logprobs"][0] is None and
          all(len(e) == 1 for e in json.loads(body)["prompt_logprobs"][1:]),
          "prompt_logprobs on chat: the response's, the prompt tokens' own entries")
    status, body = request("/v1/completions", dict(prompt, bad_words=["Paris"]))
    check(status == 200 and "Paris" not in json.loads(body)["choices"][0]["text"],
          "bad_words: the word never comes: %r" % body[:200])
    status, body = request("/v1/completions", dict(prompt, max_tokens=2, allowed_token_ids=[1]))
    hidden = json.loads(body)["choices"][0]["text"] if status == 200 else None
    status, body = request("/v1/completions", dict(prompt, max_tokens=2, allowed_token_ids=[1],
                                                   skip_special_tokens=False))
    check(hidden == "" and status == 200 and
          json.loads(body)["choices"][0]["text"] == "<|im_start|><|im_start|>",
          "skip_special_tokens false keeps special tokens in the text: %r" % body[:200])
    status, body = request("/v1/completions", dict(prompt, max_tokens=1, echo=True,
                                                   truncate_prompt_tokens=2))
    cut = json.loads(body) if status == 200 else {}
    check(status == 200 and cut["usage"]["prompt_tokens"] == 2 and
          cut["choices"][0]["text"].startswith(" France is"),
          "truncate_prompt_tokens keeps the prompt's last tokens: %r" % body[:200])
    for extra, words in [({"min_tokens": 9}, "'min_tokens' must be between 0 and 'max_tokens'"),
                         ({"prompt_logprobs": 21}, "'prompt_logprobs' must be an integer from 0 to 20"),
                         ({"prompt_logprobs": 1, "stream": True},
                          "'prompt_logprobs' is not supported with 'stream'"),
                         ({"truncate_prompt_tokens": 0}, "'truncate_prompt_tokens' must be -1"),
                         ({"allowed_token_ids": []}, "'allowed_token_ids' must be a non-empty array"),
                         ({"allowed_token_ids": [99999]}, "'allowed_token_ids': token id 99999 is outside")]:
        status, body = request("/v1/completions", dict(prompt, **extra))
        check(status == 400 and words in body, "400: %s" % words)

    # Streaming gives the same text, chunk by chunk, then [DONE].
    status, body = request("/v1/completions", dict(prompt, stream=True))
    events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    check(events[-1] == "[DONE]", "the stream ends with [DONE]")
    streamed = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    check(streamed == text, "the stream has the same text")

    # Log-probabilities: one per token, never above 0, the greedy token the most likely.
    status, body = request("/v1/completions", dict(prompt, logprobs=3))
    lp = json.loads(body)["choices"][0]["logprobs"]
    check(len(lp["tokens"]) == 8 and len(lp["token_logprobs"]) == 8 and len(lp["top_logprobs"]) == 8,
          "logprobs for every generated token")
    check(all(x <= 0 for x in lp["token_logprobs"]) and
          all(abs(max(t.values()) - c) < 1e-5 and len(t) == 3 for t, c in zip(lp["top_logprobs"], lp["token_logprobs"])),
          "greedy tokens are the most likely, with 3 alternatives each")
    check(request("/v1/completions", dict(prompt, logprobs=-1))[0] == 400, "400 for logprobs -1")
    status, body = request("/v1/completions", dict(prompt, logprobs=2, stream=True))
    chunks = [json.loads(line[6:])["choices"][0] for line in body.split("\n")
              if line.startswith("data: ") and line != "data: [DONE]"]
    check(len(chunks) == 8 and all(len(c["logprobs"]["tokens"]) == 1 and
                                   len(c["logprobs"]["top_logprobs"][0]) == 2 for c in chunks) and
          [c["logprobs"]["token_logprobs"][0] for c in chunks] == lp["token_logprobs"],
          "streamed chunks carry their token's logprobs, the same as the plain response")
    status, body = request("/v1/completions", dict(prompt, stream=True, stream_options={"include_usage": True}))
    events = [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: ") and line != "data: [DONE]"]
    check(events[-1]["choices"] == [] and events[-1]["usage"] == out["usage"],
          "stream_options.include_usage: a last chunk with the usage")

    # A stop string ends the text before it (finish_reason "stop"), streamed or not.
    status, body = request("/v1/completions", dict(prompt, stop=["."]))
    choice = json.loads(body)["choices"][0]
    check(choice["text"] == " Paris" and choice["finish_reason"] == "stop", "stop string: %r" % choice)
    status, body = request("/v1/completions", dict(prompt, stop="Paris", stream=True))
    events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    chunks = [json.loads(e)["choices"][0] for e in events[:-1]]
    check("".join(c["text"] for c in chunks) == " " and chunks[-1]["finish_reason"] == "stop",
          "streamed stop string holds back and drops the stop text")

    # Concurrent requests are batched together and each still gets its own greedy answer.
    results = [None] * 4
    def worker(i):
        results[i] = request("/v1/completions", prompt)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check(all(r[0] == 200 and json.loads(r[1])["choices"][0]["text"] == text for r in results),
          "four concurrent requests get the single request's text")

    bad = [({"prompt": 5}, "'prompt' must be a string"),
           ({"prompt": "x", "max_tokens": 0}, "'max_tokens' must be between 1 and"),
           ({"prompt": "x", "temperature": "hot"}, "'temperature' must be a number"),
           ({"prompt": "x", "top_p": 1.5}, "top_p must be in (0, 1]"),
           ({"prompt": "x", "max_tokens": 2.5}, "'max_tokens' must be an integer"),
           ({"prompt": "x", "stop": [""]}, "'stop' strings must be non-empty strings"),
           ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "at most 4 strings"),
           ({"prompt": "x", "stream": "yes"}, "'stream' must be true or false"),
           ({"prompt": "x", "n": 17}, "'n' must be an integer from 1 to 16"),
           ({"prompt": "x", "max_tokens": 8192, "stream": True}, "exceeds the maximum sequence length")]
    for payload, message in bad:
        status, body = request("/v1/completions", payload)
        check(status == 400 and message in json.loads(body)["error"]["message"], "400 for %s" % payload)
    status, body = request("/v1/completions", raw=b"{not json")
    check(status == 400 and "not a JSON object" in body, "400 for malformed JSON")
    status, body = request("/v1/completions", raw=b'{"prompt": "x", "stop": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    check(status == 400 and "nests" in body and server.poll() is None, "400 for JSON nested 100000 deep")
    check(request("/v1/completions", prompt, key=None)[0] == 401, "no API key gets 401")

    # Chat: the messages go through the GGUF's chat template as jinja2 renders it, so the
    # answer equals a completion of jinja2's text (same prompt tokens, same greedy tokens).
    if chat_goldens:
        goldens = json.load(open(chat_goldens))
        case = next(c for c in goldens["cases"] if c["template"] == "smollm2-135m-instruct-gguf"
                    and c["conversation"] == "system-user" and c["add_generation_prompt"])
        messages = next(c["messages"] for c in goldens["conversations"] if c["name"] == "system-user")
        status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 12})
        check(status == 200, "chat completion answers: %s" % body[:200])
        chat = json.loads(body)
        status, body = request("/v1/completions", {"prompt": case["expected"], "max_tokens": 12})
        plain = json.loads(body)
        check(chat["object"] == "chat.completion" and chat["choices"][0]["message"]["role"] == "assistant",
              "chat completion shape")
        check(chat["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"],
              "the chat prompt has jinja2's tokens (%d vs %d)" % (chat["usage"]["prompt_tokens"],
                                                                 plain["usage"]["prompt_tokens"]))
        answer = chat["choices"][0]["message"]["content"]
        check(answer == plain["choices"][0]["text"] and answer.strip(),
              "the chat answer is the completion of jinja2's text: %r" % answer)
        status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 12, "stream": True})
        events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
        chunks = [json.loads(e) for e in events[:-1]]
        check(events[-1] == "[DONE]" and all(c["object"] == "chat.completion.chunk" for c in chunks) and
              chunks[0]["choices"][0]["delta"].get("role") == "assistant" and
              chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length"),
              "chat stream: chunks, role first, finish reason last, [DONE]")
        check("".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == answer,
              "the chat stream has the same text")
        # With tools and the hermes parser, an answer that calls nothing is plain content,
        # plain or streamed (held to the end of the choice, then sent whole).
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 12, "tools": tools})
        with_tools = json.loads(body)["choices"][0]
        status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 12, "tools": tools,
                                                        "stream": True})
        events = [json.loads(line[6:]) for line in body.split("\n")
                  if line.startswith("data: ") and line != "data: [DONE]"]
        check(with_tools["message"]["content"] and "tool_calls" not in with_tools["message"] and
              with_tools["finish_reason"] in ("stop", "length") and len(events) == 1 and
              events[0]["choices"][0]["delta"]["content"] == with_tools["message"]["content"],
              "chat with tools: an answer without calls is content, plain and streamed")
        # A named tool_choice forces a call to that function: its arguments, guided by the
        # parameters' schema (a required city), plain and streamed.
        forced_tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
        weather = [{"role": "user", "content": "What is the weather like in Paris?"}]
        named = {"type": "function", "function": {"name": "get_weather"}}
        status, body = request("/v1/chat/completions", {"messages": weather, "max_tokens": 40,
                                                        "tools": forced_tools, "tool_choice": named})
        forced = []
        try:
            msg = json.loads(body)["choices"][0]
            call = msg["message"]["tool_calls"][0]["function"]
            forced.append(msg["finish_reason"] == "tool_calls" and call["name"] == "get_weather" and
                          isinstance(json.loads(call["arguments"])["city"], str))
        except (KeyError, ValueError, IndexError, TypeError):
            forced.append(False)
        status, body = request("/v1/chat/completions", {"messages": weather, "max_tokens": 40,
                                                        "tools": forced_tools, "tool_choice": named,
                                                        "stream": True})
        try:
            events = [json.loads(line[6:]) for line in body.split("\n")
                      if line.startswith("data: ") and line != "data: [DONE]"]
            delta = events[-1]["choices"][0]
            forced.append(delta["finish_reason"] == "tool_calls" and
                          delta["delta"]["tool_calls"][0]["function"]["name"] == "get_weather")
        except (KeyError, ValueError, IndexError, TypeError):
            forced.append(False)
        check(all(forced), "a named tool_choice forces a call with arguments that fit: %r" % body[-300:])
        status, body = request("/v1/chat/completions", {"messages": weather, "tools": forced_tools,
                                                        "tool_choice": {"type": "function",
                                                                        "function": {"name": "nope"}}})
        check(status == 400 and "does not declare" in body, "400 for a tool_choice naming no declared tool")
        # tool_choice "required": a call of one of the declared functions, with arguments that
        # fit that function's parameters, plain and streamed.
        two_tools = forced_tools + [{"type": "function", "function": {"name": "get_time", "parameters": {
            "type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}]
        needed = {"get_weather": "city", "get_time": "timezone"}
        required = []
        for stream in (False, True):
            status, body = request("/v1/chat/completions", {"messages": weather, "max_tokens": 40,
                                                            "tools": two_tools,
                                                            "tool_choice": "required", "stream": stream})
            try:
                if stream:
                    events = [json.loads(line[6:]) for line in body.split("\n")
                              if line.startswith("data: ") and line != "data: [DONE]"]
                    msg = events[-1]["choices"][0]
                    call = msg["delta"]["tool_calls"][0]["function"]
                else:
                    msg = json.loads(body)["choices"][0]
                    call = msg["message"]["tool_calls"][0]["function"]
                args = json.loads(call["arguments"])
                required.append(msg["finish_reason"] == "tool_calls" and call["name"] in needed and
                                isinstance(args[needed[call["name"]]], str) and len(args) == 1)
            except (KeyError, ValueError, IndexError, TypeError):
                required.append(False)
        check(all(required), "tool_choice required: a call of a declared function that fits: %r" % body[-300:])
        # response_format json_object: the answer is one JSON object (guided decoding) and
        # the request stops at its end; the same prompt without it is not JSON.
        ask = [{"role": "user", "content": "Describe a cat with its name and age."}]
        status, body = request("/v1/chat/completions", {"messages": ask, "max_tokens": 60,
                                                        "response_format": {"type": "json_object"}})
        answer_json = json.loads(body)["choices"][0] if status == 200 else {}
        try:
            parsed = json.loads(answer_json["message"]["content"])
        except (KeyError, ValueError):
            parsed = None
        check(isinstance(parsed, dict) and answer_json["finish_reason"] == "stop",
              "response_format json_object: the answer is a JSON object: %r" % body[:300])
        # Sampled (seeded): every choice that stops is a JSON object; one cut off by max_tokens
        # is only a prefix, so at least one must stop.
        status, body = request("/v1/chat/completions", {"messages": ask, "max_tokens": 150,
                                                        "response_format": {"type": "json_object"},
                                                        "stream": True, "n": 2, "temperature": 0.8,
                                                        "seed": 3})
        texts, finish = {}, {}
        for line in body.split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                c = json.loads(line[6:])["choices"][0]
                texts[c["index"]] = texts.get(c["index"], "") + c["delta"].get("content", "")
                if c.get("finish_reason"):
                    finish[c["index"]] = c["finish_reason"]
        objects = []
        for i, t in texts.items():
            try:
                objects.append(finish.get(i) == "length" or isinstance(json.loads(t), dict))
            except ValueError:
                objects.append(False)
        check(len(texts) == 2 and all(objects) and "stop" in finish.values(),
              "response_format json_object, streamed, n=2 sampled: JSON objects: %r %r" % (texts, finish))
        # json_schema: the answer fits the schema (properties in order, required ones there,
        # types and enum values), here from a model too small to follow it by itself.
        schema = {"type": "object", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer"},
            "color": {"enum": ["black", "white", "orange"]},
            "indoor": {"type": "boolean"}},
            "required": ["name", "age", "color"]}
        status, body = request("/v1/chat/completions", {
            "messages": ask, "max_tokens": 120,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "cat", "strict": True, "schema": schema}}})
        try:
            cat = json.loads(json.loads(body)["choices"][0]["message"]["content"],
                             object_pairs_hook=lambda pairs: pairs)
            keys = [k for k, _ in cat]
            values = dict(cat)
            fits = (keys[:3] == ["name", "age", "color"] and set(keys) <= set(schema["properties"]) and
                    isinstance(values["name"], str) and isinstance(values["age"], int) and
                    values["color"] in schema["properties"]["color"]["enum"] and
                    isinstance(values.get("indoor", True), bool))
        except (KeyError, ValueError, TypeError):
            fits = False
        check(status == 200 and fits, "response_format json_schema: the answer fits the schema: %r" % body[:300])
        # guided_choice (vLLM): the answer is exactly one of the strings, streamed or not.
        choices = ["Paris", "London", "a city I do not know"]
        status, body = request("/v1/chat/completions", {
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 20, "guided_choice": choices})
        answer = json.loads(body)["choices"][0]["message"]["content"] if status == 200 else body
        check(status == 200 and answer in choices, "guided_choice: the answer is a choice: %r" % answer)
        status, body = request("/v1/completions", {"prompt": "The sky is", "max_tokens": 20,
                                                   "temperature": 1.0, "seed": 3, "n": 3,
                                                   "guided_choice": ["blue", "green"]})
        texts = [c["text"] for c in json.loads(body)["choices"]] if status == 200 else [body]
        check(status == 200 and all(t in ("blue", "green") for t in texts),
              "guided_choice, n=3 sampled: every answer is a choice: %r" % texts)
        # guided_regex (vLLM) and structured_outputs.regex: the answer is a text the whole
        # pattern matches, as Python's re.fullmatch decides; sampled, streamed, multi-byte.
        phone = r"\(\d{3}\) \d{3}-\d{4}"
        status, body = request("/v1/chat/completions", {
            "messages": [{"role": "user", "content": "Give me a phone number."}],
            "max_tokens": 30, "guided_regex": phone})
        answer = json.loads(body)["choices"][0]["message"]["content"] if status == 200 else body
        check(status == 200 and re.fullmatch(phone, answer, re.ASCII) is not None,
              "guided_regex: the answer matches the pattern: %r" % answer)
        date = r"(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])( \(\w{1,8}\))?"
        status, body = request("/v1/completions", {"prompt": "The date today is", "max_tokens": 40,
                                                   "temperature": 1.0, "seed": 11, "n": 3,
                                                   "structured_outputs": {"regex": date}})
        texts = [c["text"] for c in json.loads(body)["choices"]] if status == 200 else [body]
        check(status == 200 and all(re.fullmatch(date, t, re.ASCII) for t in texts) and
              all(c["finish_reason"] == "stop" for c in json.loads(body)["choices"]),
              "structured_outputs regex, n=3 sampled: every answer matches: %r" % texts)
        accents = r"[àéèêëîïôùûüç]{2,6}(, [a-z]{1,6})?"
        status, body = request("/v1/completions", {
            "prompt": "French accents:", "max_tokens": 30, "stream": True,
            "temperature": 0.8, "seed": 2, "guided_regex": accents})
        streamed = "".join(c["text"] for e in http_client.events(body) for c in e.get("choices", []))
        check(re.fullmatch(accents, streamed) is not None,
              "guided_regex streamed, multi-byte characters: %r" % streamed)
        # guided_grammar (vLLM), structured_outputs.grammar and `grammar` (GGUF servers): GBNF,
        # recursion included; answers checked by Python's json and re.
        nested = 'root ::= "[" item (", " item){0,3} "]"\nitem ::= [0-9]{1,3} | root\n'

        def nested_ints(v):
            return isinstance(v, list) and v and all(
                (isinstance(x, int) and 0 <= x < 1000) or nested_ints(x) for x in v)

        status, body = request("/v1/chat/completions", {
            "messages": [{"role": "user", "content": "Write a nested list of numbers."}],
            "max_tokens": 40, "guided_grammar": nested})
        answer = json.loads(body)["choices"][0]["message"]["content"] if status == 200 else body
        try:
            fits = nested_ints(json.loads(answer))
        except ValueError:
            fits = False
        check(status == 200 and fits, "guided_grammar: the answer is a nested list: %r" % answer)
        status, body = request("/v1/completions", {"prompt": "Some numbers:", "max_tokens": 60,
                                                   "temperature": 1.0, "seed": 5, "n": 3,
                                                   "structured_outputs": {"grammar": nested}})
        outs = json.loads(body)["choices"] if status == 200 else []
        fits = len(outs) == 3
        for c in outs:
            try:
                fits = fits and c["finish_reason"] == "stop" and nested_ints(json.loads(c["text"]))
            except ValueError:
                fits = False
        check(status == 200 and fits, "structured_outputs grammar, n=3 sampled: every answer "
              "derives: %r" % [c["text"] for c in outs])
        status, body = request("/v1/completions", {
            "prompt": "French accents:", "max_tokens": 30, "stream": True, "temperature": 0.8,
            "seed": 4, "grammar": 'root ::= [àéèêëîïôùûüç]{2,6} (", " [a-z]{1,6})?'})
        streamed = "".join(c["text"] for e in http_client.events(body) for c in e.get("choices", []))
        check(re.fullmatch(accents, streamed) is not None,
              "grammar streamed, multi-byte characters: %r" % streamed)
        # A schema the JSON recognizer refuses (a union inside a bounded list) is guided by a
        # grammar; the answer is checked here by hand.
        union = {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 16},
            "facts": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
                "anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 12}]}}},
            "required": ["city", "facts"], "additionalProperties": False}
        status, body = request("/v1/chat/completions", {
            "messages": [{"role": "user", "content": "Give facts about Paris as JSON."}],
            "max_tokens": 80, "response_format": {"type": "json_schema", "json_schema": {
                "name": "facts", "schema": union}}})
        answer = json.loads(body)["choices"][0]["message"]["content"] if status == 200 else body
        try:
            v = json.loads(answer)
            fits = (isinstance(v, dict) and list(v) == ["city", "facts"] and
                    isinstance(v["city"], str) and len(v["city"]) <= 16 and
                    1 <= len(v["facts"]) <= 3 and
                    all((isinstance(f, int) and not isinstance(f, bool)) or
                        (isinstance(f, str) and len(f) <= 12) for f in v["facts"]))
        except (ValueError, TypeError, KeyError):
            fits = False
        check(status == 200 and fits, "json_schema with a union in a bounded list (as a grammar): "
              "the answer fits: %r" % answer)
        status, body = request("/v1/completions", {
            "prompt": "x", "guided_grammar": 'root ::= expr\nexpr ::= expr "+" "1" | "1"'})
        check(status == 400 and "'guided_grammar': rule 'expr' is left-recursive" in body,
              "400 naming a left-recursive grammar rule: %s" % body[:200])
        status, body = request("/v1/completions", {"prompt": "x", "guided_regex": "(?<=a)b"})
        check(status == 400 and "'guided_regex': lookaround assertions are not supported" in body,
              "400 naming a regex construct guided decoding cannot enforce")
        status, body = request("/v1/chat/completions", {"messages": ask, "response_format":
                                                        {"type": "json_schema", "json_schema": {
                                                            "name": "x", "schema": {"type": "object", "properties": {
                                                                "a": {"not": {"type": "string"}}}}}}})
        check(status == 400 and "keyword 'not' is not supported" in body,
              "400 for a json_schema keyword it cannot enforce")
        status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 4,
                                                        "logprobs": True, "top_logprobs": 2})
        content = json.loads(body)["choices"][0]["logprobs"]["content"]
        check(len(content) == 4 and all(len(t["top_logprobs"]) == 2 and t["logprob"] <= 0 and
                                        abs(t["top_logprobs"][0]["logprob"] - t["logprob"]) < 1e-5
                                        for t in content),
              "chat logprobs: chosen greedy token is the most likely, 2 alternatives")
        bad_chat = [({"messages": []}, "'messages' must be a non-empty array"),
                    ({"messages": "hi"}, "'messages' must be a non-empty array"),
                    ({"messages": [{"role": 1, "content": "x"}]}, "'role' must be a non-empty string"),
                    ({"messages": [{"role": "user"}]}, "'content' is missing"),
                    ({"messages": [{"role": "user", "content": 5}]}, "'content' must be a string"),
                    ({"messages": messages, "logprobs": 3}, "'logprobs' must be true or false"),
                    ({"messages": messages, "top_logprobs": 2}, "'top_logprobs' needs 'logprobs': true")]
        for payload, message in bad_chat:
            status, body = request("/v1/chat/completions", payload)
            check(status == 400 and message in json.loads(body)["error"]["message"],
                  "chat 400 for %s" % payload)

    # A client that leaves mid-stream does not hurt the next request.
    s = socket.create_connection(("127.0.0.1", port))
    payload = json.dumps({"prompt": "Once upon a time", "max_tokens": 200, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(payload)).encode() +
              b"\r\n\r\n" + payload)
    s.recv(200)
    s.close()
    status, body = request("/v1/completions", prompt)
    check(status == 200 and json.loads(body)["choices"][0]["text"] == text, "the server stays up and correct after a dropped stream")
    check(server.poll() is None, "the server process is still running")
    status, body = request("/metrics")
    check(status == 200 and "modelrt_requests_total" in body and "modelrt_generated_tokens_total" in body,
          "/metrics exposes the serving counters")
    metric = {l.split()[0]: float(l.split()[1]) for l in body.splitlines() if l and not l.startswith("#")}
    check(metric["modelrt_prefix_cache_hit_tokens_total"] >= cached and
          metric["modelrt_prompt_tokens_total"] > metric["modelrt_prefix_cache_hit_tokens_total"] and
          0 <= metric["modelrt_kv_cache_usage_ratio"] <= 1 and metric["modelrt_prefix_cache_blocks"] > 0,
          "/metrics counts prefix cache hits (%d of %d prompt tokens)" %
          (metric["modelrt_prefix_cache_hit_tokens_total"], metric["modelrt_prompt_tokens_total"]))
    # SIGTERM: the server stops listening, finishes what is in flight and exits cleanly.
    import signal
    slow = [None]
    def inflight():
        # Long enough to be in flight at the signal and when the late request comes (decode
        # is ~6 ms a token here: 400 tokens ~2.4 s).
        slow[0] = request("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 400,
                                              "ignore_eos": True})
    t = threading.Thread(target=inflight)
    t.start()
    time.sleep(0.5)
    # A stream in flight too: the signal goes once its first chunk is out.
    req = urllib.request.Request(base + "/v1/completions", data=json.dumps(
        {"prompt": "Once upon a time", "max_tokens": 300, "ignore_eos": True, "stream": True}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + KEY})
    stream = urllib.request.urlopen(req, timeout=120)
    first = stream.readline()
    while first.strip() == b"":
        first = stream.readline()
    server.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    late = request("/v1/completions", {"prompt": "Hello", "max_tokens": 2})
    rest = stream.read().decode()
    stream.close()
    t.join()
    try:
        code = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    check(slow[0] is not None and slow[0][0] == 200 and
          json.loads(slow[0][1])["usage"]["completion_tokens"] == 400,
          "a request in flight at SIGTERM still completes")
    check(first.startswith(b"data: ") and rest.rstrip().endswith("data: [DONE]"),
          "a stream in flight at SIGTERM still completes")
    check(late[0] == 503, "a request after SIGTERM gets 503 (got %d)" % late[0])
    check(code == 0, "SIGTERM stops the server with exit code 0 (got %s)" % code)
finally:
    if server.poll() is None:
        server.kill()
    server.wait()
print("all server checks passed")
