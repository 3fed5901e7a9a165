#!/usr/bin/env python3
"""Drives `modelrt serve --reasoning-parser deepseek_r1` over HTTP (standard library only)
with the plan's own tokenizer, and checks what a client notices: the chat answer's thinking
comes back as `reasoning_content` (SmolLM2 never closes a think block, so with this parser,
whose answers start in the thinking, all of it is reasoning), plain and streamed, while
completions are untouched; the GGUF's end-of-turn tokens and a request's stop_token_ids end
answers. Exits non-zero on the first failure.

    check_reasoning.py MODELRT PLAN
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client  # noqa: E402

modelrt, plan = sys.argv[1:3]
port = http_client.free_port()
base = "http://127.0.0.1:%d" % port
server = subprocess.Popen([modelrt, "serve", plan, "--port", str(port),
                           "--reasoning-parser", "deepseek_r1"], stderr=subprocess.PIPE, text=True)


def request(path, body):
    return http_client.request(base, path, body)


check = http_client.checker(server)


events = http_client.events

try:
    http_client.wait_healthy(base)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    # The answer as a completion of the chat prompt's tokens: the raw text.
    status, body = request("/tokenize", {"messages": messages})
    check(status == 200, "/tokenize renders the chat prompt")
    ids = json.loads(body)["tokens"]
    status, body = request("/v1/completions", {"prompt": ids, "max_tokens": 24})
    raw = json.loads(body)["choices"][0]["text"]
    check(status == 200 and raw.strip(), "completions are not read for reasoning: %r" % raw)

    status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 24})
    message = json.loads(body)["choices"][0]["message"] if status == 200 else {}
    finish = json.loads(body)["choices"][0]["finish_reason"] if status == 200 else None
    check(message.get("reasoning_content") == raw.strip() and message.get("reasoning") == raw.strip()
          and message.get("content") is None,
          "an answer that never closes its thinking is reasoning_content, content null: %r" % body[:300])
    status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 24, "stream": True})
    chunks = events(body)
    streamed = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    contents = [c["choices"][0]["delta"]["content"] for c in chunks
                if c["choices"] and c["choices"][0]["delta"].get("content")]
    check(status == 200 and streamed == raw.strip() and not contents and
          chunks[-1]["choices"][0]["finish_reason"] == finish,
          "streamed, the reasoning deltas give the same text and no content: %r" % body[-300:])
    # Guided answers are not read for reasoning: the JSON is the content.
    status, body = request("/v1/chat/completions", {"messages": messages, "max_tokens": 24,
                                                    "guided_choice": ["Paris", "Lyon"]})
    message = json.loads(body)["choices"][0]["message"] if status == 200 else {}
    check(message.get("content") in ("Paris", "Lyon") and "reasoning_content" not in message,
          "a guided answer stays content: %r" % body[:300])

    # <|endoftext|> is not the GGUF's EOS, but ends turns (as llama.cpp reads GGUF
    # vocabularies): forced by logit_bias, it ends the answer at once.
    prompt = {"prompt": "The capital of France is", "max_tokens": 8}
    status, body = request("/v1/completions", dict(prompt, logit_bias={"0": 100}))
    out = json.loads(body) if status == 200 else {}
    check(status == 200 and out["choices"][0]["text"] == "" and
          out["choices"][0]["finish_reason"] == "stop" and out["usage"]["completion_tokens"] == 1,
          "an end-of-turn token besides EOS ends the answer: %r" % body[:300])
    status, body = request("/v1/completions", dict(prompt, logit_bias={"0": 100}, ignore_eos=True,
                                                   max_tokens=3))
    check(status == 200 and json.loads(body)["usage"]["completion_tokens"] == 3,
          "ignore_eos ignores it too")
    # stop_token_ids (vLLM's): the greedy answer's first token, " Paris", ends it at once.
    status, body = request("/tokenize", {"prompt": " Paris", "add_special_tokens": False})
    paris = json.loads(body)["tokens"]
    status, body = request("/v1/completions", dict(prompt, stop_token_ids=[paris[0]]))
    out = json.loads(body) if status == 200 else {}
    check(len(paris) == 1 and status == 200 and out["choices"][0]["finish_reason"] == "stop" and
          out["usage"]["completion_tokens"] == 1,
          "stop_token_ids end the answer: %r" % body[:300])
    status, body = request("/v1/completions", dict(prompt, stop_token_ids=[99999]))
    check(status == 400 and "'stop_token_ids': token id 99999 is outside the vocabulary" in body,
          "400 for a stop token outside the vocabulary: %r" % body[:200])
finally:
    if server.poll() is None:
        server.kill()
    server.wait()
print("all reasoning checks passed")
