"""What the server checks share: a free port, a JSON request that returns (status, body)
whatever the status, the chunks of an event stream, and waiting for /health."""
import json
import os
import struct
import sys
import socket
import time
import urllib.error
import urllib.request


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def request(base, path, body=None, key=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def events(body):
    """The JSON chunks of an event stream, [DONE] left out."""
    return [json.loads(line[6:]) for line in body.split("\n")
            if line.startswith("data: ") and line != "data: [DONE]"]


def wait_healthy(base, key=None, tries=600):
    for _ in range(tries):
        try:
            if request(base, "/health", key=key)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)


def checker(server):
    """check(cond, what): prints "ok: what", or "FAIL: what" and ends the run (killing
    `server`, a Popen)."""
    def check(cond, what):
        if not cond:
            print("FAIL:", what)
            server.kill()
            sys.exit(1)
        print("ok:", what)
    return check


def embedding_golden(goldens, name):
    """test/goldens/<name>: its metadata and its vectors (rows of <name>.embeddings.f32)."""
    with open(os.path.join(goldens, name + ".json")) as f:
        meta = json.load(f)
    with open(os.path.join(goldens, name + ".embeddings.f32"), "rb") as f:
        raw = f.read()
    d = meta["dimensions"]
    values = struct.unpack("<%df" % (len(raw) // 4), raw)
    return meta, [list(values[i * d:(i + 1) * d]) for i in range(len(values) // d)]
