#!/usr/bin/env python3
"""Checks modelrt-attention-dump output against PyTorch on long contexts.

For each case directory (written by modelrt-attention-dump) the paged K/V cache is gathered
through the block tables into unpaged per-request tensors and fed to
torch.nn.functional.scaled_dot_product_attention in float32 with an explicit causal (and
sliding-window) mask; our output must be within ||out - ref|| / ||ref|| < 2e-3 (f16) or
1e-2 (bf16). Torch's own SDPA in the case's dtype is reported next to ours for scale.

usage: torch_compare.py CASE_DIR [CASE_DIR...]    exit status 1 if any case fails
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(case):
    hdr = {}
    with open(os.path.join(case, "header.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                hdr[k] = v
    dtype = torch.bfloat16 if hdr["dtype"] == "bf16" else torch.float16

    def raw(name, np_dtype):
        return np.fromfile(os.path.join(case, name), dtype=np_dtype)

    def bits(name):
        return torch.from_numpy(raw(name, np.int16).copy()).view(dtype)

    return hdr, dtype, bits, raw


def compare(case):
    hdr, dtype, bits, raw = load(case)
    H, KV, D = int(hdr["heads"]), int(hdr["kv_heads"]), int(hdr["head_dim"])
    bs, nb = int(hdr["block_size"]), int(hdr["num_blocks"])
    window, scale = int(hdr["window"]), float(hdr["scale"])
    dev = "cuda"
    q = bits("q.bin").to(dev).view(-1, H, D)
    out = bits("out.bin").to(dev).view(-1, H, D)
    kc = bits("k_cache.bin").to(dev).view(nb, KV, bs, D)
    vc = bits("v_cache.bin").to(dev).view(nb, KV, bs, D)
    qs = raw("query_start.bin", np.int32)
    ctx = raw("context_len.bin", np.int32)
    table = torch.from_numpy(raw("block_table.bin", np.int32).astype(np.int64)).to(dev)
    table = table.view(len(ctx), -1)
    num = den = num_t = 0.0
    for s in range(len(ctx)):
        ql, cl = int(qs[s + 1] - qs[s]), int(ctx[s])
        pos = torch.arange(cl, device=dev)
        blocks = table[s, pos // bs]
        k = kc[blocks, :, pos % bs, :].permute(1, 0, 2)  # [KV, ctx, D], unpaged copy
        v = vc[blocks, :, pos % bs, :].permute(1, 0, 2)
        qq = q[qs[s]:qs[s + 1]].permute(1, 0, 2)         # [H, q, D]
        qpos = torch.arange(cl - ql, cl, device=dev)[:, None]
        mask = pos[None, :] <= qpos
        if window > 0:
            mask &= qpos - pos[None, :] < window
        rep = H // KV
        kr, vr = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        ref = F.scaled_dot_product_attention(qq.float(), kr.float(), vr.float(), attn_mask=mask,
                                             scale=scale)
        theirs = F.scaled_dot_product_attention(qq, kr, vr, attn_mask=mask, scale=scale)
        ours = out[qs[s]:qs[s + 1]].permute(1, 0, 2).float()
        if not torch.isfinite(ours).all():
            num = float("inf")
        num += (ours - ref).double().pow(2).sum().item()
        num_t += (theirs.float() - ref).double().pow(2).sum().item()
        den += ref.double().pow(2).sum().item()
    err, err_t = (num / den) ** 0.5, (num_t / den) ** 0.5
    tol = 2e-3 if dtype == torch.float16 else 1e-2
    ok = err < tol
    variant = f" variant {hdr['variant']}" if hdr.get("variant", "0") != "0" else ""
    print(f"{'PASS' if ok else 'FAIL'} {os.path.basename(case)}: {hdr['kernel']}{variant} {hdr['dtype']} "
          f"heads {H}/{KV} d{D} ctx max {int(ctx.max())}: rel err {err:.2e} "
          f"(torch sdpa {hdr['dtype']}: {err_t:.2e}, tol {tol:.0e})")
    return ok


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if not torch.cuda.is_available():
        print("SKIP torch_compare: no CUDA device visible to torch")
        return 0
    results = [compare(case) for case in sys.argv[1:]]
    print(f"torch_compare: {sum(results)}/{len(results)} cases passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
