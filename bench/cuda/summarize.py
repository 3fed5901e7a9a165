#!/usr/bin/env python3
"""Turns the logs of scripts/gpu-check.sh into one table: ours against the PyTorch peer
(same card, same run) and the goal of issue 4 where there is one.

usage: summarize.py OUT_DIR   (reads bench.log, torch_peers.log, ctest.log, torch_compare.log,
       cuda_executor.log, modelrt_bench*.log, hf_peer_8b.log)
"""
import os
import re
import sys


def results(path):
    out = {}
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            m = re.match(r"RESULT (\S+) (\S+) (\S+)(.*)", line)
            if m:
                out[m.group(1)] = (float(m.group(2)), m.group(3), m.group(4).strip())
    return out


def grep(path, pattern):
    if not os.path.exists(path):
        return "missing log"
    found = [l.strip() for l in open(path, errors="replace") if re.search(pattern, l)]
    return found[-1] if found else "no summary line"


def lines(path, pattern):
    if not os.path.exists(path):
        return []
    return [l.strip() for l in open(path, errors="replace") if re.search(pattern, l)]


def main():
    d = sys.argv[1]
    ours = results(os.path.join(d, "bench.log"))
    torch = results(os.path.join(d, "torch_peers.log"))
    rows = [("what", "ours", "torch", "ratio", "goal")]
    copy = ours.get("copy_bandwidth")
    tcopy = torch.get("torch_copy_bandwidth")
    rows.append(("copy bandwidth GB/s (read+write)", f"{copy[0]:.0f}" if copy else "-",
                 f"{tcopy[0]:.0f}" if tcopy else "-", "", ""))
    for name, (val, unit, extra) in ours.items():
        if name.startswith("decode_"):
            frac = val / copy[0] if copy else 0
            goal = ">= 0.85 of copy" if "b64_ctx4096" in name and "forced" not in name else ""
            rows.append((f"{name} {unit} ({extra.split()[1]})", f"{val:.0f}", "-",
                         f"{frac:.2f} of copy", goal))
    for name, (val, unit, extra) in ours.items():  # mixed steps: two launches against one
        if name.startswith("mixed_"):
            m = re.search(r"prefill_kernel_only_ms=([\d.]+)", extra)
            old = float(m.group(1)) if m else 0.0
            rows.append((f"{name} ms (all through prefill: {old:.3f})", f"{val:.3f}", "-",
                         f"{old / val:.2f}x faster" if old and val else "", ""))
    read = ours.get("read_bandwidth")
    if read:
        rows.append(("read-only stream GB/s", f"{read[0]:.0f}", "-",
                      f"{read[0] / copy[0]:.2f} of copy" if copy else "", ""))
    peak = ours.get("mma_sync_peak_bf16")
    if peak:
        rows.append(("mma.sync bf16 ceiling TFLOP/s", f"{peak[0]:.0f}", "-", "", ""))
    def weight_gbs(extra):  # decode-sized GEMMs: weight bytes over time
        m = re.search(r"weight_GB/s=(\d+)", extra or "")
        return f" ({m.group(1)} GB/s)" if m else ""

    for prefix, goal in (("prefill_", ">= 1.0"), ("gemm_", ">= 0.95"), ("sample_", "")):
        for name, (val, unit, extra) in ours.items():
            if not name.startswith(prefix):
                continue
            peer = torch.get("torch_" + name)
            ratio = ""
            if peer:
                ratio = f"{val / peer[0]:.2f}" if unit != "ms" else f"{peer[0] / val:.2f}x faster"
            small = "_m1_" in name or "_m32_" in name
            rows.append((f"{name} {unit}", f"{val:.3g}" + (weight_gbs(extra) if small else ""),
                         (f"{peer[0]:.3g}" + (weight_gbs(peer[2]) if small else "")) if peer else "-",
                         ratio, "" if "invariant" in name else goal))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print("\n==== gpu-check summary ====")
    print(grep(os.path.join(d, "bench.log"), r"^DEVICE"))
    # Two runs (the kernels that ran before, then the candidates): every summary line.
    print("gtest:         " + (" | ".join(lines(os.path.join(d, "ctest.log"),
                                                r"PASSED|FAILED TESTS|FAILED \]"))
                               or "no summary line"))
    print("torch_compare: " + grep(os.path.join(d, "torch_compare.log"), r"cases passed|SKIP"))
    print("generated:     " + grep(os.path.join(d, "ptx_check.log"), r"generated CUDA kernels"))
    # The CUDA executor and modelrt on the GPU (every matching line: each run's figures).
    print("executor:      " + grep(os.path.join(d, "cuda_executor.log"),
                                   r"tests passed|PASSED|FAILED TESTS|FAILED \]|SKIPPED \] \d+ test"))
    for line in lines(os.path.join(d, "cuda_executor.log"), r"worst relative logit error|batched vs alone|alone vs batched|kernel images|decode steps beside"):
        print("  " + line)
    # Batch invariance of the GEMMs (GemmTest) and the invariant mode's fallbacks (bench).
    for line in lines(os.path.join(d, "ctest.log"), r"^cuBLASLt (batch-invariant|default):"):
        print("  " + line)
    for line in lines(os.path.join(d, "bench.log"), r"^INFO batch-invariant"):
        print("  " + line)
    for log in ("modelrt_bench.log", "modelrt_bench_8b.log", "modelrt_bench_8b_invariant.log",
                "modelrt_bench_8b_host.log"):
        for line in lines(os.path.join(d, log), r"^== |Output token throughput|Mean TTFT|Mean TPOT|Speculative"):
            print(f"  {log}: {line}")
    for line in lines(os.path.join(d, "hf_peer_8b.log"), r"batch_output_tok_per_s"):
        print("  transformers peer: " + line)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    variants = [(n, v) for n, v in ours.items() if n.startswith("variant_")]
    if variants:
        print("tuning variants (same run):")
        for name, (val, unit, extra) in variants:
            # The same shape's peer: torch_<base> where the name is variant_<base>_<variant>.
            base = name[len("variant_"):]
            peer = next((v for k, v in torch.items()
                         if base.startswith(k[len("torch_"):] + "_")), None)
            vs = ""
            if peer and unit == "TFLOP/s":
                vs = f" ({val / peer[0]:.2f}x torch)"
            elif unit == "GB/s" and copy:
                vs = f" ({val / copy[0]:.2f} of copy)"
            print(f"  {name} {val:.4g} {unit}{vs} {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
