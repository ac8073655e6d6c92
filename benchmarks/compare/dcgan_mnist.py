#!/usr/bin/env python3
"""PyTorch twin of examples/dcgan_mnist.cpp (unconditional): the same DCGAN (BENCHMARKS.md's W2 network: G z(100) ->
Linear 128*7*7 -> BatchNorm1d -> ReLU -> ConvTranspose2d 128->64 k4 s2 p1 -> BatchNorm2d -> ReLU -> ConvTranspose2d
64->1 -> Tanh; D Conv2d 1->64 k4 s2 p1 -> LeakyReLU 0.2 -> Conv2d 64->128 -> BatchNorm2d -> LeakyReLU 0.2 -> Linear
128*7*7->1; PyTorch's default initialisation, which latent's matches), the same data (the 9,000 training images of
MNIST-10k, index % 10 != 9, scaled to [-1, 1], batches drawn with replacement), non-saturating loss, Adam (betas 0.5,
0.999) with the same learning rates, one D step per G step, EMA of G (0.999 with TensorFlow's warm-up). Writes the
EMA generator's samples in [0, 1] as [N, 1, 28, 28] float32 .npy, to be judged by the same digit classifier:

    /usr/bin/python3 benchmarks/compare/dcgan_mnist.py --steps 3000 --threads 1 --out dcgan_torch_samples.npy
    build/release/examples/dcgan_mnist --judge dcgan_torch_samples.npy

Like the example, the generator samples in training mode (BatchNorm with each batch of 500's statistics).
"""
import argparse
import copy
import os
import time

import thread_limits  # noqa: F401  (first: --threads binds OpenBLAS too)
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def load_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


class Generator(nn.Module):
    def __init__(self, latent=100, features=128):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(latent, features * 49)
        self.bn0 = nn.BatchNorm1d(features * 49)
        self.deconv1 = nn.ConvTranspose2d(features, features // 2, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(features // 2)
        self.deconv2 = nn.ConvTranspose2d(features // 2, 1, 4, 2, 1)

    def forward(self, z):
        h = F.relu(self.bn0(self.fc(z))).view(-1, self.features, 7, 7)
        return torch.tanh(self.deconv2(F.relu(self.bn1(self.deconv1(h)))))


class Discriminator(nn.Module):
    def __init__(self, features=64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, features, 4, 2, 1)
        self.conv2 = nn.Conv2d(features, 2 * features, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(2 * features)
        self.fc = nn.Linear(2 * features * 49, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        return self.fc(F.leaky_relu(self.bn2(self.conv2(h)), 0.2).flatten(1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr-g", type=float, default=5e-4)
    p.add_argument("--lr-d", type=float, default=2e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="dcgan_torch_samples.npy")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    mnist = os.path.join(ROOT, "data", "mnist-10k")
    images = load_idx(os.path.join(mnist, "mnist10k-images-idx3-ubyte"))
    keep = np.arange(len(images)) % 10 != 9
    train = torch.from_numpy(images[keep].astype(np.float32) / 255.0 * 2 - 1).unsqueeze(1)

    g, d = Generator(), Discriminator()
    ema = copy.deepcopy(g)
    g_opt = torch.optim.Adam(g.parameters(), lr=a.lr_g, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=a.lr_d, betas=(0.5, 0.999))
    bce = F.binary_cross_entropy_with_logits
    start, cpu = time.time(), time.process_time()
    for step in range(1, a.steps + 1):
        real = train[torch.randint(0, len(train), (a.batch,))]
        fake = g(torch.randn(a.batch, 100))
        lr, lf = d(real), d(fake.detach())
        d_loss = bce(lr, torch.ones_like(lr)) + bce(lf, torch.zeros_like(lf))
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        out = d(g(torch.randn(a.batch, 100)))
        g_loss = bce(out, torch.ones_like(out))
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        decay = min(a.ema, (1 + step) / (10 + step))  # TensorFlow's ExponentialMovingAverage warm-up
        with torch.no_grad():
            for pe, pg in zip(ema.parameters(), g.parameters()):
                pe.mul_(decay).add_(pg, alpha=1 - decay)
        if step % 500 == 0:
            print(f"step {step}: d {d_loss.item():.4f} g {g_loss.item():.4f}", flush=True)
    print(f"pytorch {torch.__version__}: trained {a.steps} steps in {time.time() - start:.1f} s wall, "
          f"{time.process_time() - cpu:.1f} s CPU")
    with torch.no_grad():
        parts = [ema(torch.randn(min(500, a.samples - s), 100)) for s in range(0, a.samples, 500)]
    samples = ((torch.cat(parts) + 1) / 2).numpy().astype(np.float32)
    np.save(a.out, samples)
    print(f"wrote {a.out} {samples.shape}")


if __name__ == "__main__":
    main()
