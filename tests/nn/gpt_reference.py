#!/usr/bin/python3
"""Writes the PyTorch reference vectors that tests/nn/gpt_test.cpp compares nn::GPT with.

Run from anywhere with Debian's python3-torch (1.13):  /usr/bin/python3 tests/nn/gpt_reference.py
Deterministic: each case seeds torch from its own name, runs on one thread in float64, and the folder
tests/nn/data/gpt/ is rebuilt from scratch, so re-running it reproduces the committed files.

The model is nanoGPT's model.py (Karpathy, MIT licence) restated: GPT with transformer.{wte, wpe, drop, h, ln_f},
pre-LN Blocks (ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj), LayerNorm with an optional bias, exact
GELU, causal attention written out (torch 1.13 has no scaled_dot_product_attention, so nanoGPT itself takes this
path there), lm_head tied to wte. The `rope` case replaces wpe by rotary embeddings on q and k in the rotate-half
layout of Hugging Face's Llama (apply_rotary_pos_emb), which is what ops/rope.hpp implements.

benchmarks/compare/gpt_text.py imports GPT from here (in float32) to train the gpt_text example's model.

Layout: data/gpt/<case>/ holds one float64 .npy per array:
  param.<name>     every entry of the state_dict (nanoGPT's names; lm_head.weight is the tied wte)
  tokens, targets  int64 [B, T]
  logits           [B, T, V] of forward(tokens)
  loss             0-d mean cross-entropy of logits against targets
  grad.<name>      d loss / d parameter (named_parameters: the tied weight once, under transformer.wte.weight)
  config           int64 [vocab_size, block_size, n_layer, n_head, n_embd, bias, rope]
"""
import math
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "gpt")



class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, base=10000.0):
    t, d = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=x.dtype) / d))
    freqs = torch.outer(torch.arange(t, dtype=x.dtype), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.n_head, self.n_embd, self.rope = c["n_head"], c["n_embd"], c["rope"]

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.rope:
            q, k = rope(q), rope(k)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = att.masked_fill(~mask, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c["n_embd"], c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c["n_embd"], c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        parts = dict(wte=nn.Embedding(c["vocab_size"], c["n_embd"]))
        if not c["rope"]:
            parts["wpe"] = nn.Embedding(c["block_size"], c["n_embd"])
        parts.update(drop=nn.Dropout(0.0), h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
                     ln_f=LayerNorm(c["n_embd"], c["bias"]))
        self.transformer = nn.ModuleDict(parts)
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        b, t = idx.size()
        x = self.transformer.wte(idx)
        if not self.c["rope"]:
            x = x + self.transformer.wpe(torch.arange(0, t, dtype=torch.long))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def save(case, name, t):
    d = os.path.join(DATA, case)
    os.makedirs(d, exist_ok=True)
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    np.save(os.path.join(d, name + ".npy"), np.array(a, order="C"))


def case(name, vocab_size, block_size, n_layer, n_head, n_embd, bias, rope_on, B, T):
    torch.manual_seed(zlib.crc32(name.encode()))
    c = dict(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd, bias=bias, rope=rope_on)
    model = GPT(c)
    with torch.no_grad():  # nanoGPT's init makes the LayerNorms trivial and the logits tiny: perturb everything
        for pn, p in model.named_parameters():
            if pn.endswith("weight") and p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
            elif p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.mul_(10.0)
    tokens = torch.randint(0, vocab_size, (B, T))
    targets = torch.randint(0, vocab_size, (B, T))
    logits = model(tokens)
    loss = F.cross_entropy(logits.view(-1, vocab_size), targets.view(-1))
    loss.backward()
    for k, v in model.state_dict().items():
        save(name, "param." + k, v)
    for k, p in model.named_parameters():
        save(name, "grad." + k, p.grad)
    save(name, "tokens", tokens)
    save(name, "targets", targets)
    save(name, "logits", logits)
    save(name, "loss", loss)
    save(name, "config", np.array([vocab_size, block_size, n_layer, n_head, n_embd, int(bias), int(rope_on)], dtype=np.int64))


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    shutil.rmtree(DATA, ignore_errors=True)
    case("gpt_nobias", vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, bias=False, rope_on=False, B=2, T=8)
    case("gpt_bias", vocab_size=13, block_size=10, n_layer=2, n_head=4, n_embd=16, bias=True, rope_on=False, B=3, T=7)
    case("gpt_rope", vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, bias=False, rope_on=True, B=2, T=8)
    print("wrote", DATA)
