#!/usr/bin/env python3
"""Drives `modelrt serve --lora-modules` over HTTP (standard library only) on hf-tiny-llama
with two PEFT adapters, and checks what a client notices: /v1/models lists the adapters
beside the base model; a request's 'model' picks one, and its greedy tokens are those PEFT
gives (test/goldens/<adapter>.json, from transformers with the adapter loaded); requests of
different adapters at once answer as alone; unknown names get 404, and a server given an
adapter it cannot read does not start. The tiny model has no tokenizer of its own, so
prompts are token ids and SmolLM2's tokenizer only spells the answers.

    check_lora.py MODELRT PLAN TOKENIZER INPUTS GOLDENS
"""
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client  # noqa: E402

modelrt, plan, tokenizer, inputs, goldens = sys.argv[1:6]
adapters = {"full": os.path.join(inputs, "hf-tiny-llama-lora"),
            "rs": os.path.join(inputs, "hf-tiny-llama-lora-rs")}
port = http_client.free_port()
base = "http://127.0.0.1:%d" % port
server = subprocess.Popen([modelrt, "serve", plan, "--port", str(port), "--tokenizer", tokenizer,
                           "--allow-runtime-lora-updating", "--enable-lora", "--max-loras", "3",
                           "--max-lora-rank", "8",
                           "--lora-modules"] + ["%s=%s" % kv for kv in adapters.items()],
                          stderr=subprocess.PIPE, text=True)


check = http_client.checker(server)


def request(path, body):
    return http_client.request(base, path, body)


def golden(name):
    with open(os.path.join(goldens, name + ".json")) as f:
        meta = json.load(f)
    return meta["prompts"][0]["prompt"], meta["greedy_after_first_prompt"]


prompt, _ = golden("hf-tiny-llama-lora")


def greedy(model, stream=False):
    """The greedy answer's tokens as strings, and the model the answer names."""
    body = {"prompt": prompt, "max_tokens": 8, "temperature": 0, "ignore_eos": True,
            "logprobs": 0}
    if model is not None:
        body["model"] = model
    if stream:
        body["stream"] = True
    status, text = request("/v1/completions", body)
    if status != 200:
        return None, text
    if stream:
        chunks = http_client.events(text)
        tokens = [t for c in chunks for t in c["choices"][0]["logprobs"]["tokens"]]
        models = {c["model"] for c in chunks}
        return tokens, models.pop() if len(models) == 1 else models
    answer = json.loads(text)
    return answer["choices"][0]["logprobs"]["tokens"], answer["model"]


def spelled(ids):
    out = []
    for i in ids:
        status, body = request("/detokenize", {"tokens": [i]})
        out.append(json.loads(body)["prompt"] if status == 200 else None)
    return out


try:
    http_client.wait_healthy(base)
    status, body = request("/v1/models", None)
    models = json.loads(body)["data"] if status == 200 else []
    check([m["id"] for m in models] == ["hf-tiny-llama", "full", "rs"] and
          all(m.get("parent") == "hf-tiny-llama" for m in models[1:]),
          "/v1/models lists the base model and its two adapters")

    solo = {}
    for name, golden_name in [("full", "hf-tiny-llama-lora"), ("rs", "hf-tiny-llama-lora-rs")]:
        tokens, model = greedy(name)
        solo[name] = tokens
        check(tokens == spelled(golden(golden_name)[1]) and model == name,
              "model %r: PEFT's greedy tokens, answered as %r" % (name, name))
    solo["hf-tiny-llama"], _ = greedy("hf-tiny-llama")
    tokens, model = greedy(None)
    check(tokens == solo["hf-tiny-llama"] and model == "hf-tiny-llama" and
          tokens not in (solo["full"], solo["rs"]),
          "the base model by name or by default answers without an adapter")

    results = {}

    def run(name):
        results[name] = greedy(name)[0]

    threads = [threading.Thread(target=run, args=(name,)) for name in ["rs", "hf-tiny-llama", "full"] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(results[name] == solo[name] for name in solo),
          "requests of both adapters and of none at once answer as alone")

    tokens, model = greedy("rs", stream=True)
    check(tokens == solo["rs"] and model == "rs", "streamed: the adapter's tokens, every chunk naming it")

    # Loaded while serving (vLLM's runtime updates), used, unloaded.
    status, body = request("/v1/load_lora_adapter", {"lora_name": "rs2", "lora_path": adapters["rs"]})
    check(status == 200 and "added successfully" in body, "/v1/load_lora_adapter loads an adapter")
    tokens, model = greedy("rs2")
    check(tokens == solo["rs"] and model == "rs2", "the loaded adapter answers as at start")
    status, body = request("/v1/load_lora_adapter", {"lora_name": "rs2", "lora_path": adapters["rs"]})
    check(status == 400 and "already loaded" in body, "400 for a name already loaded")
    status, body = request("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": adapters["full"]})
    check(status == 400 and "--max-loras" in body, "400 past --max-loras 3")
    status, body = request("/v1/unload_lora_adapter", {"lora_name": "rs2"})
    status, body = request("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "/nonexistent"})
    check(status == 400 and "adapter_config.json" in body, "400 naming what a bad adapter lacks")
    status, body = request("/v1/load_lora_adapter", {"lora_name": "rs2", "lora_path": adapters["rs"]})
    status, body = request("/v1/unload_lora_adapter", {"lora_name": "rs2"})
    models = [m["id"] for m in json.loads(request("/v1/models", None)[1])["data"]]
    check(status == 200 and models == ["hf-tiny-llama", "full", "rs"],
          "/v1/unload_lora_adapter unloads it: /v1/models lists the others")
    status, body = request("/v1/completions", {"model": "rs2", "prompt": [1, 2], "max_tokens": 2})
    check(status == 404, "404 for the unloaded adapter")
    status, body = request("/v1/unload_lora_adapter", {"lora_name": "rs2"})
    check(status == 404, "404 for unloading it again")
    tokens, _ = greedy("full")
    check(tokens == solo["full"], "the other adapters answer as before")

    status, body = request("/v1/completions", {"model": "nope", "prompt": [1, 2], "max_tokens": 2})
    check(status == 404 and "The model 'nope' does not exist" in body, "404 for an unknown model")
    status, body = request("/v1/chat/completions", {"model": 7, "messages": []})
    check(status == 400 and "'model' must be a string" in body, "400 for a model that is no string")
finally:
    server.terminate()
    server.wait(timeout=30)

bad = subprocess.run([modelrt, "serve", plan, "--port", str(http_client.free_port()),
                      "--tokenizer", tokenizer, "--lora-modules", "x=" + inputs + "/hf-tiny-llama"],
                     capture_output=True, text=True, timeout=60)
check(bad.returncode != 0 and "LoRA adapter 'x'" in bad.stderr and "adapter_config.json" in bad.stderr,
      "a server given a directory without an adapter does not start: %s" % bad.stderr.strip()[-120:])
print("all LoRA checks passed")
