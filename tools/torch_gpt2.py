#!/usr/bin/env python3
"""PyTorch anchors for whole steps at GPT-2 124M size, the other side of the engine's own figures:

  train-step  one training step (B4 T1024: forward, cross-entropy, backward, clip 1.0, AdamW) in four modes:
              fp32 eager attention with TF32 off, fp32 SDPA, TF32 (SDPA, allow_tf32), bf16 autocast (SDPA);
              the engine's side: `engine pretrain --model gpt2-124m --batch 4 --context 1024 --device cuda --profile`.
  decode      batched sampling with Hugging Face `generate` and its KV cache (64 sequences x 128 new tokens, fp32),
              timed without model load; the engine's side: `engine sample` / Bench at the same shape.
  grpo-step   a GRPO step written plainly: HF `generate` of 8 prompts x 8 completions x 128 tokens, then one
              forward/backward of the clipped policy loss and AdamW; reports sampling and training seconds;
              the engine's side: `engine grpo --model gpt2-124m ...` (metrics time/sampling, time/training).

  python3 tools/torch_gpt2.py [--what train-step,decode,grpo-step] [--json FILE] [--small] [--device cpu|cuda]

--small shrinks every shape (2 layers, d 64, T 64, vocab 512) so the script itself can be checked on a CPU. With
--json it writes rows {op, shape, precision, median_ms, rate, unit, anchor} like tools/torch_bench.py.
The model is GPT-2's (learned positions, pre-LayerNorm, tanh GELU, tied embeddings), initialised at random:
speed does not depend on the weights. decode and grpo-step need the transformers package.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS = []


def row(op, shape, precision, ms, tokens, anchor):
    ROWS.append({"op": op, "shape": shape, "precision": precision, "median_ms": ms,
                 "rate": tokens / ms * 1e3, "unit": "tokens/s", "anchor": anchor})
    print(f"{op} {shape} {precision}: {ms:.2f} ms, {tokens / ms * 1e3:,.0f} tokens/s ({anchor})", flush=True)


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, dev, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(dev)
        start = time.perf_counter()
        fn()
        sync(dev)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


class Attention(nn.Module):
    def __init__(self, d, heads, sdpa):
        super().__init__()
        self.qkv, self.proj, self.heads, self.sdpa = nn.Linear(d, 3 * d), nn.Linear(d, d), heads, sdpa

    def forward(self, x):  # x: [B, T, C]
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D]
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # eager: the matmul, mask, softmax, matmul that PyTorch runs without a fused kernel
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, d, heads, sdpa):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), Attention(d, heads, sdpa), nn.LayerNorm(d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, vocab, context, d, layers, heads, sdpa):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads, sdpa) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):  # ids: [B, T] -> logits [B, T, V]
        x = self.wte(ids) + self.wpe(torch.arange(ids.size(1), device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.ln(x) @ self.wte.weight.t()


def shapes(small):
    if small:
        return dict(vocab=512, context=64, d=64, layers=2, heads=4, batch=2)
    return dict(vocab=50257, context=1024, d=768, layers=12, heads=12, batch=4)


def train_step(dev, small, repeats):
    s = shapes(small)
    B, T = s["batch"], s["context"]
    has_sdpa = hasattr(F, "scaled_dot_product_attention")
    modes = [("fp32", False, False, None, "eager attention, TF32 off")]
    if has_sdpa:
        modes += [("fp32", True, False, None, "SDPA, TF32 off"), ("tf32", True, True, None, "SDPA, allow_tf32"),
                  ("bf16", True, False, torch.bfloat16, "SDPA, bf16 autocast")]
    else:
        print("this torch has no scaled_dot_product_attention: eager fp32 only")
    for precision, sdpa, tf32, autocast, label in modes:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.manual_seed(1)
        model = Gpt2(s["vocab"], s["context"], s["d"], s["layers"], s["heads"], sdpa).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
        ids = torch.randint(0, s["vocab"], (B, T + 1), device=dev)

        def step():
            with torch.autocast(dev, dtype=autocast, enabled=autocast is not None):
                logits = model(ids[:, :-1])
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        row("train-step", f"gpt2 B{B} T{T}", precision, median_ms(step, dev, repeats), B * T, f"PyTorch {label}")
        del model, opt
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def hf_model(dev, small):
    from transformers import GPT2Config, GPT2LMHeadModel
    s = shapes(small)
    cfg = GPT2Config(vocab_size=s["vocab"], n_positions=s["context"], n_embd=s["d"], n_layer=s["layers"],
                     n_head=s["heads"])
    torch.manual_seed(1)
    return GPT2LMHeadModel(cfg).to(dev), s


def generate(model, prompts, new_tokens):
    return model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=True, top_k=0,
                          max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0)


def decode(dev, small, repeats):
    model, s = hf_model(dev, small)
    model.eval()
    new = 16 if small else 128
    for batch in ([4] if small else [8, 64]):
        prompts = torch.randint(0, s["vocab"], (batch, 8), device=dev)
        with torch.no_grad():
            ms = median_ms(lambda: generate(model, prompts, new), dev, repeats, warmup=1)
        row("decode", f"gpt2 batch {batch} x {new} new", "fp32", ms, batch * new, "HF generate, KV cache, fp32")


def grpo_step(dev, small, repeats):
    model, s = hf_model(dev, small)
    prompts_n, group, new, prompt_len = (2, 4, 16, 8) if small else (8, 8, 128, 32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.0)
    prompts = torch.randint(0, s["vocab"], (prompts_n, prompt_len), device=dev).repeat_interleave(group, dim=0)
    sampling, training = [], []
    for i in range(repeats + 1):
        sync(dev)
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            seqs = generate(model, prompts, new)                   # [P·G, prompt + new]
        sync(dev)
        t1 = time.perf_counter()
        model.train()
        rewards = torch.rand(prompts_n, group, device=dev)        # stand-in for a verifier: speed only
        adv = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).view(-1, 1)
        logits = model(seqs).logits[:, prompt_len - 1:-1].float()
        logprobs = torch.gather(logits.log_softmax(-1), 2, seqs[:, prompt_len:].unsqueeze(-1)).squeeze(-1)
        ratio = torch.exp(logprobs - logprobs.detach())            # one optimisation per batch: old = current
        loss = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(dev)
        t2 = time.perf_counter()
        if i > 0:                                                  # the first is warm-up
            sampling.append((t1 - t0) * 1e3)
            training.append((t2 - t1) * 1e3)
    total = sorted(a + b for a, b in zip(sampling, training))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"grpo-step: sampling {med(sampling):.1f} ms, training {med(training):.1f} ms (medians)")
    row("grpo-step", f"gpt2 {prompts_n} prompts x {group} x {new} tokens", "fp32", total[len(total) // 2],
        prompts_n * group * new, "PyTorch + HF generate, fp32")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--what", default="train-step,decode,grpo-step")
    p.add_argument("--json", help="write the rows as a JSON array")
    p.add_argument("--small", action="store_true", help="tiny shapes, to check the script on a CPU")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    name = torch.cuda.get_device_name() if a.device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {name}")
    for what in a.what.split(","):
        try:
            {"train-step": train_step, "decode": decode, "grpo-step": grpo_step}[what](a.device, a.small, a.repeats)
        except ImportError as e:
            print(f"{what}: skipped ({e})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(ROWS, f, indent=1)


if __name__ == "__main__":
    main()
