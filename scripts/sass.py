#!/usr/bin/env python3
"""Reads the SASS of compiled CUDA kernels without a GPU.

  scripts/sass.py show OBJECT [KERNEL-REGEX]   a summary per kernel
  scripts/sass.py fetch                        gets cuobjdump (scripts/install-deps.sh runs it)

OBJECT is an object, library or executable with sm_XX code, e.g. the Hopper prefill kernels:
build/runtime/device/cuda/CMakeFiles/modelrt_cuda_hopper.dir/PrefillAttentionWgmma.cu.o.
KERNEL-REGEX picks kernels by their mangled names (default: all). For each kernel `show`
prints the instruction count, the mix that matters for our kernels (tensor-core products,
exp2, global and async copies, spills, barriers, mbarrier waits), then the lines of the
copies, barriers and products in program order, which show what waits on what.

cuobjdump and the nvdisasm it runs come from PyPI's nvidia-cuda-cuobjdump and
nvidia-cuda-nvdisasm wheels, unpacked into ~/.cache/modelc/cuda-tools (MODELC_CUDA_TOOLS);
the CUDA toolkit here has neither. unittests/device/sass_check.py uses the same functions.
"""
import os
import re
import shutil
import subprocess
import sys
import zipfile

TOOLS = os.environ.get("MODELC_CUDA_TOOLS", os.path.expanduser("~/.cache/modelc/cuda-tools"))
BIN = os.path.join(TOOLS, "x", "nvidia", "cu13", "bin")


def find_cuobjdump():
    """cuobjdump's path with nvdisasm beside it or on PATH, or None."""
    on_path = shutil.which("cuobjdump")
    if on_path and shutil.which("nvdisasm"):
        return on_path
    ours = os.path.join(BIN, "cuobjdump")
    if os.access(ours, os.X_OK) and os.access(os.path.join(BIN, "nvdisasm"), os.X_OK):
        return ours
    return None


def fetch():
    """Downloads and unpacks the two wheels (PyPI) unless they are there; the tool's path."""
    found = find_cuobjdump()
    if found:
        return found
    shutil.rmtree(TOOLS, ignore_errors=True)
    wheels = os.path.join(TOOLS, "wheels")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "nvidia-cuda-cuobjdump==13.5.37", "nvidia-cuda-nvdisasm==13.5.37", "-d", wheels],
                   check=True)
    for w in os.listdir(wheels):
        with zipfile.ZipFile(os.path.join(wheels, w)) as z:
            z.extractall(os.path.join(TOOLS, "x"))
    for tool in ("cuobjdump", "nvdisasm"):
        os.chmod(os.path.join(BIN, tool), 0o755)
    return find_cuobjdump()


def kernels(obj, regex="."):
    """[(arch, mangled name, [(address, instruction)])] for every kernel and architecture."""
    tool = find_cuobjdump()
    if tool is None:
        raise FileNotFoundError("cuobjdump not found: run scripts/sass.py fetch")
    env = dict(os.environ, PATH=os.path.dirname(tool) + os.pathsep + os.environ.get("PATH", ""))
    text = subprocess.run([tool, "-sass", obj], check=True, capture_output=True, text=True,
                          env=env).stdout
    want = re.compile(regex)
    out = []
    sections = re.split(r"\n\s*code for (sm_\w+)\n", text)
    for arch, section in zip(sections[1::2], sections[2::2]):
        parts = re.split(r"\n\s*Function : (\S+)\n", section)
        for name, body in zip(parts[1::2], parts[2::2]):
            if not want.search(name):
                continue
            insts = []
            for line in body.splitlines():
                m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
                if m:
                    insts.append((int(m.group(1), 16), m.group(2)))
            out.append((arch, name, insts))
    return out


def opcode(inst):
    """The instruction without its guard predicate (@P0, @!UP1)."""
    return re.sub(r"^@!?U?P\w+\s+", "", inst)


MIX = [("products", r"^(HGMMA|HMMA)"), ("exp2", r"^MUFU\.EX2"), ("global loads", r"^LDG\b"),
       ("async copies", r"^LDGSTS"), ("spills", r"^(STL|LDL)\b"),
       ("barriers", r"^(BAR|WARPGROUP\.DEPBAR|DEPBAR)"), ("mbarrier waits", r"TRYWAIT"),
       ("shuffles", r"^SHFL")]
MARKS = re.compile(r"^(HGMMA|BAR|WARPGROUP|SYNCS|ARRIVES|LDGDEPBAR|DEPBAR|USETMAXREG|EXIT|BRA|"
                   r"LDGSTS|STL|LDL)")


def show(obj, regex):
    for arch, name, insts in kernels(obj, regex):
        ops = [opcode(i) for _, i in insts]
        print(f"== {name} ({arch}): {len(insts)} instructions")
        print("   " + ", ".join(f"{k} {sum(1 for o in ops if re.search(p, o))}" for k, p in MIX))
        for (addr, inst), op in zip(insts, ops):
            if MARKS.match(op):
                print(f"   {addr:04x}  {inst}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "fetch":
        print(fetch())
    elif len(sys.argv) >= 3 and sys.argv[1] == "show":
        fetch()
        show(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ".")
    else:
        sys.exit(__doc__)
