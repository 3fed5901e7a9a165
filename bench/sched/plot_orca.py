#!/usr/bin/env python3
"""ORCA's scheduling result in the simulator: throughput against median latency for
iteration-level and request-level scheduling, swept over the request rate.

Runs modelrt-sim (or reads its JSON lines with --input), writes the PNG and prints the
Markdown table that docs/scheduling.md holds. Needs matplotlib; not part of the tests.

  python3 bench/sched/plot_orca.py --sim build-sched-release/runtime/sched/modelrt-sim \
      --out bench/sched/orca-throughput-latency.png
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATES = "0.5,1,1.5,2,2.5,3,3.5,4,5,6"


def run_sim(sim, args):
    cmd = [sim, "--cost-model", str(args.cost_model), "--scheduler", "both",
           "--request-rate", args.rates, "--num-prompts", str(args.num_prompts),
           "--input-len", args.input_len, "--output-len", args.output_len,
           "--seed", str(args.seed), "--format", "json"] + args.sim_args
    print("$ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sim", help="path to modelrt-sim")
    p.add_argument("--input", help="read modelrt-sim --format json output instead of running it")
    p.add_argument("--cost-model", default=HERE / "cost-model.json")
    p.add_argument("--rates", default=RATES)
    p.add_argument("--num-prompts", type=int, default=1000)
    p.add_argument("--input-len", default="uniform:32:512")
    p.add_argument("--output-len", default="uniform:1:512")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=HERE / "orca-throughput-latency.png")
    p.add_argument("sim_args", nargs="*", help="more modelrt-sim options, after --")
    args = p.parse_args()

    if args.input:
        rows = [json.loads(line) for line in open(args.input) if line.strip()]
    elif args.sim:
        rows = run_sim(args.sim, args)
    else:
        p.error("give --sim or --input")

    print("| scheduler | rate (req/s) | throughput (req/s) | output tok/s | median latency (s) "
          "| median normalized latency (ms/token) | median TTFT (ms) | p99 E2E (s) | preemptions |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scheduler']} | {r['request_rate']} | {r['request_throughput']:.2f} "
              f"| {r['output_throughput']:.0f} | {r['median_e2el_ms'] / 1e3:.1f} "
              f"| {r['median_normalized_latency_ms']:.1f} | {r['median_ttft_ms']:.0f} "
              f"| {r['p99_e2el_ms'] / 1e3:.1f} | {r['preemptions']} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"iteration-level": ("tab:blue", "o"), "request-level": ("tab:red", "s")}
    for name, (color, marker) in styles.items():
        pts = [r for r in rows if r["scheduler"] == name]
        if not pts:
            continue
        x = [r["request_throughput"] for r in pts]
        axes[0].plot(x, [r["median_normalized_latency_ms"] for r in pts], marker=marker,
                     color=color, label=name)
        axes[1].plot(x, [r["median_e2el_ms"] / 1e3 for r in pts], marker=marker, color=color,
                     label=name)
    axes[0].set_ylabel("median normalized latency (ms / output token)")
    axes[1].set_ylabel("median end-to-end latency (s)")
    for ax in axes:
        ax.set_xlabel("throughput (requests / s)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    first = rows[0]
    fig.suptitle(f"modelrt-sim: {first['num_prompts']} requests, input {first['input_len']}, "
                 f"output {first['output_len']}, Poisson arrivals (rates {args.rates})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
