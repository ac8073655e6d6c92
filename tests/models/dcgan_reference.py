#!/usr/bin/python3
"""Writes the PyTorch reference vectors that tests/models/gan_nets_test.cpp compares models::DCGANGenerator and
models::DCGANDiscriminator with.

Run from anywhere with Debian's python3-torch (1.13):  /usr/bin/python3 tests/models/dcgan_reference.py
Deterministic: each case seeds torch from its own name, runs on one thread in float64, and the folder
tests/models/data/dcgan/ is rebuilt from scratch, so re-running it reproduces the committed files.

The networks below are the DCGAN pair of BENCHMARKS.md (W2) written in plain PyTorch, with the conditional parts:
G concatenates z with nn.Embedding(num_classes, latent_dim)(y); D adds the projection <embed(y), phi(x)> (Miyato &
Koyama 2018) to fc(phi(x)), phi being the flattened features before fc. The cases use a small configuration
(8x8 images) so the committed files stay small; `default_counts` records the parameter count of the default
(28x28, z 100) pair for the count test.

Layout: data/dcgan/<case>/ holds one float64 .npy per array:
  G.<name>, D.<name>   every state_dict entry of G and D (int64 for num_batches_tracked)
  z [B, latent], labels int64 [B] (conditional cases), real [B, C, S, S]
  fake                 G(z[, labels]) in training mode (batch statistics)
  d_real, d_fake       D(real[, labels]), D(fake[, labels]) in training mode, [B, 1]
  loss                 0-d: mean(softplus(-d_real)) + mean(softplus(d_fake)) (fake not detached)
  gradG.<name>, gradD.<name>   d loss / d parameter
  config               int64 [latent_dim, channels, image_size, g_features, d_features, num_classes]
default_counts.npy     int64 [G parameters, D parameters] of the default unconditional pair
"""
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "dcgan")

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


class Generator(nn.Module):
    def __init__(self, latent_dim=100, channels=1, image_size=28, g_features=128, num_classes=0):
        super().__init__()
        self.base, self.g = image_size // 4, g_features
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes, latent_dim)
        self.num_classes = num_classes
        self.fc = nn.Linear(latent_dim * (2 if num_classes else 1), g_features * self.base * self.base)
        self.bn0 = nn.BatchNorm1d(g_features * self.base * self.base)
        self.deconv1 = nn.ConvTranspose2d(g_features, g_features // 2, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(g_features // 2)
        self.deconv2 = nn.ConvTranspose2d(g_features // 2, channels, 4, 2, 1)

    def forward(self, z, y=None):
        if self.num_classes:
            z = torch.cat([z, self.label_emb(y)], 1)
        h = F.relu(self.bn0(self.fc(z))).view(z.shape[0], self.g, self.base, self.base)
        return torch.tanh(self.deconv2(F.relu(self.bn1(self.deconv1(h)))))


class Discriminator(nn.Module):
    def __init__(self, channels=1, image_size=28, d_features=64, num_classes=0):
        super().__init__()
        width = 2 * d_features * (image_size // 4) ** 2
        self.conv1 = nn.Conv2d(channels, d_features, 4, 2, 1)
        self.conv2 = nn.Conv2d(d_features, 2 * d_features, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(2 * d_features)
        self.fc = nn.Linear(width, 1)
        self.num_classes = num_classes
        if num_classes > 0:
            self.embed = nn.Embedding(num_classes, width)

    def forward(self, x, y=None):
        phi = torch.flatten(F.leaky_relu(self.bn2(self.conv2(F.leaky_relu(self.conv1(x), 0.2))), 0.2), 1)
        out = self.fc(phi)
        if self.num_classes:
            out = out + (phi * self.embed(y)).sum(1, keepdim=True)
        return out


def save(case, name, t):
    d = os.path.join(DATA, case)
    os.makedirs(d, exist_ok=True)
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    np.save(os.path.join(d, name + ".npy"), np.array(a, order="C"))


def case(name, latent_dim, channels, image_size, g_features, d_features, num_classes, batch):
    torch.manual_seed(zlib.crc32(name.encode()))
    G = Generator(latent_dim, channels, image_size, g_features, num_classes)
    D = Discriminator(channels, image_size, d_features, num_classes)
    for k, v in G.state_dict().items():
        save(name, "G." + k, v)
    for k, v in D.state_dict().items():
        save(name, "D." + k, v)
    z = torch.randn(batch, latent_dim)
    real = torch.rand(batch, channels, image_size, image_size) * 2 - 1
    y = torch.randint(0, num_classes, (batch,)) if num_classes else None
    fake = G(z, y)
    d_real, d_fake = D(real, y), D(fake, y)
    loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    loss.backward()
    save(name, "z", z)
    save(name, "real", real)
    if y is not None:
        save(name, "labels", y)
    save(name, "fake", fake)
    save(name, "d_real", d_real)
    save(name, "d_fake", d_fake)
    save(name, "loss", loss)
    for k, p in G.named_parameters():
        save(name, "gradG." + k, p.grad)
    for k, p in D.named_parameters():
        save(name, "gradD." + k, p.grad)
    save(name, "config", np.array([latent_dim, channels, image_size, g_features, d_features, num_classes], dtype=np.int64))


def main():
    shutil.rmtree(DATA, ignore_errors=True)
    os.makedirs(DATA)
    case("unconditional", latent_dim=6, channels=1, image_size=8, g_features=8, d_features=4, num_classes=0, batch=5)
    case("conditional", latent_dim=6, channels=2, image_size=8, g_features=8, d_features=4, num_classes=3, batch=5)
    counts = [sum(p.numel() for p in Generator().parameters()), sum(p.numel() for p in Discriminator().parameters())]
    np.save(os.path.join(DATA, "default_counts.npy"), np.array(counts, dtype=np.int64))
    print("default DCGAN parameters: G", counts[0], "D", counts[1])


if __name__ == "__main__":
    main()
