#!/usr/bin/env python3
"""Checks the Hopper prefill kernels' machine code (SASS), which needs no GPU to read.

  sass_check.py PrefillAttentionWgmma.cu.o

What the schedule needs and the compiler can silently undo:
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
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import sass  # noqa: E402

SKIP = 77


def check_kernel(name, insts):
    """The failures of one kernel, as strings."""
    ops = [sass.opcode(i) for _, i in insts]
    fails = []
    spills = [o for o in ops if re.match(r"(STL|LDL)\b", o)]
    if spills:
        fails.append(f"{len(spills)} spill instructions (first: {spills[0]})")
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


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if sass.find_cuobjdump() is None:
        print("SKIPPED: cuobjdump not found (scripts/sass.py fetch)")
        return SKIP
    found = sass.kernels(sys.argv[1], r"prefillWgmma\w*Kernel")
    if not found:
        print(f"FAIL: no prefillWgmma kernels in {sys.argv[1]}")
        return 1
    failed = 0
    for name, insts in found.items():
        short = re.search(r"prefillWgmma\w*Kernel\w*?EE", name)
        label = short.group(0) if short else name
        fails = check_kernel(name, insts)
        print(f"{'FAIL' if fails else 'PASS'} {label}: {len(insts)} instructions")
        for f in fails:
            print(f"    {f}")
        failed += bool(fails)
    print(f"{len(found) - failed}/{len(found)} kernels pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
