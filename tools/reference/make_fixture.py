#!/usr/bin/env python3
"""Reference fixture for the engine's transformer, in the spirit of llm.c's test_gpt2.

Builds a tiny GPT-2 and a tiny Qwen2 with Hugging Face `transformers` from seeded random weights,
runs one forward/backward on a fixed batch and writes, per model, into OUT/<name>/:
  config.json, model.safetensors      the model as save_pretrained writes it (float32)
  reference.safetensors               input_ids [B,T] (as float32), logits [B,T,V], loss [1],
                                      and "grad.<hf name>" for every parameter
Run on the GPU machine (PyTorch lives there), e.g. from the project root:
  python3 tools/reference/make_fixture.py --out Tests/Fixtures/reference
then commit the folder (a few hundred KB). Tests/ReferenceTests.cs loads it.
"""
import argparse, json, os
import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

def build(name):
    torch.manual_seed(1234)
    if name == "gpt2-tiny":
        cfg = GPT2Config(vocab_size=128, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                         activation_function="gelu_new", resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                         layer_norm_epsilon=1e-5)
        model = GPT2LMHeadModel(cfg)
    else:
        cfg = Qwen2Config(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                          rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True,
                          attention_dropout=0.0, use_sliding_window=False)
        cfg._attn_implementation = "eager"
        model = Qwen2ForCausalLM(cfg)
    # Larger-than-init weights so every path matters in the comparison.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    return model.float().eval()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures/reference")
    args = ap.parse_args()
    for name in ["gpt2-tiny", "qwen2-tiny"]:
        model = build(name)
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(0, 128, (3, 11), generator=g)
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        tensors = {"input_ids": ids.float(), "logits": out.logits.detach().contiguous(), "loss": out.loss.detach().reshape(1)}
        for pname, p in model.named_parameters():
            tensors["grad." + pname] = p.grad.detach().contiguous()
        save_file(tensors, os.path.join(folder, "reference.safetensors"))
        print(name, "loss", out.loss.item(), "->", folder)

if __name__ == "__main__":
    main()
