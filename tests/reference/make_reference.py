#!/usr/bin/python3
"""Writes the PyTorch reference vectors that tests/reference/*.cpp compare latent against.

Run from anywhere with Debian's python3-torch (1.13):  /usr/bin/python3 tests/reference/make_reference.py
Deterministic and re-runnable: each case seeds torch from its own name, runs on one thread, and the
data folder is rebuilt from scratch, so re-running it reproduces the committed files byte for byte.

Layout: data/<case>/ holds one .npy per array (C order; float32 for layers and models, float64 for
losses; int64 for ids, class targets and num_batches_tracked):
  input.npy, output.npy            the layer's input and output
  grad_output.npy                  a fixed random upstream gradient (a scalar for scalar losses)
  grad_input.npy                   d<output, grad_output>/d input
  param.<key>.npy, grad.<key>.npy  every state_dict entry (PyTorch names) and each parameter's gradient
  after.<key>.npy                  BatchNorm: buffers after the training step
  eval_input.npy, eval_output.npy  BatchNorm: evaluation mode on another batch, after the step
Losses: data/loss_<case>/<argument>.npy and grad_<argument>.npy for every differentiable argument.
"""
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def seed(case):
    torch.manual_seed(zlib.crc32(case.encode()))


def save(case, name, t):
    d = os.path.join(DATA, case)
    os.makedirs(d, exist_ok=True)
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    np.save(os.path.join(d, name + ".npy"), np.array(a, order="C"))  # not ascontiguousarray: it makes 0-d arrays 1-d


def layer_case(case, module, x, x_is_index=False):
    """Forward + backward of `module` on x with a random upstream gradient; saves everything."""
    seed(case + "/grad")
    for k, v in module.state_dict().items():
        save(case, "param." + k, v)
    if not x_is_index:
        x = x.clone().requires_grad_(True)
    y = module(x)
    gy = torch.randn_like(y)
    y.backward(gy)
    save(case, "input", x)
    save(case, "output", y)
    save(case, "grad_output", gy)
    if not x_is_index:
        save(case, "grad_input", x.grad)
    for k, p in module.named_parameters():
        save(case, "grad." + k, p.grad)


def randomize_affine(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name == "weight" else 0.0))


# ---- layers ------------------------------------------------------------------------------------------------------

def linear_cases():
    seed("linear")
    layer_case("linear", nn.Linear(5, 7), torch.randn(4, 5))
    seed("linear_nobias_3d")
    layer_case("linear_nobias_3d", nn.Linear(5, 3, bias=False), torch.randn(2, 3, 5))


def conv_cases():
    seed("conv2d")
    layer_case("conv2d", nn.Conv2d(3, 4, kernel_size=3, stride=2, padding=1), torch.randn(2, 3, 7, 6))
    seed("conv2d_dilated")
    layer_case("conv2d_dilated",
               nn.Conv2d(2, 3, kernel_size=(3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), bias=False),
               torch.randn(2, 2, 6, 5))
    seed("conv_transpose2d")
    layer_case("conv_transpose2d", nn.ConvTranspose2d(4, 3, kernel_size=4, stride=2, padding=1), torch.randn(2, 4, 3, 3))
    seed("conv_transpose2d_outpad")
    layer_case("conv_transpose2d_outpad",
               nn.ConvTranspose2d(2, 3, kernel_size=3, stride=2, padding=1, output_padding=1, dilation=2, bias=False),
               torch.randn(2, 2, 4, 3))


def batchnorm_case(case, module, shape):
    """Training step (output, grads, buffers after), then evaluation on another batch."""
    seed(case)
    randomize_affine(module)
    with torch.no_grad():
        module.running_mean.copy_(torch.randn_like(module.running_mean) * 0.1)
        module.running_var.copy_(torch.rand_like(module.running_var) + 0.5)
        module.num_batches_tracked.fill_(3)
    x = torch.randn(*shape) * 2.0 + 0.5
    module.train()
    layer_case(case, module, x)
    for k, v in module.state_dict().items():
        if k.startswith("running") or k == "num_batches_tracked":
            save(case, "after." + k, v)
    module.eval()
    xe = torch.randn(*shape)
    save(case, "eval_input", xe)
    save(case, "eval_output", module(xe))


def norm_cases():
    batchnorm_case("batchnorm1d", nn.BatchNorm1d(6), (8, 6))
    batchnorm_case("batchnorm1d_3d", nn.BatchNorm1d(5, momentum=0.3), (4, 5, 3))
    batchnorm_case("batchnorm2d", nn.BatchNorm2d(3), (4, 3, 5, 5))
    batchnorm_case("batchnorm2d_cumulative", nn.BatchNorm2d(2, momentum=None), (3, 2, 4, 4))

    seed("layernorm")
    m = nn.LayerNorm([4, 5])
    randomize_affine(m)
    layer_case("layernorm", m, torch.randn(3, 4, 5) * 3 + 1)

    # Weight only (PyTorch >= 2.1's LayerNorm(bias=False)); 1.13 has F.layer_norm with bias=None.
    class LayerNormNoBias(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(n) * 0.5 + 1)

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)

    seed("layernorm_nobias")
    layer_case("layernorm_nobias", LayerNormNoBias(8), torch.randn(2, 3, 8))

    seed("groupnorm")
    m = nn.GroupNorm(2, 6)
    randomize_affine(m)
    layer_case("groupnorm", m, torch.randn(3, 6, 4, 4) + 0.5)
    seed("groupnorm_3d")
    m = nn.GroupNorm(3, 6, eps=1e-3)
    randomize_affine(m)
    layer_case("groupnorm_3d", m, torch.randn(2, 6, 5))


def embedding_cases():
    seed("embedding")
    ids = torch.tensor([[1, 3, 3, 0, 9], [2, 3, 7, 7, 7], [0, 0, 5, 6, 1]], dtype=torch.int64)
    layer_case("embedding", nn.Embedding(10, 4), ids, x_is_index=True)


def activation_cases():
    cases = {
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.2),
        "gelu": nn.GELU(),
        "gelu_tanh": nn.GELU(approximate="tanh"),
        "silu": nn.SiLU(),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
        "softplus": nn.Softplus(),
        "softplus_beta2": nn.Softplus(beta=2.0),
    }
    for name, m in cases.items():
        seed(name)
        x = torch.randn(4, 6) * 3
        x[0, :4] = torch.tensor([25.0, -25.0, 11.0, -30.0])  # softplus's linear branch (βx > 20) and saturation
        layer_case(name, m, x)
    seed("flatten")
    layer_case("flatten", nn.Flatten(), torch.randn(2, 3, 2, 2))


# ---- whole models ------------------------------------------------------------------------------------------------

def mlp_case():
    seed("mlp")
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    layer_case("mlp", net, torch.randn(5, 6))


class VAE(nn.Module):
    """BENCHMARKS.md W1 at reduced width (64-32-8 instead of 784-400-20), PyTorch's VAE example."""

    def __init__(self, d=64, h=32, z=8):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc21 = nn.Linear(h, z)
        self.fc22 = nn.Linear(h, z)
        self.fc3 = nn.Linear(z, h)
        self.fc4 = nn.Linear(h, d)

    def forward(self, x, eps):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
        return recon, mu, logvar


def vae_case():
    case = "vae_w1_small"
    seed(case)
    model = VAE()
    x = torch.rand(16, 64)
    eps = torch.randn(16, 8)
    for k, v in model.state_dict().items():
        save(case, "param." + k, v)
    recon, mu, logvar = model(x, eps)
    loss = F.binary_cross_entropy(recon, x, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss.backward()
    for name, t in [("input", x), ("eps", eps), ("recon", recon), ("mu", mu), ("logvar", logvar), ("loss", loss)]:
        save(case, name, t)
    for k, p in model.named_parameters():
        save(case, "grad." + k, p.grad)


# ---- losses (float64) --------------------------------------------------------------------------------------------

def loss_case(case, fn, args, differentiable, grad_output=None):
    """fn(**args); saves every argument, the output, the upstream gradient and the gradients of `differentiable`."""
    case = "loss_" + case
    seed(case)
    args = {k: (v.clone().requires_grad_(True) if k in differentiable else v) for k, v in args.items()}
    out = fn(**args)
    g = torch.randn_like(out) if grad_output is None else grad_output
    out.backward(g)
    for k, v in args.items():
        save(case, k, v)
        if k in differentiable:
            save(case, "grad_" + k, v.grad)
    save(case, "output", out)
    save(case, "grad_output", g)


def loss_cases():
    torch.set_default_dtype(torch.float64)
    r = lambda name, *shape: (seed("loss_input/" + name), torch.randn(*shape))[1]

    for red in ["mean", "sum", "none"]:
        loss_case("mse_" + red, lambda input, target, red=red: F.mse_loss(input, target, reduction=red),
                  {"input": r("mse" + red, 4, 5), "target": r("mse_t" + red, 4, 5)}, {"input", "target"})
    loss_case("l1", lambda input, target: F.l1_loss(input, target),
              {"input": r("l1", 4, 5), "target": r("l1_t", 4, 5)}, {"input", "target"})

    seed("loss_bce_inputs")
    p = torch.rand(4, 5) * 0.9 + 0.05
    y = torch.rand(4, 5)
    # PyTorch 1.13 has no derivative of binary_cross_entropy in its target.
    loss_case("bce", lambda input, target: F.binary_cross_entropy(input, target), {"input": p, "target": y}, {"input"})
    loss_case("bce_sum", lambda input, target: F.binary_cross_entropy(input, target, reduction="sum"),
              {"input": p, "target": y}, {"input"})
    logits = r("bcel", 4, 5) * 3
    logits[0, 0] = 40.0  # far tails: the stable form must not overflow
    logits[0, 1] = -40.0
    loss_case("bce_with_logits", lambda input, target: F.binary_cross_entropy_with_logits(input, target),
              {"input": logits, "target": y}, {"input", "target"})

    seed("loss_ce_inputs")
    logits = torch.randn(6, 5) * 2
    target = torch.tensor([0, 4, -100, 2, 2, -100], dtype=torch.int64)
    target_all = torch.tensor([0, 4, 1, 2, 2, 3], dtype=torch.int64)
    for name, t, ls, red in [("ce", target_all, 0.0, "mean"), ("ce_ignore", target, 0.0, "mean"),
                             ("ce_smooth", target_all, 0.1, "mean"), ("ce_ignore_smooth", target, 0.2, "mean"),
                             ("ce_sum", target, 0.1, "sum"), ("ce_none", target, 0.1, "none")]:
        loss_case(name, lambda input, target, ls=ls, red=red: F.cross_entropy(input, target, label_smoothing=ls, reduction=red),
                  {"input": logits, "target": t}, {"input"})
    # [B, T, C] logits with class last (latent's layout, a language model's): PyTorch wants classes in dim 1.
    seq_logits = torch.randn(2, 3, 5)
    seq_target = torch.tensor([[1, 0, 4], [3, -100, 2]], dtype=torch.int64)
    loss_case("ce_seq", lambda input, target: F.cross_entropy(input.transpose(1, 2), target, label_smoothing=0.1),
              {"input": seq_logits, "target": seq_target}, {"input"})

    log_probs = F.log_softmax(torch.randn(6, 5), dim=1)
    loss_case("nll", lambda input, target: F.nll_loss(input, target), {"input": log_probs, "target": target}, {"input"})
    loss_case("nll_ignore2_sum", lambda input, target: F.nll_loss(input, target, ignore_index=2, reduction="sum"),
              {"input": log_probs, "target": target_all}, {"input"})

    seed("loss_gnll_inputs")
    inp, tgt = torch.randn(5, 4), torch.randn(5, 4)
    var = torch.rand(5, 4) + 0.1
    var[1, 2] = 1e-8  # below eps: clamped, gradient passed through unchanged
    loss_case("gaussian_nll", lambda input, target, var: F.gaussian_nll_loss(input, target, var),
              {"input": inp, "target": tgt, "var": var}, {"input", "target", "var"})
    loss_case("gaussian_nll_full_sum", lambda input, target, var: F.gaussian_nll_loss(input, target, var, full=True, reduction="sum"),
              {"input": inp, "target": tgt, "var": torch.rand(5, 1) + 0.2}, {"input", "target", "var"})

    seed("loss_kl_inputs")
    loss_case("kl_normal", lambda mu, logvar: -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()),
              {"mu": torch.randn(4, 3), "logvar": torch.randn(4, 3) * 0.5}, {"mu", "logvar"})
    torch.set_default_dtype(torch.float32)


def main():
    shutil.rmtree(DATA, ignore_errors=True)
    linear_cases()
    conv_cases()
    norm_cases()
    embedding_cases()
    activation_cases()
    mlp_case()
    vae_case()
    loss_cases()
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(DATA) for f in fs)
    count = sum(len(fs) for _, _, fs in os.walk(DATA))
    print(f"wrote {count} files, {total / 1024:.1f} KiB, into {os.path.relpath(DATA)}")


if __name__ == "__main__":
    main()
