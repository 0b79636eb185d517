"""Speed of the native target on CNN files against onnxruntime (the exported graph) and the numpy simulator.

Networks (random weights, Fashion-MNIST shape 28x28x1; the speed does not depend on trained values):
- small  c16,p,c32,p,d10 with bit-plane (exact uint8 pixel) input
- medium c32,c32,p,c64,c64,p,d256,d10 with thresholded (±1) input
Contenders, interleaved round-robin per batch size (bench/native_speed.py's ``interleaved``): onnxruntime on the
exported graph (custom mode: the conv bodies are float Convs over unpacked ±1 values), the numpy reference
simulator, and the native target at 1 and 2 threads (``targets.Session(model, "native").run(x)`` -> labels).
Every contender's labels are checked equal to native's (all are exact).

    python bench/native_cnn_speed.py [-o bench/results/native_cnn_speed.json] [--budget 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from native_speed import interleaved, ort_session  # noqa: E402
from targets_nets import random_cnn  # noqa: E402  (the tests' random CNN generator)

from export.fileio import atomic_write_json  # noqa: E402
from export.onnx import build_model, save_model  # noqa: E402
from targets.native import load  # noqa: E402
from targets.reference.target import ReferenceTarget  # noqa: E402
from targets.session import Session  # noqa: E402

NETS = {
    "small c16,p,c32,p,d10 (bitplanes)": dict(convs=((16, 3, True), (32, 3, True)), hidden=(), input_kind="bitplanes"),
    "medium c32,c32,p,c64,c64,p,d256,d10 (threshold)": dict(
        convs=((32, 3, False), (32, 3, True), (64, 3, False), (64, 3, True)), hidden=(256,), input_kind="threshold"),
}
BATCHES = [1, 64]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="bench/results/native_cnn_speed.json")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per case (default 2)")
    ap.add_argument("--min-rounds", type=int, default=5)
    args = ap.parse_args(argv)
    lib = load()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in NETS.items():
            net = random_cnn(rng, (28, 28, 1), spec["convs"], spec["hidden"], 10, input_kind=spec["input_kind"])
            path = os.path.join(tmp, "cnn.onnx")
            save_model(build_model(net), path)
            sess = ort_session(path, tmp, "cnn.onnx")
            ref = ReferenceTarget()
            n1, n2 = Session(path, "native", threads=1), Session(path, "native", threads=2)
            for b in BATCHES:
                x = rng.integers(0, 256, (b, 784), dtype=np.uint8)
                want = n1.run(x)
                for other in (sess.run(["label"], {"x": x})[0], ref.run(path, {"x": x})["label"], n2.run(x)):
                    np.testing.assert_array_equal(other, want)
                t = interleaved({"ort-export": lambda: sess.run(["label"], {"x": x}),
                                 "numpy-sim": lambda: ref.run(path, {"x": x}),
                                 "native-1t": lambda: n1.run(x), "native-2t": lambda: n2.run(x)},
                                args.budget, args.min_rounds)
                row = {"net": name, "batch": b, **{k: v["wall_ms"] for k, v in t.items()},
                       "rounds": t["native-1t"]["rounds"],
                       "native_1t_images_per_s": 1e3 * b / t["native-1t"]["wall_ms"]}
                rows.append(row)
                print(f"{name} B={b}: " + ", ".join(f"{k} {v['wall_ms']:.2f} ms" for k, v in t.items()), flush=True)
    load_avg = os.getloadavg()
    atomic_write_json(args.out, {"machine": platform.processor() or platform.machine(), "path": lib.best_path(),
                                 "cpus": os.cpu_count(), "load_average": load_avg, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
