"""Size and onnxruntime speed of the exported binary MLP against a float32 ONNX of the same network.

Network: 784-1024-1024-10 binary MLP (random ±1 weights, random integer thresholds), float32 input
binarised at 0.5. Baseline: the same layers written as a user would in float32 — binarise
(GreaterOrEqual + Where), MatMul with ±1 float32 weights, sign(s*y - t) via Mul/GreaterOrEqual/Where, integer
output affine, ArgMax — exposing the same intermediate tensors as outputs.

Measured (ratios against the baseline measured in the same run):
- file size of the export (custom and standard mode) vs the float32 file (target >= 25x smaller);
- onnxruntime CPU latency at batch 1, 64, 1024 of the portable graphs (custom mode: functions inlined by
  onnxruntime; standard mode: inlined at export) vs the float32 graph (target <= 1.2x);
- session creation time (the weight unpack is constant-folded there).
Every timed run's label and fields are checked equal between the export and the baseline.

    python bench/export_size_speed.py [-o out.json] [--budget 1.0] [--batches 1 64 1024]
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
import onnx
import onnxruntime as ort

from export.fileio import atomic_write_json
from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold
from export.onnx import build_model, save_model
from export.onnx.ops import OPSET
from targets.float_graph import float_mlp_model

SIZES = (784, 1024, 1024, 10)


def make_network(seed: int = 0) -> MLPNetwork:
    rng = np.random.default_rng(seed)
    hidden = []
    for k, n in zip(SIZES[:-2], SIZES[1:-1]):
        hidden.append((Dense(rng.choice(np.array([-1, 1], np.int8), (n, k))),
                       Threshold(rng.choice(np.array([-1, 1], np.int8), n), rng.integers(-20, 21, n).astype(np.int32))))
    c = SIZES[-1]
    out = (Dense(rng.choice(np.array([-1, 1], np.int8), (c, SIZES[-2]))),
           OutputAffine(rng.integers(1, 5, c).astype(np.int32), rng.integers(-50, 51, c).astype(np.int32)))
    return MLPNetwork(InputSpec("threshold", SIZES[0], "float32", threshold=0.5), tuple(hidden), out)


def float_model(net: MLPNetwork) -> onnx.ModelProto:
    """The same network as a plain float32 graph (±1 float weights), every layer's output kept."""
    return float_mlp_model(net, opset=OPSET, intermediates=True)


def session(path: str, threads: int = 0) -> tuple[ort.InferenceSession, float]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # 0: onnxruntime's default (one per core)
    t0 = time.perf_counter()
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess, time.perf_counter() - t0


def interleaved_latency(sessions: dict, feeds, budget: float) -> dict:
    """Median seconds per run of each session, runs interleaved round-robin so that every graph sees the
    same background load (this 2-core machine is shared); 2 warm-ups each, n = clamp(budget / t, 5, 300)
    rounds. Returns {name: (median_s, n)}."""
    for sess in sessions.values():
        for _ in range(2):
            sess.run(None, feeds)
    t0 = time.perf_counter()
    for sess in sessions.values():
        sess.run(None, feeds)
    n = int(min(300, max(5, budget / max(time.perf_counter() - t0, 1e-6))))
    times = {k: [] for k in sessions}
    for _ in range(n):
        for k, sess in sessions.items():
            t0 = time.perf_counter()
            sess.run(None, feeds)
            times[k].append(time.perf_counter() - t0)
    return {k: (float(np.median(v)), n) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=None, help="write the JSON here (default: print only)")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timed runs per graph and batch")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0,
                    help="onnxruntime intra-op threads (0: default); 1 is steadier on a shared machine")
    args = ap.parse_args(argv)

    net = make_network(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    result = {"network": "-".join(map(str, SIZES)) + " binary MLP, float32 input binarised at 0.5",
              "onnxruntime": ort.__version__, "intra_op_threads": args.threads or "default", "onnx": onnx.__version__, "numpy": np.__version__,
              "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
              "method": "median of n rounds, graphs run round-robin within each round (same background load), 2 warm-ups; "
                        "ORT CPU, default threads, graph optimisation ALL; ratio = export / float32 in the same run"}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"float32": os.path.join(tmp, "float.onnx"), "custom": os.path.join(tmp, "custom.onnx"),
                 "standard": os.path.join(tmp, "standard.onnx")}
        save_model(float_model(net), paths["float32"])
        for mode in ("custom", "standard"):
            save_model(build_model(net, mode), paths[mode])
        sizes = {k: os.path.getsize(p) for k, p in paths.items()}
        result["file_bytes"] = sizes
        result["size_ratio_float_over_export"] = {m: sizes["float32"] / sizes[m] for m in ("custom", "standard")}
        result["size_target"] = ">= 25x smaller"
        sessions, created = {}, {}
        for k, p in paths.items():
            sessions[k], created[k] = session(p, args.threads)
        result["session_create_s"] = created
        lat = {}
        for b in args.batches:
            x = rng.random((b, SIZES[0]), dtype=np.float32)
            ref = dict(zip([o.name for o in sessions["float32"].get_outputs()], sessions["float32"].run(None, {"x": x})))
            for k, sess in sessions.items():
                if k != "float32":  # same answer as the float graph (exact integers)
                    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
                    np.testing.assert_array_equal(got["label"], ref["label"])
                    np.testing.assert_array_equal(got["y1"], ref["y1"].astype(np.int64))
            row = {k: {"ms": sec * 1e3, "runs": n} for k, (sec, n) in
                   interleaved_latency(sessions, {"x": x}, args.budget * len(sessions)).items()}
            for m in ("custom", "standard"):
                row[f"ratio_{m}_over_float32"] = row[m]["ms"] / row["float32"]["ms"]
            lat[str(b)] = row
            print(f"batch {b:5d}: float32 {row['float32']['ms']:.3f} ms, custom {row['custom']['ms']:.3f} ms "
                  f"({row['ratio_custom_over_float32']:.2f}x), standard {row['standard']['ms']:.3f} ms "
                  f"({row['ratio_standard_over_float32']:.2f}x)", file=sys.stderr)
        result["latency"] = lat
        result["latency_target"] = "<= 1.2x float32"
    print(f"file bytes: {sizes} (float/custom {result['size_ratio_float_over_export']['custom']:.1f}x)", file=sys.stderr)
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.out:
        atomic_write_json(args.out, result)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
