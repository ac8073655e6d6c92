#!/usr/bin/env python3
"""Reference trajectories of torch.optim for latent's optim/ tests (tests/optim/optim_reference_test.cpp).

Run from anywhere with the Python that has torch 1.13 and numpy (Debian: /usr/bin/python3):
    /usr/bin/python3 tests/reference/optim/make_optim_reference.py
It rewrites the .npy files next to this script. Everything is float64 and deterministic (fixed seed).

Three parameters p0 [3,4], p1 [5], p2 [] take 10 optimizer steps with fixed gradient sequences; p2 has no
gradient on steps 3 and 7 (torch skips it: no update, its Adam step counter does not advance). Some gradient
entries are ~1e-8, so where eps enters Adam's denominator shows in the trajectory.

Files (N = 18 = 12 + 5 + 1 elements, parameters flattened and concatenated in order):
  init.npy          [N]       initial parameter values
  grads.npy         [10, N]   gradient at each step (entries of a parameter without gradient are 0 and unused)
  has_grad.npy      [10, 3]   1.0 where the parameter has a gradient at that step
  traj_<name>.npy   [10, N]   parameter values after each step, for every optimizer configuration below
  clip_grads_in.npy [N]       gradients given to torch.nn.utils.clip_grad_norm_
  clip_norms.npy    [C]       total norms it returned, for the (max_norm, norm_type) pairs in CLIP_CASES
  clip_grads.npy    [C, N]    the gradients after clipping
"""
import pathlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parent
SHAPES = [(3, 4), (5,), ()]
STEPS = 10
NO_GRAD = {(3, 2), (7, 2)}  # (step, parameter) pairs without a gradient

# name -> (optimizer class, list of (parameter indices, options) groups)
CONFIGS = {
    "sgd_plain": (torch.optim.SGD, [([0, 1, 2], dict(lr=0.1))]),
    "sgd_nesterov_wd": (torch.optim.SGD, [([0, 1, 2], dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01))]),
    "sgd_dampening": (torch.optim.SGD, [([0, 1, 2], dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.001))]),
    "adam_default": (torch.optim.Adam, [([0, 1, 2], dict())]),
    "adam_wd": (torch.optim.Adam, [([0, 1, 2], dict(lr=1e-2, weight_decay=0.1))]),
    "adam_amsgrad": (torch.optim.Adam, [([0, 1, 2], dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, amsgrad=True))]),
    "adamw_default_wd": (torch.optim.AdamW, [([0, 1, 2], dict(lr=1e-2))]),
    "adamw_amsgrad": (torch.optim.AdamW, [([0, 1, 2], dict(lr=5e-3, weight_decay=0.1, amsgrad=True))]),
    "adam_groups": (torch.optim.Adam, [([0], dict(lr=1e-2)), ([1, 2], dict(lr=1e-3, weight_decay=0.1))]),
}

CLIP_CASES = [(1.0, 2.0), (0.5, 1.0), (0.1, float("inf")), (2.0, 3.5), (1e3, 2.0)]  # last: no clipping


def make_inputs(gen):
    init = [torch.randn(s, generator=gen, dtype=torch.float64) for s in SHAPES]
    grads = []
    for step in range(STEPS):
        gs = []
        for k, s in enumerate(SHAPES):
            g = torch.randn(s, generator=gen, dtype=torch.float64) * (0.5 + step / STEPS)
            if k == 0:
                g[0, :2] *= 1e-8  # v ~ 1e-16: sqrt(v_hat) and eps are of the same size
                g[2, 3] = 0.0 if step >= 4 else g[2, 3]  # m decays, v decays: eps dominates late
            gs.append(g)
        grads.append(gs)
    return init, grads


def flat(ts):
    return np.concatenate([t.detach().numpy().reshape(-1) for t in ts])


def run(opt_class, groups, init, grads):
    params = [t.clone().requires_grad_(True) for t in init]
    opt = opt_class([dict(params=[params[i] for i in idx], **kw) for idx, kw in groups], foreach=False)
    traj = []
    for step in range(STEPS):
        for k, p in enumerate(params):
            p.grad = None if (step, k) in NO_GRAD else grads[step][k].clone()
        opt.step()
        traj.append(flat(params))
    return np.stack(traj)


def main():
    gen = torch.Generator().manual_seed(20240611)
    init, grads = make_inputs(gen)
    np.save(OUT / "init.npy", flat(init))
    np.save(OUT / "grads.npy", np.stack([flat(gs) for gs in grads]))
    np.save(OUT / "has_grad.npy",
            np.array([[0.0 if (s, k) in NO_GRAD else 1.0 for k in range(len(SHAPES))] for s in range(STEPS)]))
    for name, (opt_class, groups) in CONFIGS.items():
        np.save(OUT / f"traj_{name}.npy", run(opt_class, groups, init, grads))

    clip_in = [torch.randn(s, generator=gen, dtype=torch.float64) for s in SHAPES]
    np.save(OUT / "clip_grads_in.npy", flat(clip_in))
    norms, clipped = [], []
    for max_norm, norm_type in CLIP_CASES:
        params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
        for p, g in zip(params, clip_in):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        norms.append(total.item())
        clipped.append(flat([p.grad for p in params]))
    np.save(OUT / "clip_norms.npy", np.array(norms))
    np.save(OUT / "clip_grads.npy", np.stack(clipped))
    print(f"torch {torch.__version__}: wrote {len(CONFIGS)} trajectories and {len(CLIP_CASES)} clip cases to {OUT.name}/")


if __name__ == "__main__":
    main()
