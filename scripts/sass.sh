#!/usr/bin/env bash
# Reads the SASS of compiled CUDA kernels without a GPU: scripts/sass.sh OBJECT [REGEX]
# OBJECT is an object, library or executable with sm_XX code (e.g. the Hopper prefill
# kernels: build/runtime/device/cuda/CMakeFiles/modelrt_cuda_hopper.dir/PrefillAttentionWgmma.cu.o);
# REGEX picks kernels by their mangled names (default: all). For each kernel it prints the
# instruction count, the mix that matters for our kernels (tensor-core products, exp2,
# global and async copies, spills, barriers, mbarrier waits), then the lines of the copies,
# barriers and products in program order, which show what waits on what.
# cuobjdump and the nvdisasm it runs come from PyPI's nvidia-cuda-cuobjdump and
# nvidia-cuda-nvdisasm wheels, unpacked once into ~/.cache/modelc/cuda-tools (the CUDA
# toolkit here has neither).
set -euo pipefail
OBJ="${1:?usage: scripts/sass.sh OBJECT [KERNEL-REGEX]}"
REGEX="${2:-.}"
TOOLS="${MODELC_CUDA_TOOLS:-$HOME/.cache/modelc/cuda-tools}"
CUOBJDUMP=$(command -v cuobjdump || true)
if [[ -z "$CUOBJDUMP" ]] || ! command -v nvdisasm >/dev/null; then
  CUOBJDUMP="$TOOLS/x/nvidia/cu13/bin/cuobjdump"
  if [[ ! -x "$CUOBJDUMP" || ! -x "$(dirname "$CUOBJDUMP")/nvdisasm" ]]; then
    rm -rf "$TOOLS" && mkdir -p "$TOOLS"
    python3 -m pip download --quiet --no-deps nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm \
      -d "$TOOLS/wheels"
    for w in "$TOOLS"/wheels/*.whl; do python3 -m zipfile -e "$w" "$TOOLS/x"; done
    chmod +x "$CUOBJDUMP" "$(dirname "$CUOBJDUMP")/nvdisasm"
  fi
  export PATH="$(dirname "$CUOBJDUMP"):$PATH"
fi
SASS=$(mktemp)
trap 'rm -f "$SASS"' EXIT
"$CUOBJDUMP" -sass "$OBJ" >"$SASS"
python3 - "$SASS" "$REGEX" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
want = re.compile(sys.argv[2])
# Each function's body: the instruction lines ("/*0a30*/  OPCODE ... ;").
parts = re.split(r"\n\s*Function : (\S+)\n", text)
mix = [("products", r"^(HGMMA|HMMA)"), ("exp2", r"^MUFU\.EX2"), ("global loads", r"^LDG\b"),
       ("async copies", r"^LDGSTS"), ("spills", r"^(STL|LDL)\b"),
       ("barriers", r"^(BAR|WARPGROUP\.DEPBAR|DEPBAR)"), ("mbarrier waits", r"TRYWAIT"),
       ("shuffles", r"^SHFL")]
marks = re.compile(r"^(@!?U?P\w+\s+)?(HGMMA|BAR|WARPGROUP|SYNCS|ARRIVES|LDGDEPBAR|DEPBAR|"
                   r"USETMAXREG|EXIT|BRA|LDGSTS|STL|LDL)")
for name, body in zip(parts[1::2], parts[2::2]):
    if not want.search(name):
        continue
    insts = []
    for line in body.splitlines():
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
        if m:
            insts.append((m.group(1), m.group(2)))
    print(f"== {name}: {len(insts)} instructions")
    ops = [re.sub(r"^@!?U?P\w+\s+", "", i) for _, i in insts]
    print("   " + ", ".join(f"{k} {sum(1 for o in ops if re.search(p, o))}" for k, p in mix))
    for addr, inst in insts:
        if marks.match(inst):
            print(f"   {addr}  {inst}")
EOF
