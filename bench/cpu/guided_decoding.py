#!/usr/bin/env python3
"""Time per generated token with and without guided decoding, one `modelrt serve` process.

    python3 bench/cpu/guided_decoding.py build/bench-smollm2.plan [rounds=2] [tokens=200]

Modes, alternated each round (greedy, one request at a time, the prompt included in the
time): no constraint (ignore_eos, so it runs the full length), response_format json_object,
guided_regex with a pattern of 12 phone numbers (about 170 tokens), and guided_grammar with
a GBNF grammar of JSON objects (a pushdown recognizer in place of the built-in JSON one).
Then free text under guides with a counter ("Write a long story about a cat.", 150 tokens):
a GBNF `[^#]{1,1000} "#"` and the regex `[^#]{1,1000}#`, whose every position is a new
recognizer state (a trie walk each, were the mask built every step), beside no constraint;
and the grammar sampled with top_p 0.9, where the mask is built every step.
Prints one line per request: mode, generated tokens, ms per token, and whether the answer
matches (Python's re.fullmatch for the regex, json.loads for JSON and the grammar, no '#'
for the counted guides, which max_tokens cuts short).
"""
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

plan = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 200
modelrt = "build/tools/modelrt/modelrt"

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([modelrt, "serve", plan, "--port", str(port)], stderr=subprocess.DEVNULL)
base = "http://127.0.0.1:%d" % port


def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


for _ in range(600):
    try:
        urllib.request.urlopen(base + "/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)

PHONES = r"(\(\d{3}\) \d{3}-\d{4}\n){12}"
JSON_GBNF = r'''
root   ::= object
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ("," ws member)* )? "}" ws
member ::= string ":" ws value
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\"" ws
number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)? ws
ws     ::= [ \t\n]{0,16}
'''
ask = [{"role": "user", "content": "List 20 phone numbers, one per line."}]
modes = [
    ("none", {"ignore_eos": True}),
    ("json_object", {"response_format": {"type": "json_object"}}),
    ("guided_regex", {"guided_regex": PHONES}),
    ("guided_grammar", {"guided_grammar": JSON_GBNF}),
]
story = [{"role": "user", "content": "Write a long story about a cat."}]
counted = [
    ("none (story)", {"ignore_eos": True}),
    ("grammar_counted", {"guided_grammar": 'root ::= [^#]{1,1000} "#"'}),
    ("regex_counted", {"guided_regex": "[^#]{1,1000}#"}),
    # top_p: the mask comes first (the filter applies to the allowed tokens), every step.
    ("none (story) top_p", {"ignore_eos": True, "temperature": 0.7, "top_p": 0.9, "seed": 1}),
    ("grammar_counted top_p", {"guided_grammar": 'root ::= [^#]{1,1000} "#"',
                               "temperature": 0.7, "top_p": 0.9, "seed": 1}),
]
try:
    for rnd in range(1, rounds + 1):
        for name, extra in modes + counted:
            prompt, limit = (story, 150) if (name, extra) in counted else (ask, tokens)
            body = dict({"messages": prompt, "max_tokens": limit, "temperature": 0}, **extra)
            t0 = time.perf_counter()
            out = post("/v1/chat/completions", body)
            dt = time.perf_counter() - t0
            n = out["usage"]["completion_tokens"]
            text = out["choices"][0]["message"]["content"]
            if name == "guided_regex":
                ok = re.fullmatch(PHONES, text, re.ASCII) is not None
            elif name in ("json_object", "guided_grammar"):
                try:
                    ok = isinstance(json.loads(text), dict)
                except ValueError:
                    ok = False
            elif "_counted" in name:
                ok = "#" not in text
            else:
                ok = True
            print("round %d %-22s %4d tokens %6.2f ms/token  valid %s" % (
                rnd, name, n, 1000 * dt / max(n, 1), ok), flush=True)
finally:
    server.terminate()
    server.wait()
