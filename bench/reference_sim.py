"""Throughput of the numpy reference simulator per word width, against onnxruntime in the same run.

Network: 784-1024-1024-10 binary MLP (random ±1 weights, random integer thresholds with every sign case),
uint8 pixel input binarised at 128, exported in custom mode. At batch B (default 64) the simulator runs the
whole graph (every intermediate kept) at word widths 8, 16, 32 and 64 bits; onnxruntime (CPU, default
threads) runs the same file. Runs are interleaved round by round so machine noise hits every variant alike;
the figure per variant is the median time of a run -> inferences/s = B / median. Every timed run's outputs
are checked equal to onnxruntime's (bit-exact), so a fast wrong kernel cannot be reported.

    python bench/reference_sim.py [-o out.json] [--batch 64] [--budget 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

from export.fileio import atomic_write_json
from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold
from export.onnx import build_model, save_model
from targets.onnx_runtimes import OnnxRuntimeTarget
from targets.reference import ReferenceTarget

SIZES = (784, 1024, 1024, 10)
WIDTHS = (8, 16, 32, 64)


def make_network(seed: int) -> MLPNetwork:
    rng = np.random.default_rng(seed)
    hidden = []
    for k, n in zip(SIZES[:-2], SIZES[1:-1]):
        hidden.append((Dense(rng.choice(np.array([-1, 1], np.int8), (n, k))),
                       Threshold(rng.integers(-1, 2, n).astype(np.int8), rng.integers(-20, 21, n).astype(np.int32))))
    c = SIZES[-1]
    out = (Dense(rng.choice(np.array([-1, 1], np.int8), (c, SIZES[-2]))),
           OutputAffine(rng.integers(1, 5, c).astype(np.int32), rng.integers(-50, 51, c).astype(np.int32)))
    return MLPNetwork(InputSpec("threshold", SIZES[0], "uint8", threshold=128.0), tuple(hidden), out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=None, help="write the JSON here (default: print only)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--budget", type=float, default=5.0, help="total seconds of timed rounds")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    net = make_network(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    feeds = {"x": rng.integers(0, 256, (args.batch, SIZES[0]), dtype=np.uint8)}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mlp.onnx")
        save_model(build_model(net, mode="custom"), path)
        variants = {f"reference-{w}": ReferenceTarget(w) for w in WIDTHS}
        variants["onnxruntime"] = OnnxRuntimeTarget()
        want = variants["onnxruntime"].run(path, feeds)      # warm-up (session creation) + expected outputs
        for name, t in variants.items():                      # warm-up, and exactness of every variant
            got = t.run(path, feeds)
            for k, v in want.items():
                np.testing.assert_array_equal(got[k], v, err_msg=f"{name}: output {k}")
        times = {name: [] for name in variants}
        t_end = time.perf_counter() + args.budget
        rounds = 0
        while rounds < 3 or (time.perf_counter() < t_end and rounds < 200):
            for name, t in variants.items():
                t0 = time.perf_counter()
                got = t.run(path, feeds)
                times[name].append(time.perf_counter() - t0)
                if not np.array_equal(got["label"], want["label"]) or not np.array_equal(got["y1"], want["y1"]):
                    raise AssertionError(f"{name}: outputs changed between runs")
            rounds += 1
    med = {name: float(np.median(ts)) for name, ts in times.items()}
    ort_ips = args.batch / med["onnxruntime"]
    result = {
        "benchmark": "reference_sim",
        "network": "-".join(map(str, SIZES)) + " binary MLP, uint8 pixels binarised at 128, custom mode",
        "batch": args.batch,
        "rounds": rounds,
        "method": "interleaved rounds, median seconds per run; inferences/s = batch / median",
        "onnxruntime": {"median_s": med["onnxruntime"], "inferences_per_s": ort_ips},
        "reference": {
            str(w): {"median_s": med[f"reference-{w}"], "inferences_per_s": args.batch / med[f"reference-{w}"],
                     "ratio_vs_onnxruntime": (args.batch / med[f"reference-{w}"]) / ort_ips}
            for w in WIDTHS},
        "exact": True,
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "machine": platform.machine(), "cpus": os.cpu_count()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
