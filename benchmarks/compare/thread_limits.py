"""Imported by the PyTorch twins before numpy and torch: their --threads N must bind OpenBLAS as well.

torch.set_num_threads(N) sets torch's own intra-op pool only. Debian's torch and numpy do their matrix products in
OpenBLAS, whose pool is sized when the library loads (OPENBLAS_NUM_THREADS, else one thread per CPU), so a
"--threads 1" run without this used every core for its GEMMs (on 2 cores: 1.97 CPU-seconds per second, a third of them
in the kernel spinning). A variable the caller has already set (scripts/bench sets them per run) is left alone.
"""
import os
import sys


def threads_from_argv(argv, default="1"):
    """The value of --threads N / --threads=N in argv, else default."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return default


_threads = threads_from_argv(sys.argv[1:])
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_variable, _threads)
