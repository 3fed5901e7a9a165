#!/usr/bin/env python3
"""PyTorch peers of modelrt-cuda-bench on the same card and shapes, timed with CUDA events
(median of 20 after 3 warm-ups). Prints "RESULT name value unit" lines like the C++ bench:
device copy bandwidth, scaled_dot_product_attention (causal, GQA expanded) on the prefill
shapes, torch.matmul on the GEMM shapes, and a sort-based top-k/top-p sampler for scale."""
import sys

import torch
import torch.nn.functional as F


def time_ms(fn, warm=3, reps=20):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def copy_bw():
    n = 1 << 30
    src = torch.ones(n, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src))
    print(f"RESULT torch_copy_bandwidth {2 * n / (ms * 1e-3) / 1e9:.1f} GB/s ms={ms:.4f}")


def sdpa(batch, length, heads, kv, d, dtype):
    q = torch.randn(batch, heads, length, d, dtype=dtype, device="cuda")
    k = torch.randn(batch, kv, length, d, dtype=dtype, device="cuda")
    v = torch.randn(batch, kv, length, d, dtype=dtype, device="cuda")
    kr, vr = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
    ms = time_ms(lambda: F.scaled_dot_product_attention(q, kr, vr, is_causal=True))
    flops = 4.0 * batch * heads * d * length * (length + 1) / 2
    name = "f16" if dtype == torch.float16 else "bf16"
    print(f"RESULT torch_prefill_{name}_b{batch}_len{length}_h{heads}_kv{kv}_d{d} "
          f"{flops / (ms * 1e-3) / 1e12:.1f} TFLOP/s ms={ms:.4f}")


def matmul(m, n, k, f32_out):
    a = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
    w = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
    fn = lambda: torch.matmul(a, w.t())
    if f32_out:
        # f32 logits straight from the bf16 product where torch offers it (torch.mm out_dtype).
        try:
            torch.mm(a, w.t(), out_dtype=torch.float32)
            fn = lambda: torch.mm(a, w.t(), out_dtype=torch.float32)
        except (TypeError, RuntimeError):
            f32_out = False
    ms = time_ms(fn)
    out = "f32out" if f32_out else "bf16out"
    print(f"RESULT torch_gemm_bf16_{out}_m{m}_n{n}_k{k} {2.0 * m * n * k / (ms * 1e-3) / 1e12:.1f} "
          f"TFLOP/s ms={ms:.4f} weight_GB/s={2.0 * n * k / (ms * 1e-3) / 1e9:.0f}")


def sample(batch, vocab):
    logits = torch.randn(batch, vocab, device="cuda") * 3

    def run():
        x = logits / 0.7
        top = torch.topk(x, 50, dim=-1)
        probs = torch.softmax(top.values, dim=-1)
        cum = probs.cumsum(-1)
        probs = probs.masked_fill(cum - probs > 0.9, 0)
        choice = torch.multinomial(probs, 1)
        return top.indices.gather(-1, choice)

    ms = time_ms(run)
    print(f"RESULT torch_sample_topk50_topp0.9_t0.7_b{batch}_v{vocab} {ms:.4f} ms")

    def run_sort():
        probs = torch.softmax(logits, dim=-1)
        sp, si = probs.sort(dim=-1, descending=True)
        sp = sp.masked_fill(sp.cumsum(-1) - sp > 0.95, 0)
        return si.gather(-1, torch.multinomial(sp, 1))

    ms = time_ms(run_sort)
    print(f"RESULT torch_sample_topp0.95_b{batch}_v{vocab} {ms:.4f} ms")


def main():
    if not torch.cuda.is_available():
        print("SKIP torch_peers: no CUDA device")
        return 0
    quick = "--quick" in sys.argv
    print(f"DEVICE {torch.cuda.get_device_name()} torch={torch.__version__}")
    copy_bw()
    sdpa(1, 4096, 32, 8, 128, torch.bfloat16)
    sdpa(8, 1024, 32, 8, 128, torch.bfloat16)
    if not quick:
        sdpa(1, 4096, 32, 32, 64, torch.float16)
        sdpa(1, 16384, 32, 8, 128, torch.bfloat16)
    matmul(4096, 4096, 4096, False)
    matmul(256, 14336, 4096, False)
    matmul(64, 4096, 4096, False)
    matmul(1, 28672, 4096, False)
    matmul(1, 4096, 14336, False)
    matmul(32, 28672, 4096, False)
    matmul(256, 128256, 4096, True)
    sample(256, 128256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
