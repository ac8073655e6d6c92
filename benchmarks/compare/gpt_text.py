#!/usr/bin/python3
"""The GPT of examples/gpt_text.cpp in PyTorch, trained identically: nanoGPT's model (tests/nn/gpt_reference.py,
bias-free LayerNorms and Linears, exact GELU, tied head, nanoGPT's init), character-level on the shipped Pride and
Prejudice (vocabulary sorted(set(text)), first 90% for training, last 10% held out), nanoGPT's CPU configuration
(4 layers, 4 heads, 128 embedding, block 64, batch 12 random windows, 2000 iterations, no dropout), AdamW with
weight decay 0.1 on the 2-D parameters only, betas (0.9, 0.99), lr 1e-3 with 100 warmup iterations and cosine
decay to 1e-4 at the last iteration, gradient norm clipped to 1; train/val loss as the mean of 20 random batches
every 250 iterations and after the last. Prints the final validation loss and the training time (evaluation
excluded), and the loss over every non-overlapping block of the held-out text, as the C++ example does. The random streams differ from the C++ run; the expected losses do not.

    nice -n 5 /usr/bin/python3 benchmarks/compare/gpt_text.py --threads 1
"""
import argparse
import math
import pathlib
import sys
import time

import thread_limits  # noqa: F401  (first: --threads binds OpenBLAS too)
import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "nn"))
from gpt_reference import GPT  # noqa: E402  (nanoGPT's model.py, restated)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / "data" / "text" / "austen" / "prideprejudice.txt"))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--embd", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    text = pathlib.Path(a.data).read_bytes()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(ids))
    train_data, val_data = ids[:n], ids[n:]
    print(f"{pathlib.Path(a.data).name}: {len(text)} bytes, vocabulary {len(chars)}, train {len(train_data)}, val {len(val_data)}")

    model = GPT(dict(vocab_size=len(chars), block_size=a.block, n_layer=a.layers, n_head=a.heads, n_embd=a.embd, bias=False, rope=False))
    print(f"{sum(q.numel() for q in model.parameters())} parameters")
    # nanoGPT's configure_optimizers
    params = [q for q in model.parameters() if q.requires_grad]
    groups = [{"params": [q for q in params if q.dim() >= 2], "weight_decay": a.weight_decay},
              {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, a.beta2))

    def get_lr(it):  # nanoGPT's get_lr with lr_decay_iters = steps
        if it < a.warmup:
            return a.lr * (it + 1) / (a.warmup + 1)
        if it > a.steps:
            return a.min_lr
        ratio = (it - a.warmup) / (a.steps - a.warmup)
        return a.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (a.lr - a.min_lr)

    def get_batch(data):
        ix = torch.randint(len(data) - a.block, (a.batch,))
        x = torch.stack([data[i:i + a.block] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + a.block] for i in ix])
        return x, y

    def loss_of(x, y):
        logits = model(x)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = []
        for data in (train_data, val_data):
            out.append(float(np.mean([loss_of(*get_batch(data)).item() for _ in range(a.eval_iters)])))
        model.train()
        return out

    train_seconds = eval_seconds = 0.0
    for it in range(a.steps):
        if a.eval_interval > 0 and it % a.eval_interval == 0:
            t0 = time.perf_counter()
            tl, vl = estimate_loss()
            eval_seconds += time.perf_counter() - t0
            print(f"step {it}: train loss {tl:.4f}, val loss {vl:.4f}", flush=True)
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = get_lr(it)
        loss = loss_of(*get_batch(train_data))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        train_seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    tl, vl = estimate_loss()
    eval_seconds += time.perf_counter() - t0
    with torch.no_grad():  # every non-overlapping window of the held-out 10% (data::sequential_windows)
        model.eval()
        count = (len(val_data) - 1) // a.block
        xs = val_data[:count * a.block].view(count, a.block)
        ys = val_data[1:count * a.block + 1].view(count, a.block)
        full = sum(loss_of(xs[i:i + 64], ys[i:i + 64]).item() * len(xs[i:i + 64]) for i in range(0, count, 64)) / count
    print(f"full validation set ({count} windows of {a.block}): {full:.4f} nats/token")
    print(f"final: train loss {tl:.4f}, val loss {vl:.4f} nats/token ({vl / math.log(2):.4f} bits) after {a.steps} steps; "
          f"{train_seconds:.1f} s training + {eval_seconds:.1f} s evaluation (torch {torch.__version__}, {a.threads} thread(s))")


if __name__ == "__main__":
    main()
