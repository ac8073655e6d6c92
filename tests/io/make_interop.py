#!/usr/bin/python3
"""Writes the files tests/io/*_test.cpp read to check interop with NumPy and PyTorch (torch -> latent).

Run from anywhere with Debian's python3-torch (1.13):  /usr/bin/python3 tests/io/make_interop.py
Deterministic: re-running reproduces the committed files byte for byte.

data/numpy_*.npy                 arrays saved by np.save (the oracle for save_npy's bytes)
data/torch_mlp.safetensors       state_dict of Sequential(Linear(5,16), LayerNorm(16), ReLU(), Linear(16,3))
data/torch_mlp_io.safetensors    its input [4,5] and output [4,3]
data/torch_convnet.safetensors   state_dict of Sequential(Conv2d(2,4,3,padding=1), BatchNorm2d(4), ReLU(),
                                 Conv2d(4,3,3,stride=2)) in eval mode (float32 and int64 num_batches_tracked)
data/torch_convnet_io.safetensors  its input [2,2,6,6] and output [2,3,2,2]
data/torch_mlp_f64.safetensors   the MLP in float64 with its input and output (prefixes model., input, output)
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
sys.path.insert(0, HERE)
import safetensors_py  # noqa: E402

torch.set_num_threads(1)


def state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def main():
    os.makedirs(DATA, exist_ok=True)
    np.save(os.path.join(DATA, "numpy_f32_2x3.npy"), (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3))
    np.save(os.path.join(DATA, "numpy_f64_3.npy"), np.array([0.1, -2.5, 1e300], dtype=np.float64))
    np.save(os.path.join(DATA, "numpy_i64_scalar.npy"), np.array(-7, dtype=np.int64))
    np.save(os.path.join(DATA, "numpy_u8_2x2x2.npy"), np.array([0, 1, 127, 128, 254, 255, 3, 4], np.uint8).reshape(2, 2, 2))

    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(5, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():  # a non-trivial affine LayerNorm
        mlp[1].weight.uniform_(0.5, 1.5)
        mlp[1].bias.uniform_(-0.5, 0.5)
        x = torch.randn(4, 5)
        y = mlp(x)
    meta = {"format": "pt"}  # what safetensors.torch.save_file(..., metadata={"format": "pt"}) records
    safetensors_py.save(os.path.join(DATA, "torch_mlp.safetensors"), state(mlp), meta)
    safetensors_py.save(os.path.join(DATA, "torch_mlp_io.safetensors"), {"input": x.numpy(), "output": y.numpy()})

    mlp64 = mlp.double()
    with torch.no_grad():
        x64 = torch.randn(3, 5, dtype=torch.float64)
        y64 = mlp64(x64)
    arrays = {"model." + k: v for k, v in state(mlp64).items()}
    arrays.update({"input": x64.numpy(), "output": y64.numpy()})
    safetensors_py.save(os.path.join(DATA, "torch_mlp_f64.safetensors"), arrays, meta)

    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2))
    with torch.no_grad():
        bn = net[1]
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.num_batches_tracked.fill_(7)
        net.eval()
        x = torch.randn(2, 2, 6, 6)
        y = net(x)
    safetensors_py.save(os.path.join(DATA, "torch_convnet.safetensors"), state(net), meta)
    safetensors_py.save(os.path.join(DATA, "torch_convnet_io.safetensors"), {"input": x.numpy(), "output": y.numpy()})


if __name__ == "__main__":
    main()
