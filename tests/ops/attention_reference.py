#!/usr/bin/python3
"""Writes the PyTorch reference vectors that tests/ops/attention_test.cpp compares scaled_dot_product_attention with.

Run from anywhere with Debian's python3-torch (1.13):  /usr/bin/python3 tests/ops/attention_reference.py
Deterministic: each case seeds torch from its own name, runs on one thread in float64, and the folder
tests/ops/data/attention/ is rebuilt from scratch, so re-running it reproduces the committed files.

torch 1.13 has no F.scaled_dot_product_attention (it arrived in 2.0), so the oracle is the explicit composition
softmax(q kᵀ · scale + mask) v with PyTorch's own matmul/softmax, differentiated by PyTorch's autograd. The causal
mask is aligned at the bottom right (query i sees key j <= i + Tk - Tq): PyTorch's is_causal when Tq == Tk, and
torch.nn.attention.bias.causal_lower_right (PyTorch >= 2.1) when Tq < Tk.

Layout (as tests/reference/data): data/attention/<case>/ holds one float64 .npy per array:
  q, k, v, grad_output          inputs (float32-representable) and a random upstream gradient
  output, grad_q, grad_k, grad_v    the attention output and d<output, grad_output>/d{q,k,v}
  scale                         the scale used (0-d)
MultiheadAttention cases (mha_*): param.<key>, grad.<key> (state_dict names), input, output, grad_output, grad_input.
"""
import math
import os
import shutil
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "attention")

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


def save(case, name, t):
    d = os.path.join(DATA, case)
    os.makedirs(d, exist_ok=True)
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)
    np.save(os.path.join(d, name + ".npy"), np.array(a, order="C"))


def attention(q, k, v, causal, scale):
    s = q @ k.transpose(-2, -1) * scale
    if causal:
        tq, tk = q.shape[-2], k.shape[-2]
        visible = torch.ones(tq, tk, dtype=torch.bool).tril(diagonal=tk - tq)
        s = s.masked_fill(~visible, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def case(name, q_shape, k_shape, dv, causal, scale=None):
    torch.manual_seed(zlib.crc32(name.encode()))
    # Inputs exactly representable in float32, so the float32 test measures latent's arithmetic, not input rounding.
    q = torch.randn(q_shape).float().double()
    k = torch.randn(k_shape).float().double()
    v = torch.randn(k_shape[:-1] + (dv,)).float().double()
    scale = 1.0 / math.sqrt(q_shape[-1]) if scale is None else scale
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = attention(*leaves, causal, scale)
    g = torch.randn_like(out)
    out.backward(g)
    for n, t in zip(("q", "k", "v"), (q, k, v)):
        save(name, n, t)
    save(name, "grad_output", g)
    save(name, "output", out)
    for n, leaf in zip(("grad_q", "grad_k", "grad_v"), leaves):
        save(name, n, leaf.grad)
    save(name, "scale", np.float64(scale))


def mha_case(name, embed_dim, num_heads, batch, length, causal):
    """torch.nn.MultiheadAttention (batch_first) as self-attention: its state_dict (param.<key>), the input, the output
    and the gradients of <output, grad_output> with respect to the input (grad_input) and every parameter (grad.<key>),
    for tests/nn/attention_test.cpp. Parameters are float32-representable and randomised (biases are zero otherwise)."""
    torch.manual_seed(zlib.crc32(name.encode()))
    mha = torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_((torch.randn_like(p) * 0.3).float().double())
    x = torch.randn(batch, length, embed_dim).float().double().requires_grad_(True)
    mask = torch.ones(length, length, dtype=torch.bool).triu(diagonal=1) if causal else None  # True = not allowed
    out, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
    g = torch.randn_like(out)
    out.backward(g)
    for k, v in mha.state_dict().items():
        save(name, "param." + k, v)
    save(name, "input", x)
    save(name, "output", out)
    save(name, "grad_output", g)
    save(name, "grad_input", x.grad)
    for k, p in mha.named_parameters():
        save(name, "grad." + k, p.grad)


def main():
    shutil.rmtree(DATA, ignore_errors=True)
    # [B, H, T, D] with Tq != Tk and Dv != D, default scale 1/sqrt(D).
    case("full", (2, 3, 5, 4), (2, 3, 7, 4), 6, causal=False)
    # GPT-style self-attention: causal, Tq == Tk.
    case("causal", (2, 2, 9, 8), (2, 2, 9, 8), 8, causal=True)
    # causal with Tq < Tk (the last 3 of 6 positions, a KV-cache prefill) and an explicit scale; rank 3.
    case("causal_offset_scale", (4, 3, 5), (4, 6, 5), 5, causal=True, scale=0.7)
    # large logits: scale 8 makes |scores| ~ 50, where a naive exp overflows in float32.
    case("large_logits", (1, 2, 6, 4), (1, 2, 6, 4), 4, causal=True, scale=8.0)
    # nn.MultiheadAttention, causal and not (tests/nn/attention_test.cpp).
    mha_case("mha_causal", 12, 3, 2, 5, causal=True)
    mha_case("mha_full", 8, 2, 3, 4, causal=False)


if __name__ == "__main__":
    main()
