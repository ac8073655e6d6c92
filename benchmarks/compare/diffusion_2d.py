#!/usr/bin/env python3
"""PyTorch twin of examples/diffusion_2d.cpp: the same TimeMLP, the same DDPM (linear schedule, T = 1000,
epsilon-prediction) or flow-matching model, Adam, batch, steps, EMA (0.999 with warm-up), data standardisation and
samplers (DDPM ancestral over all 1000 steps; flow: Euler, 100 steps), and the same metrics (MMD with the median
heuristic; C2ST with a 64x64 ReLU MLP, 100 epochs, 30 % held out). Prints C2ST, MMD and the training time.

    /usr/bin/python3 benchmarks/compare/diffusion_2d.py --data swiss_roll --model ddpm --threads 1

The toy data is drawn with NumPy from the same definitions as data/toy2d.hpp (not the same random numbers).
"""
import argparse
import math
import time

import thread_limits  # noqa: F401  (first: --threads binds OpenBLAS too)
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def toy2d(name, n, rng):
    if name == "swiss_roll":
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))
        x = np.stack([t * np.cos(t), t * np.sin(t)], 1) + rng.standard_normal((n, 2))
        return x / 5.0
    if name == "moons":
        n_out = n // 2
        n_in = n - n_out
        a_out = np.linspace(0, np.pi, n_out)
        a_in = np.linspace(0, np.pi, n_in)
        x = np.concatenate([np.stack([np.cos(a_out), np.sin(a_out)], 1),
                            np.stack([1 - np.cos(a_in), 1 - np.sin(a_in) - 0.5], 1)])
        x = x[rng.permutation(n)] + 0.1 * rng.standard_normal((n, 2))
        return 2 * x + np.array([-1.0, -0.2])
    if name == "8gaussians":
        d = 1 / math.sqrt(2)
        centers = 4 / 1.414 * np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [d, d], [d, -d], [-d, d], [-d, -d]])
        return centers[rng.integers(0, 8, n)] + 0.5 / 1.414 * rng.standard_normal((n, 2))
    if name == "25gaussians":
        centers = np.array([[2 * i / 2.828, 2 * j / 2.828] for i in range(-2, 3) for j in range(-2, 3)])
        return centers[rng.integers(0, 25, n)] + 0.05 / 2.828 * rng.standard_normal((n, 2))
    if name == "checkerboard":
        x1 = 4 * rng.random(n) - 2
        x2 = rng.random(n) - 2 * rng.integers(0, 2, n) + np.floor(x1) % 2
        return 2 * np.stack([x1, x2], 1)
    if name == "pinwheel":
        arm = rng.permutation(n) % 5
        f = np.stack([1 + 0.3 * rng.standard_normal(n), 0.1 * rng.standard_normal(n)], 1)
        a = 2 * np.pi * arm / 5 + 0.25 * np.exp(f[:, 0])
        return 2 * np.stack([f[:, 0] * np.cos(a) + f[:, 1] * np.sin(a), -f[:, 0] * np.sin(a) + f[:, 1] * np.cos(a)], 1)
    return np.load(name)


def sinusoidal(t, dim, max_period=10000.0):
    half = dim // 2
    f = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angle = t[:, None] * f[None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], 1)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h, c):
        return h + self.fc2(F.silu(self.fc1(F.silu(h)) + c))


class TimeMLP(nn.Module):
    """latent's nn::TimeMLP (same parameter names, so model.safetensors loads with load_state_dict)."""

    def __init__(self, d_in=2, hidden=128, depth=3, time_dim=64, time_scale=1000.0):
        super().__init__()
        self.time_dim, self.time_scale = time_dim, time_scale
        self.time_fc1 = nn.Linear(time_dim, hidden)
        self.time_fc2 = nn.Linear(hidden, hidden)
        self.input = nn.Linear(d_in, hidden)
        self.blocks = nn.ModuleList([Block(hidden) for _ in range(depth)])
        self.output = nn.Linear(hidden, d_in)

    def forward(self, x, t):
        c = self.time_fc2(F.silu(self.time_fc1(sinusoidal(t * self.time_scale, self.time_dim))))
        h = self.input(x)
        for b in self.blocks:
            h = b(h, c)
        return self.output(F.silu(h))


def linear_alpha_bar(T, beta_start=1e-4, beta_end=0.02):
    return torch.cumprod(1 - torch.linspace(beta_start, beta_end, T, dtype=torch.float64), 0)


def mmd2(x, y):
    z = torch.cat([x[:1000], y[:1000]]).double()
    d = torch.cdist(z, z)
    iu = torch.triu_indices(len(z), len(z), 1)
    h = d[iu[0], iu[1]].median().item() if len(iu[0]) % 2 else torch.quantile(d[iu[0], iu[1]], 0.5).item()
    k = lambda a, b: torch.exp(-torch.cdist(a.double(), b.double()) ** 2 / (2 * h * h)).mean().item()
    return k(x, x) + k(y, y) - 2 * k(x, y)


def c2st(a, b, seed=0, epochs=100, batch=128, test_fraction=0.3):
    g = torch.Generator().manual_seed(seed)
    n = min(len(a), len(b))
    n_test = round(n * test_fraction)
    n_train = n - n_test
    pa, pb = a[torch.randperm(len(a), generator=g)[:n]], b[torch.randperm(len(b), generator=g)[:n]]
    xtr = torch.cat([pa[:n_train], pb[:n_train]]).float()
    ytr = torch.cat([torch.ones(n_train, 1), torch.zeros(n_train, 1)])
    xte = torch.cat([pa[n_train:], pb[n_train:]]).float()
    yte = torch.cat([torch.ones(n_test), torch.zeros(n_test)])
    mu, sd = xtr.mean(0), xtr.std(0, unbiased=False) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(xtr.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(xtr), generator=g)
        for s in range(0, len(xtr) - batch + 1, batch):
            idx = order[s:s + batch]
            loss = F.binary_cross_entropy_with_logits(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return ((net(xte)[:, 0] > 0).float() == yte).float().mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="swiss_roll")
    p.add_argument("--model", default="ddpm", choices=["ddpm", "flow"])
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--samples", type=int, default=4000)
    p.add_argument("--sample-steps", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    allx = torch.tensor(toy2d(a.data, 20000 + a.samples, rng), dtype=torch.float32)
    train, held = allx[:-a.samples], allx[-a.samples:]
    mean, scale = train.mean(0), train.std(0, unbiased=False)
    xn = (train - mean) / scale
    net = TimeMLP(xn.shape[1], a.hidden, a.depth)
    ema = [q.detach().clone() for q in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    T = 1000
    ab = linear_alpha_bar(T).float()
    start, cpu = time.time(), time.process_time()
    for step in range(a.steps):
        x0 = xn[torch.randint(0, len(xn), (a.batch,))]
        eps = torch.randn_like(x0)
        if a.model == "ddpm":
            i = torch.randint(0, T, (a.batch,))
            al, sg = ab[i].sqrt()[:, None], (1 - ab[i]).sqrt()[:, None]
            loss = F.mse_loss(net(al * x0 + sg * eps, (i + 1).float() / T), eps)
        else:
            t = torch.rand(a.batch, 1)
            loss = F.mse_loss(net(eps + t * (x0 - eps), t[:, 0]), x0 - eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, q in zip(ema, net.parameters()):
                e.lerp_(q, 1 - decay)
    train_s, train_cpu = time.time() - start, time.process_time() - cpu
    with torch.no_grad():
        for q, e in zip(net.parameters(), ema):
            q.copy_(e)
        s0 = time.time()
        x = torch.randn(a.samples, xn.shape[1])
        if a.model == "ddpm":
            steps = a.sample_steps or T
            ts = [round((T - 1) * (1 - k / (steps - 1))) for k in range(steps)] if steps > 1 else [T - 1]
            for k, t in enumerate(ts):
                p_ = ts[k + 1] if k + 1 < len(ts) else -1
                ab_t, ab_p = ab[t].item(), (ab[p_].item() if p_ >= 0 else 1.0)
                beta = 1 - ab_t / ab_p
                e = net(x, torch.full((len(x),), (t + 1) / T))
                x0 = (x - math.sqrt(1 - ab_t) * e) / math.sqrt(ab_t)
                x = math.sqrt(ab_p) * beta / (1 - ab_t) * x0 + math.sqrt(ab_t / ab_p) * (1 - ab_p) / (1 - ab_t) * x
                var = (1 - ab_p) / (1 - ab_t) * beta
                if var > 0:
                    x = x + math.sqrt(var) * torch.randn_like(x)
        else:
            steps = a.sample_steps or 100
            for k in range(steps):
                x = x + net(x, torch.full((len(x),), k / steps)) / steps
        sample_s = time.time() - s0
        x = x * scale + mean
    print(f"pytorch {torch.__version__}: trained {a.steps} steps in {train_s:.1f} s wall, {train_cpu:.1f} s CPU "
          f"({a.steps / train_s:.0f} steps/s); sampling {sample_s:.1f} s")
    print(f"{a.model} on {a.data}: MMD² {mmd2(x, held):.5f}   C2ST {c2st(x, held):.3f}   "
          f"(training data floor: C2ST {c2st(train[:a.samples], held):.3f})")


if __name__ == "__main__":
    main()
