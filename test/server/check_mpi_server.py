#!/usr/bin/env python3
"""`modelrt serve` of a tensor-parallel plan under mpirun (one process per rank), driven
over HTTP with the standard library only. Exits non-zero on the first failure.

    check_mpi_server.py MPIRUN RANKS MODELRT PLAN SINGLE_RANK_PLAN

Greedy answers must equal those of the single-rank plan served alone; concurrent requests
(batched together on every rank) must get the answers they get alone; SIGTERM to mpirun
to rank 0 lets a request in flight complete, and every rank exits.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

mpirun, ranks, modelrt, plan, single = sys.argv[1:6]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(prefix, plan):
    port = free_port()
    # f32 activations: with int8 ones (a GGUF plan's default) a tensor-parallel plan's codes can
    # flip on its row-split sums' ulps, so its answers need not be the single-rank plan's
    # (docs/formats.md)
    proc = subprocess.Popen(prefix + [modelrt, "serve", plan, "--port", str(port),
                                      "--cpu-activations", "f32"],
                            stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    base = "http://127.0.0.1:%d" % port
    for _ in range(600):
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    return proc, base
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    check(False, "the server starts: " + (proc.stderr.read() if proc.poll() is not None else ""))


def complete(base, body):
    req = urllib.request.Request(base + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read().decode())["choices"][0]["text"]


procs = []


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        for p in procs:
            p.kill()
        sys.exit(1)
    print("ok:", what)


prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,",
           "The three primary colors are"]
bodies = [{"prompt": p, "max_tokens": 12} for p in prompts]

# The single-rank plan's greedy answers, one request at a time.
proc, base = start([], single)
expected = [complete(base, b) for b in bodies]
proc.terminate()
proc.wait(timeout=60)

proc, base = start(shlex.split(mpirun) + ["-np", ranks, "-x", "OMP_NUM_THREADS=1"], plan)
alone = [complete(base, b) for b in bodies]
check(alone == expected, "%s ranks answer as the single-rank plan: %r" % (ranks, alone[0]))

answers = [None] * len(bodies)


def run(i):
    answers[i] = complete(base, bodies[i])


threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(answers == expected, "four concurrent requests get the answers they get alone")

# SIGTERM to rank 0 (mpirun itself kills its job within a second) lets the request in
# flight finish (streamed: the signal goes once its first token is out); then rank 0 stops
# the others and every process, mpirun too, exits.
def rank0_pid():
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().split(b"\0")
            with open("/proc/%s/environ" % entry, "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if plan.encode() in cmdline and b"OMPI_COMM_WORLD_RANK=0" in environ:
            return int(entry)
    return None



req = urllib.request.Request(base + "/v1/completions", data=json.dumps(
    {"prompt": "Once upon a time", "max_tokens": 48, "stream": True}).encode(),
    headers={"Content-Type": "application/json"})
stream = urllib.request.urlopen(req, timeout=120)
first = stream.readline()
while first.strip() == b"":
    first = stream.readline()
pid = rank0_pid()
check(pid is not None, "rank 0's process is found")
os.kill(pid, signal.SIGTERM)
rest = stream.read().decode()
stream.close()
check(first.startswith(b"data: ") and rest.rstrip().endswith("data: [DONE]"),
      "a request in flight at SIGTERM completes")
try:
    proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    check(False, "every rank exits after SIGTERM")
check(proc.returncode == 0, "every rank exits after SIGTERM, mpirun with 0 (got %d)" % proc.returncode)
print("all MPI server checks passed")
