#!/usr/bin/python3
"""PyTorch twins of latent's benchmarks (../workloads*.cpp, ../gemm.cpp, ../overhead.cpp): the same workloads,
sizes, benchmark names and timing protocol as ../bench_common.hpp, written as a PyTorch user would write them
(eager mode, torch 1.13 as Debian ships it).

    /usr/bin/python3 torch_workloads.py [--threads N] [--filter REGEX] [--out FILE]
    /usr/bin/python3 torch_workloads.py --peak-memory W1|W2|W3|W3b|W4|idle [--steps N]

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
W2_SAMPLES = 20
W3_SAMPLES = 20
W3B_SAMPLES = 20
W4_SAMPLES = 100
W5_RECOMPUTE_SAMPLES = 5  # one sample = one generation of W5_RECOMPUTE_TOKENS tokens
W5_CACHE_SAMPLES = 20
W5_RECOMPUTE_TOKENS = 256
W5_CACHE_TOKENS = 64
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


# ---- W2: DCGAN-small on 1x28x28 ---------------------------------------------------------------------------------------
class DcganGenerator(torch.nn.Module):
    def __init__(self, z_dim=100):
        super().__init__()
        self.fc = torch.nn.Linear(z_dim, 128 * 7 * 7)
        self.bn0 = torch.nn.BatchNorm1d(128 * 7 * 7)
        self.deconv1 = torch.nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.bn1 = torch.nn.BatchNorm2d(64)
        self.deconv2 = torch.nn.ConvTranspose2d(64, 1, 4, 2, 1)

    def forward(self, z):
        h = torch.relu(self.bn0(self.fc(z))).view(-1, 128, 7, 7)
        h = torch.relu(self.bn1(self.deconv1(h)))
        return torch.tanh(self.deconv2(h))


class DcganDiscriminator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 64, 4, 2, 1)
        self.conv2 = torch.nn.Conv2d(64, 128, 4, 2, 1)
        self.bn2 = torch.nn.BatchNorm2d(128)
        self.fc = torch.nn.Linear(128 * 7 * 7, 1)

    def forward(self, x):
        h = torch.nn.functional.leaky_relu(self.conv1(x), 0.2)
        h = torch.nn.functional.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        return self.fc(torch.flatten(h, 1))


class W2DcganStep:
    BATCH, Z = 64, 100

    def __init__(self):
        torch.manual_seed(0)
        self.g, self.d = DcganGenerator(self.Z), DcganDiscriminator()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.real = torch.rand(self.BATCH, 1, 28, 28) * 2 - 1  # a fixed batch in tanh's range
        self.ones, self.zeros = torch.ones(self.BATCH, 1), torch.zeros(self.BATCH, 1)

    def step(self):
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        fake = self.g(torch.randn(self.BATCH, self.Z))
        # D update as PyTorch's DCGAN example: real and (detached) fake each their own batch, each loss differentiated
        # as soon as it is known
        zero_grad_to_none(self.opt_d)
        loss_real = bce(self.d(self.real), self.ones)
        loss_real.backward()
        loss_fake = bce(self.d(fake.detach()), self.zeros)
        loss_fake.backward()
        self.opt_d.step()
        # G update, non-saturating: -log D(G(z)); G's gradients dropped after its step
        loss_g = bce(self.d(fake), self.ones)
        loss_g.backward()
        self.opt_g.step()
        zero_grad_to_none(self.opt_g)
        return loss_real.item() + loss_fake.item() + loss_g.item()


# ---- W3 / W3b / W5: nanoGPT (karpathy/nanoGPT model.py, torch 1.13: no fused attention) --------------------------
class LayerNormNoBias(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))

    def forward(self, x):
        return torch.nn.functional.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class CausalSelfAttention(torch.nn.Module):
    def __init__(self, n_embd, n_head, block):
        super().__init__()
        self.c_attn = torch.nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = torch.nn.Linear(n_embd, n_embd, bias=False)
        self.n_head, self.n_embd = n_head, n_embd
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

    def forward(self, x, cache=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        past = 0
        if cache is not None:  # KV cache (W5): append this call's keys/values, attend over all of them
            if cache[0] is not None:
                past = cache[0].size(2)
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, past:past + T, :past + T] == 0, float("-inf"))
        att = torch.nn.functional.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(torch.nn.Module):
    def __init__(self, n_embd, n_head, block):
        super().__init__()
        self.ln_1 = LayerNormNoBias(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block)
        self.ln_2 = LayerNormNoBias(n_embd)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(n_embd, 4 * n_embd, bias=False), torch.nn.GELU(),
                                       torch.nn.Linear(4 * n_embd, n_embd, bias=False))

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(torch.nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, n_embd):
        super().__init__()
        self.block = block
        self.wte = torch.nn.Embedding(vocab, n_embd)
        self.wpe = torch.nn.Embedding(block, n_embd)
        self.h = torch.nn.ModuleList([Block(n_embd, n_head, block) for _ in range(n_layer)])
        self.ln_f = LayerNormNoBias(n_embd)
        self.lm_head = torch.nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # tied
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
            torch.nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, caches=None, pos0=0):
        T = idx.size(1)
        pos = torch.arange(pos0, pos0 + T, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for i, blk in enumerate(self.h):
            x = blk(x, None if caches is None else caches[i])
        x = self.ln_f(x)
        if targets is None:  # inference: the last position only, as nanoGPT
            return self.lm_head(x[:, [-1], :])
        logits = self.lm_head(x)
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def gpt_adamw(model):
    """nanoGPT's configure_optimizers: weight decay 0.1 on 2-D parameters only."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=1e-3, betas=(0.9, 0.99), eps=1e-8)


class GptStep:
    VOCAB = 65

    def __init__(self, block, n_layer, n_head, n_embd, batch):
        torch.manual_seed(0)
        self.model = GPT(self.VOCAB, block, n_layer, n_head, n_embd)
        self.opt = gpt_adamw(self.model)
        tokens = torch.randint(0, self.VOCAB, (batch, block + 1))  # a fixed batch of random token ids
        self.x, self.y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def step(self):
        loss = self.model(self.x, self.y)
        loss.backward()
        self.opt.step()
        zero_grad_to_none(self.opt)  # nanoGPT's order
        return loss.item()


class W3GptStep(GptStep):
    def __init__(self):
        super().__init__(block=64, n_layer=4, n_head=4, n_embd=128, batch=12)


class W3bGptStep(GptStep):
    def __init__(self):
        super().__init__(block=256, n_layer=6, n_head=6, n_embd=384, batch=8)


class W5Sampler:
    """W3's model, batch 1, a 1-token prompt, multinomial sampling (temperature 1) under no_grad."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = GPT(65, 64, 4, 4, 128).eval()

    @torch.no_grad()
    def recompute(self, tokens):  # nanoGPT's generate: the whole (cropped) context every token
        idx = torch.zeros(1, 1, dtype=torch.long)
        for _ in range(tokens):
            idx_cond = idx if idx.size(1) <= self.model.block else idx[:, -self.model.block:]
            probs = torch.softmax(self.model(idx_cond)[:, -1, :], dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx

    @torch.no_grad()
    def cached(self, tokens):  # one new token per forward against the cached keys/values (within the block)
        caches = [[None, None] for _ in self.model.h]
        idx = torch.zeros(1, 1, dtype=torch.long)
        out = [idx]
        for pos in range(tokens):
            probs = torch.softmax(self.model(idx, caches=caches, pos0=pos)[:, -1, :], dim=-1)
            idx = torch.multinomial(probs, num_samples=1)
            out.append(idx)
        return torch.cat(out, 1)


WORKLOADS = {"W1": W1VaeStep, "W2": W2DcganStep, "W3": W3GptStep, "W3b": W3bGptStep, "W4": W4DdpmStep}


def bench_workload(name, cls, samples):
    w = cls()
    last = [0.0]

    def step():
        last[0] = w.step()

    return result(name, measure(step, WORKLOAD_WARMUP, samples, 1), "ms", loss=last[0])


def bench_sampling(name, cached, tokens, samples):
    sampler = W5Sampler()
    run = (lambda: sampler.cached(tokens)) if cached else (lambda: sampler.recompute(tokens))
    timing = measure(run, 1, samples, 1)
    return result(name, timing, "ms", tokens=tokens, tok_s=tokens / timing["median_s"])


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
           ("W2_dcgan_step", lambda: bench_workload("W2_dcgan_step", W2DcganStep, W2_SAMPLES)),
           ("W3_gpt_step", lambda: bench_workload("W3_gpt_step", W3GptStep, W3_SAMPLES)),
           ("W3b_gpt_step", lambda: bench_workload("W3b_gpt_step", W3bGptStep, W3B_SAMPLES)),
           ("W4_ddpm_step", lambda: bench_workload("W4_ddpm_step", W4DdpmStep, W4_SAMPLES)),
           ("W5_sample_recompute", lambda: bench_sampling("W5_sample_recompute", False, W5_RECOMPUTE_TOKENS,
                                                          W5_RECOMPUTE_SAMPLES)),
           ("W5_sample_kv_cache", lambda: bench_sampling("W5_sample_kv_cache", True, W5_CACHE_TOKENS, W5_CACHE_SAMPLES))]
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
    p.add_argument("--peak-memory", choices=["W1", "W2", "W3", "W3b", "W4", "idle"], help="run this workload and print peak RSS only")
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
