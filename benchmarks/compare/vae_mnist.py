#!/usr/bin/python3
"""The MLP VAE of examples/vae_mnist.cpp in PyTorch (that of PyTorch's examples/vae: 784-400-20-400-784,
Bernoulli likelihood), trained identically: the shipped MNIST-10k with every 10th image held out (9,000 for
training, 1,000 for testing); dynamic binarisation of every training batch; the test set binarised once with the same
splitmix64 hash as the C++ example; Adam(lr 1e-3), batch 128 (reshuffled every epoch, last batch partial),
loss = mean over the batch of the negative ELBO (analytic KL). Prints the test negative ELBO in nats (one
posterior sample per example, as the C++ example) and the training time.

    /usr/bin/python3 benchmarks/compare/vae_mnist.py --epochs 20 --threads 1
"""
import argparse
import pathlib
import struct
import time

import thread_limits  # noqa: F401  (first: --threads binds OpenBLAS too)
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parents[2]


def read_idx(path):
    data = pathlib.Path(path).read_bytes()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an unsigned-byte IDX file"
    shape = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def hash_binarise(x):
    """pixel i is 1 when u_i < p_i, u_i = splitmix64(i + 0x5EED) / 2^64 (as hash_binarise in vae_mnist.cpp)."""
    with np.errstate(over="ignore"):
        z = np.arange(x.size, dtype=np.uint64) + np.uint64(0x5EED) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (u < x.reshape(-1).astype(np.float64)).astype(np.float32).reshape(x.shape)


class VAE(nn.Module):
    def __init__(self, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, latent)
        self.fc22 = nn.Linear(400, latent)
        self.fc3 = nn.Linear(latent, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


def neg_elbo(logits, x, mu, logvar):
    """per example: -log p(x|z) + KL(q(z|x) || N(0, I))"""
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return rec + kl


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--latent", type=int, default=20)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    data = ROOT / "data" / "mnist-10k"
    images = read_idx(data / "mnist10k-images-idx3-ubyte").reshape(-1, 784).astype(np.float32) / 255.0
    held_out = np.arange(images.shape[0]) % 10 == 9  # every 10th image: the file is sorted by class
    train = torch.from_numpy(images[~held_out].copy())
    test = torch.from_numpy(hash_binarise(images[held_out]))

    model = VAE(a.latent)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = torch.randperm(train.shape[0])
        total = 0.0
        for b in range(0, train.shape[0], 128):
            x = torch.bernoulli(train[order[b:b + 128]])
            logits, mu, logvar = model(x)
            loss = neg_elbo(logits, x, mu, logvar).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
        print(f"epoch {epoch}: train loss {total / train.shape[0]:.2f}  ({time.perf_counter() - start:.1f} s)", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1234)
        logits, mu, logvar = model(test)
        test_neg_elbo = neg_elbo(logits, test, mu, logvar).mean().item()
    print(f"test -ELBO: {test_neg_elbo:.2f} nats after {a.epochs} epochs, {seconds:.1f} s training "
          f"(torch {torch.__version__}, {a.threads} threads)")


if __name__ == "__main__":
    main()
