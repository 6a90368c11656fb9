#!/usr/bin/env python3
"""PyTorch side of `Bench kernels --device cuda`: the same shapes, timed with torch on the GPU.

Run in the same GPU-machine call as the engine's table (tools/gpu/bench.sh does both), e.g.
  bash .gpu/run.sh Bench.dll kernels --device cuda --json k.json; python3 tools/torch_bench.py --json torch.json
With --json FILE it also writes, per anchor, {op, shape, precision, median_ms, rate, unit, anchor}: op and
shape spelled as `Bench kernels` spells its large cases, so tools/gpu/merge.py can join the two.
Prints fp32 matmul (TF32 off: the engine's kernels are plain fp32), causal attention forward+backward
both through scaled_dot_product_attention and unfused (matmul, mask, softmax, matmul), the copy
bandwidth, and a verl-style GAE loop, each as the median of repeats with CUDA events.
With --gemm-shapes it also times matmul at GPT-2 124M's linear layers (4096 tokens: forward, dX and dW of qkv,
attn proj, fc, fc proj and the lm head) and 4096³, in fp32 (TF32 off), TF32 and bf16, spelled as
`Bench kernels --op matmul --gemm-shapes` spells them (Kernels/Matmul/MatmulOps.cs Gpt2Shapes).
With --attention-shapes it also times causal SDPA at the attention issue's shapes in fp32 and bf16 (flash): forward,
backward alone and forward+backward, spelled as `Bench kernels --op attention --attention-shapes` spells them, and
fp32 SDPA's max error against float64.
"""
import argparse
import json
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"

def timed(fn, repeats=9, warmup=2):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(); fn(); end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]  # ms

ROWS = []

def row(op, shape, ms, work, unit, anchor, precision="fp32"):
    """One anchor for `Bench kernels`' (op, shape): rate in GFLOP/s or GB/s."""
    ROWS.append({"op": op, "shape": shape, "precision": precision, "median_ms": ms, "rate": work / ms / 1e6,
                 "unit": unit, "anchor": anchor})

GPT2_LINEARS = [("qkv", 768, 2304), ("attn proj", 768, 768), ("fc", 768, 3072), ("fc proj", 3072, 768),
                ("lm head", 768, 50257)]

def gemm_shapes(tokens=4096):
    """(label, m, n, k, transA, transB, accumulate): MatmulOps.Gpt2Shapes, in the same order."""
    for name, inputs, outputs in GPT2_LINEARS:
        yield f"{name} fwd A·Bᵀ", tokens, outputs, inputs, False, True, False
        yield f"{name} dX A·B", tokens, inputs, outputs, False, False, False
        yield f"{name} dW Aᵀ·B + C", outputs, inputs, tokens, True, False, True
    yield "A·B", 4096, 4096, 4096, False, False, False
    yield "A·Bᵀ (linear fwd)", 4096, 4096, 4096, False, True, False
    yield "Aᵀ·B + C (linear dW)", 4096, 4096, 4096, True, False, True

def gemm_anchors():
    """torch matmul at the GPT-2 shapes: operands stored as the engine stores them (A is [K,M] when transposed, B is
    [N,K]), C (+)= op(A)·op(B), in fp32 with TF32 off, TF32 and bf16 (bf16 operands and output)."""
    for label, m, n, k, ta, tb, acc in gemm_shapes():
        shape = f"{label} {m}x{n}x{k}"
        for precision in ("fp32", "tf32", "bf16"):
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            A = torch.randn(k, m, device=dev, dtype=dtype) if ta else torch.randn(m, k, device=dev, dtype=dtype)
            B = torch.randn(n, k, device=dev, dtype=dtype) if tb else torch.randn(k, n, device=dev, dtype=dtype)
            C = torch.randn(m, n, device=dev, dtype=dtype)
            a, b = (A.t() if ta else A), (B.t() if tb else B)
            fn = (lambda: C.addmm_(a, b)) if acc else (lambda: torch.matmul(a, b, out=C))
            row("matmul", shape, timed(fn), 2.0 * m * n * k, "GFLOP/s", f"torch matmul {precision}", precision)
            del A, B, C, a, b
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.cuda.empty_cache()

def kernel_anchors():
    """The engine's large workbench shapes (Kernels/Workbench/OpCase.cs Sizes.Large), timed with torch."""
    import torch.nn.functional as F
    rows_, cols = 8192, 4096
    n = rows_ * cols
    x, y, z = torch.randn(n, device=dev), torch.randn(n, device=dev), torch.empty(n, device=dev)
    row("copy", f"{n}", timed(lambda: z.copy_(x)), 8.0 * n, "GB/s", "torch copy_")
    row("add", f"{n}", timed(lambda: torch.add(x, y, out=z)), 12.0 * n, "GB/s", "torch.add")
    row("gelu", f"{n}", timed(lambda: F.gelu(x, approximate="tanh")), 8.0 * n, "GB/s", "F.gelu tanh")
    X, w, b = torch.randn(rows_, cols, device=dev), torch.randn(cols, device=dev), torch.randn(cols, device=dev)
    row("layernorm", f"{rows_}x{cols}", timed(lambda: F.layer_norm(X, (cols,), w, b)), 8.0 * n, "GB/s", "F.layer_norm")
    row("rmsnorm", f"{rows_}x{cols}", timed(lambda: F.rms_norm(X, (cols,), w, 1e-6)), 8.0 * n, "GB/s", "F.rms_norm")
    row("softmax", f"{rows_}x{cols}", timed(lambda: torch.softmax(X, -1)), 8.0 * n, "GB/s", "torch.softmax")
    g = 4096
    A, B, C = torch.randn(g, g, device=dev), torch.randn(g, g, device=dev), torch.randn(g, g, device=dev)
    for label, fn in [("A·B", lambda: A @ B), ("A·Bᵀ (linear fwd)", lambda: A @ B.t()),
                      ("Aᵀ·B + C (linear dW)", lambda: torch.addmm(C, A.t(), B))]:
        row("matmul", f"{label} {g}x{g}x{g}", timed(fn), 2.0 * g ** 3, "GFLOP/s", "torch matmul fp32 (cuBLAS)")
    Bt, H, T, D = 2, 8, 1024, 64
    q, k, v = (torch.randn(Bt, H, T, D, device=dev, requires_grad=True) for _ in range(3))
    do = torch.randn(Bt, H, T, D, device=dev)
    flops = 4.0 * Bt * H * T * (T + 1) / 2 * D
    fwd = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    both = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(do))
    row("attention", f"B{Bt} T{T} H{H}/{H} D{D}", fwd, flops, "GFLOP/s", "SDPA fp32 forward")
    row("attention-backward", f"B{Bt} T{T} H{H}/{H} D{D}", max(1e-6, both - fwd), 2.5 * flops, "GFLOP/s",
        "SDPA fp32 (forward+backward) − forward")
    N, V = 2048, 50257
    logits = torch.randn(N, V, device=dev, requires_grad=True)
    targets = torch.randint(0, V, (N,), device=dev)
    targets[1::3] = -1
    def ce():
        logits.grad = None
        F.cross_entropy(logits, targets, ignore_index=-1).backward()
    row("cross-entropy", f"{N}x{V}", timed(ce), 8.0 * N * V, "GB/s", "F.cross_entropy + backward")

# Attention at the shapes (issue 13), spelled as `Bench kernels --op attention --attention-shapes` spells
# them: B, T, query heads / kv heads, D.
ATTENTION_SHAPES = [(2, 1024, 8, 8, 64), (4, 1024, 12, 12, 64), (1, 4096, 32, 8, 128)]

def attention_anchors():
    """SDPA (causal) forward, backward alone and forward+backward in fp32 (PyTorch's default backend: CUTLASS's
    memory-efficient kernel) and bf16 (the flash backend), plus fp32 SDPA's max |error| against a float64 reference
    (forward output), the accuracy class the engine's 3xtf32 versions are compared with."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for Bt, T, H, Hkv, D in ATTENTION_SHAPES:
        shape = f"B{Bt} T{T} H{H}/{Hkv} D{D}"
        flops = 4.0 * Bt * H * T * (T + 1) / 2 * D
        for precision, dtype, backends in (("fp32", torch.float32, None),
                                           ("bf16", torch.bfloat16, [SDPBackend.FLASH_ATTENTION])):
            q = torch.randn(Bt, H, T, D, device=dev, dtype=dtype, requires_grad=True)
            k, v = (torch.randn(Bt, Hkv, T, D, device=dev, dtype=dtype, requires_grad=True) for _ in range(2))
            do = torch.randn(Bt, H, T, D, device=dev, dtype=dtype)
            def fwd():
                if backends is None:
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=Hkv != H)
                with sdpa_kernel(backends):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=Hkv != H)
            def both():
                fwd().backward(do)
            try:
                f = timed(fwd)
                out = fwd()
                b = timed(lambda: out.backward(do, retain_graph=True))
                fb = timed(both)
            except RuntimeError as e:                                  # e.g. no flash kernel for this case
                print(f"attention {shape} {precision}: not run ({str(e).splitlines()[0]})")
                continue
            name = "SDPA fp32 (default backend)" if backends is None else "SDPA bf16 flash"
            row("attention", shape, f, flops, "GFLOP/s", f"{name} forward", precision)
            row("attention-backward", shape, b, 2.5 * flops, "GFLOP/s", f"{name} backward alone", precision)
            row("attention-fwd+bwd", shape, fb, 3.5 * flops, "GFLOP/s", f"{name} forward+backward", precision)
            if precision == "fp32":
                with torch.no_grad():
                    ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=True,
                                                         enable_gqa=Hkv != H)
                    err = (fwd().double() - ref).abs().max().item()
                print(f"attention {shape} SDPA fp32 forward: max |error| vs float64 {err:.2e}")
                ROWS[-3]["max_abs_err_vs_fp64"] = err
            del q, k, v, do


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="write the anchors as a JSON array for tools/gpu/merge.py")
    parser.add_argument("--gemm-shapes", action="store_true",
                        help="also matmul at the GPT-2 124M linear shapes and 4096³ in fp32, TF32 and bf16")
    parser.add_argument("--attention-shapes", action="store_true",
                        help="also SDPA fp32 and bf16 (flash) forward, backward, forward+backward at the attention "
                             "issue's shapes (B2 H8 T1024 D64, B4 H12 T1024 D64, B1 H32/8 T4096 D128)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    kernel_anchors()
    if args.gemm_shapes:
        gemm_anchors()
    if args.attention_shapes:
        attention_anchors()
    for r in ROWS:
        print(f"{r['op']} {r['shape']}: {r['median_ms']:.3f} ms, {r['rate']:.1f} {r['unit']} ({r['anchor']})")
    n = 1 << 26
    a, b = torch.randn(n, device=dev), torch.empty(n, device=dev)
    ms = timed(lambda: b.copy_(a))
    print(f"copy {n*4>>20} MiB: {2*4*n/ms/1e6:.1f} GB/s")
    g = 4096
    A, B = torch.randn(g, g, device=dev), torch.randn(g, g, device=dev)
    for label, fn in [("A·B", lambda: A @ B), ("A·Bᵀ", lambda: A @ B.t()), ("Aᵀ·B", lambda: A.t() @ B)]:
        ms = timed(fn)
        print(f"matmul {label} {g}³ fp32: {ms:.3f} ms, {2*g**3/ms/1e6:.0f} GFLOP/s")
    Bt, H, T, D = 2, 8, 1024, 64
    q, k, v = (torch.randn(Bt, H, T, D, device=dev, requires_grad=True) for _ in range(3))
    flops = 4.0 * Bt * H * T * (T + 1) / 2 * D
    do = torch.randn(Bt, H, T, D, device=dev)
    def sdpa_fwd():
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    def sdpa_fwd_bwd():
        o = sdpa_fwd(); o.backward(do)
    mask = torch.ones(T, T, device=dev, dtype=torch.bool).tril()
    def unfused_fwd():
        s = (q @ k.transpose(-1, -2)) / D ** 0.5
        return torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1) @ v
    def unfused_fwd_bwd():
        o = unfused_fwd(); o.backward(do)
    for label, fn, work in [("sdpa fwd", sdpa_fwd, flops), ("sdpa fwd+bwd", sdpa_fwd_bwd, 3.5 * flops),
                            ("unfused fwd", unfused_fwd, flops), ("unfused fwd+bwd", unfused_fwd_bwd, 3.5 * flops)]:
        ms = timed(fn)
        print(f"attention {label} B{Bt} H{H} T{T} D{D} fp32: {ms:.3f} ms, {work/ms/1e6:.0f} GFLOP/s")
    # verl-style GAE: a Python loop over t with tensor ops over the batch.
    Bg, Tg = 256, 1024
    r, val, mk = torch.randn(Bg, Tg, device=dev), torch.randn(Bg, Tg, device=dev), torch.ones(Bg, Tg, device=dev)
    def gae():
        last, nxt, out = torch.zeros(Bg, device=dev), torch.zeros(Bg, device=dev), []
        for t in reversed(range(Tg)):
            delta = r[:, t] + 1.0 * nxt - val[:, t]
            last = delta + 0.95 * last
            nxt, out = val[:, t], out + [last]
        return torch.stack(out[::-1], dim=1)
    print(f"gae loop B{Bg} T{Tg}: {timed(gae, repeats=3):.3f} ms")
    # The same shapes as `Bench rl`: verl-style GAE at 4096×4096 and the eager clipped loss at N×V.
    Bg, Tg = 4096, 4096
    r, val, mk = torch.randn(Bg, Tg, device=dev), torch.randn(Bg, Tg, device=dev), torch.ones(Bg, Tg, device=dev)
    print(f"gae loop B{Bg} T{Tg}: {timed(gae, repeats=3, warmup=1):.1f} ms")
    N, V = 16384, 50257
    logits = torch.randn(N, V, device=dev, requires_grad=True)
    ids = torch.randint(0, V, (N,), device=dev)
    old, adv, ref = -10 * torch.rand(N, device=dev), torch.rand(N, device=dev) - 0.5, -10 * torch.rand(N, device=dev)
    def eager_loss():
        logp_all = torch.log_softmax(logits, dim=-1)                     # materialises [N, V]
        logp = logp_all.gather(-1, ids[:, None]).squeeze(-1)
        log_ratio = (logp - old).clamp(-20, 20); ratio = log_ratio.exp()
        pg = torch.maximum(-adv * ratio, -adv * ratio.clamp(0.8, 1.28))
        pg = torch.where(adv < 0, torch.minimum(pg, -adv * 3.0), pg)
        x = (ref - logp).clamp(-20, 20); kl = (x.exp() - x - 1).clamp(-10, 10)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        loss = (pg + 0.001 * kl - 0.001 * entropy).mean()
        logits.grad = None
        loss.backward()
    print(f"eager clipped loss + backward N{N} V{V}: {timed(eager_loss, repeats=3, warmup=1):.1f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(ROWS, f, indent=1, ensure_ascii=False)

if __name__ == "__main__":
    main()
