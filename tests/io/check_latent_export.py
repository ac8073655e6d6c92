#!/usr/bin/python3
"""latent -> Python interop (CTest io.python_interop): runs the hidden "[export]" case of latent_io_tests, which
writes safetensors and .npy files into a temporary folder, then reads them with numpy and PyTorch (Debian's
python3-torch) and checks the values: bit for bit for the stored arrays, and a latent-trained-layout MLP loaded
into the equivalent torch module must reproduce latent's output.

Usage: /usr/bin/python3 tests/io/check_latent_export.py <path to latent_io_tests>
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402

VERSION_KEY = "latent_version"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="latent_export_") as out:
        env = dict(os.environ, LATENT_EXPORT_DIR=out)
        subprocess.run([exe, "[export]"], env=env, check=True, stdout=subprocess.DEVNULL)

        arrays, meta = safetensors_py.load(os.path.join(out, "latent_values.safetensors"))
        check(set(meta) == {"config", "unicode", VERSION_KEY}, f"metadata keys {sorted(meta)}")
        check(meta["config"] == '{"hidden": 16}', "config metadata")
        check(meta["unicode"] == 'été "quoted"\n', "unicode metadata")
        f = ((np.arange(12, dtype=np.float32) - 5) / 8).reshape(3, 4)
        check(arrays["values.f32"].dtype == np.float32 and np.array_equal(arrays["values.f32"], f), "values.f32")
        special = np.array([-0.0, np.inf, -np.inf, np.finfo(np.float32).smallest_subnormal, np.finfo(np.float32).max],
                           dtype=np.float32)
        check(arrays["values.special"].tobytes() == special.tobytes(), "values.special (bit for bit)")
        check(np.array_equal(arrays["values.f64"], np.array([[0.1, 1 / 3, -1e300]])), "values.f64")
        i64 = np.array([[-2**63, -1], [0, 2**63 - 1]], dtype=np.int64)
        check(arrays["values.i64"].dtype == np.int64 and np.array_equal(arrays["values.i64"], i64), "values.i64")
        check(arrays["values.scalar"].shape == () and arrays["values.scalar"] == 2.5, "values.scalar (0-d)")

        check(np.array_equal(np.load(os.path.join(out, "latent_f32.npy")), f), "latent_f32.npy")
        u8 = np.load(os.path.join(out, "latent_u8.npy"))
        check(u8.dtype == np.uint8 and u8.tolist() == [0, 7, 255], "latent_u8.npy")

        weights, meta = safetensors_py.load(os.path.join(out, "latent_mlp.safetensors"))
        check(VERSION_KEY in meta and "model" in meta, "MLP metadata")
        mlp = nn.Sequential(nn.Linear(5, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))
        mlp.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
        io, _ = safetensors_py.load(os.path.join(out, "latent_mlp_io.safetensors"))
        with torch.no_grad():
            y = mlp(torch.from_numpy(io["input"])).numpy()
        # float32, summation order differs between latent and torch: a few ulps.
        err = float(np.max(np.abs(y - io["output"])))
        check(np.allclose(y, io["output"], rtol=1e-5, atol=1e-5), f"MLP output differs by {err}")
        check(not math.isnan(err), "NaN output")
    print("latent -> PyTorch interop: all checks passed")


if __name__ == "__main__":
    main()
