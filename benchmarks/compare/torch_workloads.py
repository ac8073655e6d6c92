#!/usr/bin/python3
"""PyTorch twins of latent's benchmarks (../workloads.cpp, ../gemm.cpp, ../overhead.cpp): the same workloads,
sizes, benchmark names and timing protocol as ../bench_common.hpp, written as a PyTorch user would write them
(eager mode, torch 1.13 as Debian ships it).

    /usr/bin/python3 torch_workloads.py [--threads N] [--filter REGEX] [--out FILE]
    /usr/bin/python3 torch_workloads.py --peak-memory W1|W4|idle [--steps N]

Prints (or writes to --out) JSON shaped like Google Benchmark's, with the same counters (median_ms, p25_ms,
p75_ms, samples, batch, GFLOPS, loss), so that scripts/bench reads all three implementations alike.
OpenBLAS's threads follow OPENBLAS_NUM_THREADS, which scripts/bench sets per run.
"""
import argparse
import json
import math
import re
import sys
import time

import torch

# The protocol constants of bench_common.hpp.
WORKLOAD_WARMUP = 5
W1_SAMPLES = 30
W4_SAMPLES = 100
MICRO_SAMPLES = 7
GEMM_SAMPLE_SECONDS = 0.02
OVERHEAD_SAMPLE_SECONDS = 0.002


def quantile(values, q):
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def measure(fn, warmup, samples, batch):
    for _ in range(warmup):
        fn()
    per_call = []
    clock = time.perf_counter
    for _ in range(samples):
        start = clock()
        for _ in range(batch):
            fn()
        per_call.append((clock() - start) / batch)
    return {"median_s": quantile(per_call, 0.5), "p25_s": quantile(per_call, 0.25), "p75_s": quantile(per_call, 0.75),
            "min_s": min(per_call), "samples": samples, "batch": batch}


def measure_calibrated(fn, warmup, samples, sample_seconds):
    for _ in range(warmup):
        fn()
    batch = 1
    while True:  # double the batch until it lasts a tenth of a sample, then extrapolate from the fastest of 3
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        t = time.perf_counter() - start
        if t >= sample_seconds:  # this batch already fills a sample (large GEMMs: batch 1)
            break
        if t >= sample_seconds / 10 or batch >= 1 << 24:
            for _ in range(2):
                start = time.perf_counter()
                for _ in range(batch):
                    fn()
                t = min(t, time.perf_counter() - start)
            batch = max(1, math.ceil(sample_seconds / (t / batch)))
            break
        batch *= 2
    return measure(fn, 0, samples, batch)


def result(name, timing, unit, flops=0.0, **extra):
    scale = {"ms": 1e3, "us": 1e6, "ns": 1e9}[unit]
    r = {"name": name, "run_name": name, "iterations": 1, "real_time": timing["median_s"] * scale, "time_unit": unit,
         "median_ms": timing["median_s"] * 1e3, "p25_ms": timing["p25_s"] * 1e3, "p75_ms": timing["p75_s"] * 1e3, "min_ms": timing["min_s"] * 1e3,
         "samples": timing["samples"], "batch": timing["batch"]}
    if flops:
        r["GFLOPS"] = flops / timing["median_s"] * 1e-9
    r.update(extra)
    return r


def zero_grad_to_none(opt):
    opt.zero_grad(set_to_none=True)


# ---- W1: MLP VAE (PyTorch's examples/vae) --------------------------------------------------------------------------
class Vae(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 400)
        self.fc21 = torch.nn.Linear(400, 20)
        self.fc22 = torch.nn.Linear(400, 20)
        self.fc3 = torch.nn.Linear(20, 400)
        self.fc4 = torch.nn.Linear(400, 784)

    def loss(self, x):
        h = torch.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = torch.sigmoid(self.fc4(torch.relu(self.fc3(z))))
        bce = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld


class W1VaeStep:
    def __init__(self):
        torch.manual_seed(0)
        self.model = Vae()
        self.x = torch.rand(128, 784)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def step(self):
        loss = self.model.loss(self.x)
        zero_grad_to_none(self.opt)
        loss.backward()
        self.opt.step()
        return loss.item()


# ---- W4: DDPM denoiser on 2-D points --------------------------------------------------------------------------------
class W4DdpmStep:
    BATCH, POINTS, STEPS, HALF_DIM = 256, 8192, 1000, 32

    def __init__(self):
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(66, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128), torch.nn.SiLU(),
                                       torch.nn.Linear(128, 128), torch.nn.SiLU(), torch.nn.Linear(128, 2))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.data = torch.randn(self.POINTS, 2)
        betas = torch.linspace(1e-4, 0.02, self.STEPS, dtype=torch.float64)
        alpha_bar = torch.cumprod(1 - betas, 0)
        self.sqrt_alpha_bar = alpha_bar.sqrt().float()
        self.sqrt_one_minus_alpha_bar = (1 - alpha_bar).sqrt().float()
        i = torch.arange(self.HALF_DIM, dtype=torch.float64)
        self.freqs = torch.exp(-math.log(10000.0) * i / self.HALF_DIM).float().unsqueeze(0)

    def step(self):
        idx = torch.randint(0, self.POINTS, (self.BATCH,))
        t = torch.randint(0, self.STEPS, (self.BATCH,))
        eps = torch.randn(self.BATCH, 2)
        x0 = self.data.index_select(0, idx)
        a = self.sqrt_alpha_bar.index_select(0, t).unsqueeze(1)
        s = self.sqrt_one_minus_alpha_bar.index_select(0, t).unsqueeze(1)
        x_t = a * x0 + s * eps
        args = t.float().unsqueeze(1) * self.freqs
        inp = torch.cat([x_t, torch.sin(args), torch.cos(args)], 1)
        loss = torch.nn.functional.mse_loss(self.net(inp), eps)
        zero_grad_to_none(self.opt)
        loss.backward()
        self.opt.step()
        return loss.item()


WORKLOADS = {"W1": W1VaeStep, "W4": W4DdpmStep}


def bench_workload(name, cls, samples):
    w = cls()
    last = [0.0]

    def step():
        last[0] = w.step()

    return result(name, measure(step, WORKLOAD_WARMUP, samples, 1), "ms", loss=last[0])


def bench_sgemm(n):
    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    return result(f"W6_sgemm/{n}", measure_calibrated(lambda: torch.mm(a, b), 2, MICRO_SAMPLES, GEMM_SAMPLE_SECONDS), "us",
                  flops=2.0 * n ** 3)


OPS = [  # name, function, [1,1] operands, both operands require grad
    ("add", lambda a, b: torch.add(a, b), False, True),
    ("mul", lambda a, b: torch.mul(a, b), False, True),
    ("relu", lambda a, b: torch.relu(a), False, False),
    ("matmul", lambda a, b: torch.matmul(a, b), True, True),
    ("sum", lambda a, b: torch.sum(a), False, False),
]


def bench_overhead_fwd(name, op, matrix):
    shape = (1, 1) if matrix else (1,)
    a, b = torch.full(shape, 0.5), torch.full(shape, 2.0)
    timing = measure_calibrated(lambda: op(a, b), 100, MICRO_SAMPLES, OVERHEAD_SAMPLE_SECONDS)
    return result(f"overhead_{name}_fwd", timing, "ns")


def bench_overhead_fwd_bwd(name, op, matrix, binary):
    shape = (1, 1) if matrix else (1,)
    a = torch.full(shape, 0.5).requires_grad_(True)
    b = torch.full(shape, 2.0).requires_grad_(binary)
    seed = torch.ones_like(op(a.detach(), b.detach()))

    def run():
        y = op(a, b)
        if y.dim() == 0:
            y.backward()
        else:
            y.backward(seed)
        a.grad = None  # as zero_grad(set_to_none=True)
        b.grad = None

    return result(f"overhead_{name}_fwd_bwd", measure_calibrated(run, 100, MICRO_SAMPLES, OVERHEAD_SAMPLE_SECONDS), "ns")


def benchmarks():
    """(name, thunk) in the order latent_bench_torch runs them."""
    out = [("W1_vae_step", lambda: bench_workload("W1_vae_step", W1VaeStep, W1_SAMPLES)),
           ("W4_ddpm_step", lambda: bench_workload("W4_ddpm_step", W4DdpmStep, W4_SAMPLES))]
    for n in (128, 256, 512, 1024, 2048):
        out.append((f"W6_sgemm/{n}", lambda n=n: bench_sgemm(n)))
    for name, op, matrix, binary in OPS:
        out.append((f"overhead_{name}_fwd", lambda name=name, op=op, matrix=matrix: bench_overhead_fwd(name, op, matrix)))
        out.append((f"overhead_{name}_fwd_bwd",
                     lambda name=name, op=op, matrix=matrix, binary=binary: bench_overhead_fwd_bwd(name, op, matrix, binary)))
    return out


def peak_rss_mib():
    """VmHWM of this process, as bench_common.hpp reads it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--filter", default=".", help="regular expression on benchmark names (re.search)")
    p.add_argument("--out", help="write the JSON here instead of stdout")
    p.add_argument("--peak-memory", choices=["W1", "W4", "idle"], help="run this workload and print peak RSS only")
    p.add_argument("--steps", type=int, default=30, help="steps in --peak-memory mode (default 30)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    if args.peak_memory:
        if args.peak_memory != "idle":
            w = WORKLOADS[args.peak_memory]()
            for _ in range(args.steps):
                w.step()
        steps = 0 if args.peak_memory == "idle" else args.steps
        print(json.dumps({"impl": "pytorch", "workload": args.peak_memory, "steps": steps,
                          "peak_rss_mib": round(peak_rss_mib(), 1)}))
        return 0

    pattern = re.compile(args.filter)
    results = [thunk() for name, thunk in benchmarks() if pattern.search(name)]
    doc = {"context": {"impl": "pytorch", "threads": str(args.threads), "torch": torch.__version__,
                       "torch_threads": torch.get_num_threads()}, "benchmarks": results}
    text = json.dumps(doc, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
