#!/usr/bin/env python3
"""Checks our CUDA kernels' machine code (SASS), which needs no GPU to read.

  sass_check.py PrefillAttentionWgmma.cu.o           the Hopper prefill kernels' schedule
  sass_check.py --no-spills REGEX OBJECT...          no register spills in those kernels
                                                     (objects without device code are passed over)

What the Hopper schedule needs and the compiler can silently undo:
  - no register spills (STL/LDL);
  - products on the warpgroup tensor cores (HGMMA), not mma.sync (HMMA);
  - in the main loop, the softmax of tile j (its exp2s) runs while P V of tile j - 1 is on the
    tensor cores: between `WARPGROUP.DEPBAR.LE gsb0, 0x1` (S of tile j is done) and the next
    `WARPGROUP.DEPBAR.LE gsb0, 0x0` (P V is done) there is a whole softmax (at least one exp2
    per S accumulator register), and from there to the next product none. ptxas hoists the
    wait to the top of its basic block, which once put every exp2 after it;
  - the warp-specialized kernel's register hand-over (setmaxnreg) is in the code: ptxas drops
    it, with only a warning, when the kernel has no register cap at entry.
Exits 77 (skipped) when cuobjdump is not there (scripts/sass.py fetch gets it).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import sass  # noqa: E402

SKIP = 77


def check_kernel(name, insts):
    """The failures of one kernel, as strings."""
    ops = [sass.opcode(i) for _, i in insts]
    fails = []
    spilled = spills(insts)
    if spilled:
        fails.append(f"{len(spilled)} spill instructions (first: {spilled[0]})")
    if not any(o.startswith("HGMMA") for o in ops):
        fails.append("no HGMMA: the products do not use the warpgroup tensor cores")
    # S accumulator registers per thread: the N of the first S = Q K^T product (64 x N x 16)
    # over 2.
    s_products = [o for o in ops if o.startswith("HGMMA") and "gdesc" in o.split(",")[1]]
    m = re.match(r"HGMMA\.64x(\d+)x16", s_products[0]) if s_products else None
    s_regs = int(m.group(1)) // 2 if m else 64
    waits1 = [k for k, o in enumerate(ops) if o == "WARPGROUP.DEPBAR.LE gsb0, 0x1"]
    if not waits1:
        fails.append("no wait_group 1: S of a tile is not overlapped with P V of the last")
    for k in waits1:
        k0 = next((j for j in range(k + 1, len(ops)) if ops[j] == "WARPGROUP.DEPBAR.LE gsb0, 0x0"),
                  None)
        if k0 is None:
            fails.append(f"no wait_group 0 after the wait_group 1 at {insts[k][0]:#x}")
            continue
        nxt = next((j for j in range(k0 + 1, len(ops)) if ops[j].startswith("HGMMA")), len(ops))
        beside = sum(1 for o in ops[k:k0] if o.startswith("MUFU.EX2"))
        after = sum(1 for o in ops[k0:nxt] if o.startswith("MUFU.EX2"))
        if beside < s_regs or after:
            fails.append(f"softmax not beside P V: {beside} exp2 between the waits at "
                         f"{insts[k][0]:#x} and {insts[k0][0]:#x} (want >= {s_regs}), {after} "
                         f"after the second (want 0)")
    if "WsKernel" in name:
        for kind in ("USETMAXREG.DEALLOC", "USETMAXREG.TRY_ALLOC"):
            if not any(o.startswith(kind) for o in ops):
                fails.append(f"no {kind}: setmaxnreg was dropped")
    return fails


def spills(insts):
    ops = [sass.opcode(i) for _, i in insts]
    return [o for o in ops if re.match(r"(STL|LDL)\b", o)]


def report(found, check):
    failed = 0
    for arch, name, insts in found:
        short = re.search(r"\d([a-z][A-Za-z]*Kernel(I\w*?EE)?)", name)
        label = f"{short.group(1) if short else name} ({arch})"
        fails = check(name, insts)
        print(f"{'FAIL' if fails else 'PASS'} {label}: {len(insts)} instructions")
        for f in fails:
            print(f"    {f}")
        failed += bool(fails)
    print(f"{len(found) - failed}/{len(found)} kernels pass")
    return 1 if failed else 0


def main():
    args = sys.argv[1:]
    noSpills = len(args) >= 3 and args[0] == "--no-spills"
    if len(args) != 1 and not noSpills:
        sys.exit(__doc__)
    if sass.find_cuobjdump() is None:
        print("SKIPPED: cuobjdump not found (scripts/sass.py fetch)")
        return SKIP
    regex, objs = (args[1], args[2:]) if noSpills else (r"prefillWgmma\w*Kernel", args)
    objs = [o for arg in objs for o in arg.split(";") if o]  # CMake passes a list as one
    found = []
    for obj in objs:
        try:
            found += sass.kernels(obj, regex)
        except subprocess.CalledProcessError:
            if not noSpills:
                raise  # a host object (no device code) is only expected among several
    if not found:
        print(f"FAIL: no kernel matching {regex} in {' '.join(objs)}")
        return 1
    if noSpills:
        return report(found, lambda name, insts: [f"{len(spills(insts))} spill instructions"]
                      if spills(insts) else [])
    return report(found, check_kernel)


if __name__ == "__main__":
    sys.exit(main())
