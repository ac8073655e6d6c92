#!/usr/bin/env python3
"""PyTorch twin of examples/gan_2d.cpp: the same MLP players (G: latent 8 -> 128 -> 128 -> 128 -> 2 with ReLU;
D: 2 -> 128 -> 128 -> 128 -> 1 with LeakyReLU 0.2; PyTorch's default initialisation), the same non-saturating loss,
R1 penalty on real data (gamma 0.1 on the ring, 0.01 on the grid, on standardised data), Adam (betas 0.5, 0.999),
learning rates, batch, steps, one discriminator step per generator step, EMA of the generator (0.999 with
TensorFlow's warm-up), data standardisation, and the same metrics on 2,500 EMA samples (PacGAN/VEEGAN: modes with at
least 20 % of their expected share of high-quality samples, high quality = within 3 sigma of the nearest centre,
reverse KL of the mode histogram to uniform). Prints the mode figures and the training time.

    /usr/bin/python3 benchmarks/compare/gan_2d.py --data 25gaussians --seed 1 --threads 1

The toy data (50,000 points) is drawn with NumPy from the same definitions as data/toy2d.hpp (not the same random
numbers); torch.manual_seed(seed) drives initialisation, batches and noise.
"""
import argparse
import math
import time

import thread_limits  # noqa: F401  (first: --threads binds OpenBLAS too)
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mixture(name):
    if name == "8gaussians":
        d = 1 / math.sqrt(2)
        unit = [[1, 0], [-1, 0], [0, 1], [0, -1], [d, d], [d, -d], [-d, d], [-d, -d]]
        return 4 / 1.414 * np.array(unit), 0.5 / 1.414
    if name == "25gaussians":
        return np.array([[2 * i / 2.828, 2 * j / 2.828] for i in range(-2, 3) for j in range(-2, 3)]), 0.05 / 2.828
    raise ValueError(name)


def toy2d(name, n, rng):
    centers, sd = mixture(name)
    return centers[rng.integers(0, len(centers), n)] + sd * rng.standard_normal((n, 2))


def mode_coverage(x, name, radius_stddevs=3.0, min_share=0.2):
    centers, sd = mixture(name)
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    nearest, best = d2.argmin(1), d2.min(1)
    good = best <= (radius_stddevs * sd) ** 2
    counts = np.bincount(nearest[good], minlength=len(centers))
    covered = int(((counts > 0) & (counts >= min_share * len(x) / len(centers))).sum())
    p = counts[counts > 0] / max(good.sum(), 1)
    kl = float((p * np.log(len(centers) * p)).sum()) if good.sum() else math.inf
    return covered, len(centers), good.mean(), kl


def mlp(d_in, hidden, depth, d_out, leaky):
    layers, width = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2) if leaky else nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, d_out))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="8gaussians", choices=["8gaussians", "25gaussians"])
    p.add_argument("--steps", type=int, default=0, help="0: 3000 for 8gaussians, else 10000")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--lr-g", type=float, default=1e-3)
    p.add_argument("--lr-d", type=float, default=1e-3)
    p.add_argument("--r1", type=float, default=-1, help="-1: 0.1 for 8gaussians, else 0.01")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--samples", type=int, default=2500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    ring = a.data == "8gaussians"
    steps = a.steps or (3000 if ring else 10000)
    r1 = a.r1 if a.r1 >= 0 else (0.1 if ring else 0.01)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    raw = torch.tensor(toy2d(a.data, 50000, np.random.default_rng(a.seed)), dtype=torch.float32)
    mean, scale = raw.mean(0), raw.std(0, unbiased=False)
    train = (raw - mean) / scale

    G = mlp(a.latent, a.hidden, 3, 2, leaky=False)
    D = mlp(2, a.hidden, 3, 1, leaky=True)
    g_opt = torch.optim.Adam(G.parameters(), lr=a.lr_g, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=a.lr_d, betas=(0.5, 0.999))
    ema = [q.detach().clone() for q in G.parameters()]

    start, cpu = time.time(), time.process_time()
    for step in range(steps):
        real = train[torch.randint(0, len(train), (a.batch,))]
        with torch.no_grad():
            fake = G(torch.randn(a.batch, a.latent))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        if r1 > 0:
            x = real.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
            d_loss = d_loss + r1 / 2 * g.pow(2).sum(1).mean()
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = F.softplus(-D(G(torch.randn(a.batch, a.latent)))).mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        decay = min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, q in zip(ema, G.parameters()):
                e.lerp_(q, 1 - decay)
    train_s, train_cpu = time.time() - start, time.process_time() - cpu
    with torch.no_grad():
        for q, e in zip(G.parameters(), ema):
            q.copy_(e)
        x = (G(torch.randn(a.samples, a.latent)) * scale + mean).double().numpy()
    covered, k, hq, kl = mode_coverage(x, a.data)
    print(f"pytorch {torch.__version__}: trained {steps} generator steps in {train_s:.1f} s wall, {train_cpu:.1f} s CPU "
          f"({steps / train_s:.0f} steps/s)")
    print(f"modes covered {covered}/{k}   high quality {100 * hq:.1f}%   reverse KL {kl:.4f}")


if __name__ == "__main__":
    main()
