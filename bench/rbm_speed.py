"""Training speed of the binary-synapse RBM: steps per second at N = 784, P = 100, minibatch 100, BP E-step.

Data: the embedded Fashion-MNIST sample (2,000 images, binarised at 0.5). After a warm-up epoch (so BP
warm-starts from realistic messages and weights), times ``--steps`` minibatch steps of the BLR with the
default quenched BP (n_z z-samples), once with float32 BP arithmetic (the default) and once with float64
(the baseline, same run). Reports steps/s, BP iterations per step, ms per BP sweep, and the ratio.

    python bench/rbm_speed.py --out runs/rbm_speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_text
from lowprec_rbm.data import binarize, load_dataset
from lowprec_rbm.rbm import BinaryRBM


def measure(X: np.ndarray, args, bp_dtype: str) -> dict:
    model = BinaryRBM(args.hidden, epochs=1, batch_size=args.batch_size, n_z=args.n_z, bp_dtype=bp_dtype,
                      seed=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(X)                                            # warm-up epoch
    rng = np.random.default_rng(args.seed + 1)
    M, B = X.shape[0], args.batch_size
    iters, t0 = [], time.perf_counter()
    for step in range(args.steps):
        batch = X[rng.choice(M, B, replace=False)]
        iters.append(model._step(batch, M, rng).iterations)
    seconds = time.perf_counter() - t0
    return {"bp_dtype": bp_dtype, "steps": args.steps, "seconds": seconds, "steps_per_second": args.steps / seconds,
            "bp_iterations_mean": float(np.mean(iters)), "bp_iterations_max": int(np.max(iters)),
            "ms_per_bp_sweep_upper_bound": 1000 * seconds / max(1, sum(iters))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--n-z", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/rbm_speed.json")
    args = ap.parse_args(argv)
    X = binarize(load_dataset("sample").x_train)
    runs = [measure(X, args, "float32"), measure(X, args, "float64")]
    for r in runs:
        print(f"{r['bp_dtype']}: {r['steps_per_second']:.2f} steps/s, {r['bp_iterations_mean']:.1f} BP sweeps/step, "
              f"<= {r['ms_per_bp_sweep_upper_bound']:.1f} ms/sweep", file=sys.stderr)
    out = {"benchmark": "rbm_speed", "N": int(X.shape[1]), "P": args.hidden, "batch_size": args.batch_size,
           "n_z": args.n_z, "data": "embedded Fashion-MNIST sample", "runs": runs,
           "steps_per_second": runs[0]["steps_per_second"],
           "speedup_float32_vs_float64": runs[0]["steps_per_second"] / runs[1]["steps_per_second"],
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                       "processor": platform.processor()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
