"""Speed of the native target against onnxruntime (float32, int8, the exported graph) and the numpy simulator.

One process, every contender of a case interleaved round-robin after two warm-up calls each, medians over
the rounds (at least --min-rounds, until --budget seconds per case are spent); each timing records wall time,
the calling thread's CPU time and the process CPU time (onnxruntime's and the native kernels' worker threads
count there). The machine is shared, so wall times are noisy; the interleaving makes the ratios of one run
comparable.

Contenders
- ort-f32   onnxruntime float32 MatMul of the same ±1 layer (x ±1 float32, W ±1 float32)
- ort-int8  onnxruntime.quantization.quantize_dynamic of that float graph (weights QInt8: MatMulInteger)
- ort-export onnxruntime on the exported lowprec graph (what `lowprec export` writes)
- numpy-sim the reference simulator's kernels (BinarizePack + XnorPopcountGemm, numpy)
- native-1t / native-2t  the native kernels (packing + blocked GEMM), 1 and 2 threads; for the MLP through the
  user API (``targets.Session(model, "native").run(x)`` -> labels)
- popcount-bound the same number of popcount(a ^ b) words as the layer, on L1-resident data with the scalar
  popcount instruction (lpn_popcount_probe): the machine's scalar bound for this layer, timed in the same rounds

Cases: layers (K, N) = (784, 1024), (1024, 1024), (4096, 2048) at B = 1, 64, 1024, and the whole
784-1024-1024-10 MLP (bench/export_size_speed.py's network and float graph) in images/s. Every contender's
result is checked against the native one (exact for all but int8, whose label agreement is recorded).

    python bench/native_speed.py [-o bench/results/native_speed.json] [--png ...] [--budget 1.5]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_size_speed import float_model, make_network  # noqa: E402  (the same user float graph)

from export.fileio import atomic_write_json, atomic_writer  # noqa: E402
from export.layout import n_words, pack_pm1  # noqa: E402
from export.network import Dense, InputSpec, MLPNetwork, OutputAffine  # noqa: E402
from export.onnx import build_model, save_model  # noqa: E402
from export.onnx.ops import OPSET  # noqa: E402
from targets.native import load  # noqa: E402
from targets.reference.ops.binarize_pack import binarize_pack  # noqa: E402
from targets.reference.ops.xnor_popcount_gemm import xnor_popcount_gemm  # noqa: E402
from targets.reference.target import ReferenceTarget  # noqa: E402
from targets.session import Session  # noqa: E402

LAYERS = [(784, 1024), (1024, 1024), (4096, 2048)]
BATCHES = [1, 64, 1024]
PROBE_WORDS = 512  # 2 x 4 KiB: L1-resident


def interleaved(contenders: dict, budget: float, min_rounds: int) -> dict:
    """{name: callable} -> {name: {wall_ms, thread_cpu_ms, process_cpu_ms (medians), rounds}}."""
    for fn in contenders.values():
        fn(), fn()  # warm-up
    samples = {name: [] for name in contenders}
    start = time.perf_counter()
    while True:
        for name, fn in contenders.items():
            w0, t0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            fn()
            w1, t1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
            samples[name].append((w1 - w0, t1 - t0, p1 - p0))
        rounds = len(samples[next(iter(samples))])
        if rounds >= min_rounds and (time.perf_counter() - start > budget or rounds >= 400):
            break
    return {name: {"wall_ms": 1e3 * statistics.median(s[0] for s in v),
                   "thread_cpu_ms": 1e3 * statistics.median(s[1] for s in v),
                   "process_cpu_ms": 1e3 * statistics.median(s[2] for s in v), "rounds": len(v)}
            for name, v in samples.items()}


def ort_session(model: onnx.ModelProto | str, tmp: str, name: str) -> ort.InferenceSession:
    path = model if isinstance(model, str) else os.path.join(tmp, name)
    if not isinstance(model, str):
        onnx.save(model, path)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def quantized(float_path: str, tmp: str, name: str) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = os.path.join(tmp, name)
    quantize_dynamic(float_path, out, weight_type=QuantType.QInt8)
    return out


def layer_float_model(w: np.ndarray) -> onnx.ModelProto:
    n, k = w.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "f32_layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(np.ascontiguousarray(w.T.astype(np.float32)), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    return model


def probe(lib, words: int):
    """A callable doing `words` popcount(a ^ b) on L1 data; returns it."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2**63, PROBE_WORDS, dtype=np.uint64)
    b = rng.integers(0, 2**63, PROBE_WORDS, dtype=np.uint64)
    reps = max(1, round(words / PROBE_WORDS))
    return lambda: lib.popcount_probe(a, b, PROBE_WORDS, reps), reps * PROBE_WORDS


def layer_case(lib, k: int, n: int, b: int, tmp: str, budget: float, min_rounds: int) -> dict:
    rng = np.random.default_rng(k + n + b)
    w = rng.choice(np.array([-1, 1], np.int8), (n, k))
    x = rng.choice(np.array([-1, 1], np.int8), (b, k))
    xf = x.astype(np.float32)
    f32 = layer_float_model(w)
    f32_path = os.path.join(tmp, "layer_f32.onnx")
    onnx.save(f32, f32_path)
    s_f32 = ort_session(f32_path, tmp, "")
    s_i8 = ort_session(quantized(f32_path, tmp, "layer_i8.onnx"), tmp, "")
    net = MLPNetwork(InputSpec("pm1", k, dtype="int8"), (), (Dense(w), OutputAffine.identity(n)))
    exp_path = os.path.join(tmp, "layer_export.onnx")
    save_model(build_model(net), exp_path)
    s_exp = ort_session(exp_path, tmp, "")
    wp = pack_pm1(w)
    nw = n_words(k)

    def native(threads):
        def run():
            xp = np.empty((b, nw), np.uint64)
            y = np.empty((b, n), np.int32)
            lib.pack(0, k, b, x, 0.0, 0, xp)
            lib.layer(0, k, n, b, xp, None, wp, None, None, y, 0, None, None, None, None, None, None, 0, 0,
                      threads, 1 << 16)
            return y
        return run

    contenders = {
        "ort-f32": lambda: s_f32.run(["y"], {"x": xf})[0],
        "ort-int8": lambda: s_i8.run(["y"], {"x": xf})[0],
        "ort-export": lambda: s_exp.run(["y0"], {"x": x})[0],
        "numpy-sim": lambda: xnor_popcount_gemm(binarize_pack(x, K=k), wp, K=k),
        "native-1t": native(1),
        "native-2t": native(2),
    }
    bound_fn, bound_words = probe(lib, b * n * nw)
    contenders["popcount-bound"] = bound_fn
    want = contenders["native-1t"]()
    checks = {}
    for name in ("ort-f32", "ort-export", "numpy-sim", "native-2t"):
        got = contenders[name]()
        checks[name] = bool(np.array_equal(np.asarray(got).astype(np.int64), want.astype(np.int64)))
    got = contenders["ort-int8"]()
    checks["ort-int8_max_abs_error"] = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    t = interleaved(contenders, budget, min_rounds)
    macs = b * n * k
    for name, r in t.items():
        r["gmac_per_s"] = macs / (r["wall_ms"] * 1e-3) / 1e9
    t["popcount-bound"]["gmac_per_s"] = bound_words * 64 / (t["popcount-bound"]["wall_ms"] * 1e-3) / 1e9
    return {"K": k, "N": n, "B": b, "binary_macs": macs, "popcount_words": b * n * nw, "exact": checks,
            "timings": t}


def mlp_case(b: int, tmp: str, budget: float, min_rounds: int) -> dict:
    net = make_network(0)
    rng = np.random.default_rng(b)
    x = rng.uniform(0, 1, (b, net.input.size)).astype(np.float32)
    x[:, ::9] = np.float32(0.5)  # ties at the threshold
    f32_path = os.path.join(tmp, "mlp_f32.onnx")
    onnx.save(float_model(net), f32_path)
    s_f32 = ort_session(f32_path, tmp, "")
    s_i8 = ort_session(quantized(f32_path, tmp, "mlp_i8.onnx"), tmp, "")
    exp_path = os.path.join(tmp, "mlp_export.onnx")
    save_model(build_model(net), exp_path)
    s_exp = ort_session(exp_path, tmp, "")
    ref = ReferenceTarget()
    nat1, nat2 = Session(exp_path, "native", threads=1), Session(exp_path, "native", threads=2)
    contenders = {
        "ort-f32": lambda: s_f32.run(["label"], {"x": x})[0],
        "ort-int8": lambda: s_i8.run(["label"], {"x": x})[0],
        "ort-export": lambda: s_exp.run(["label"], {"x": x})[0],
        "numpy-sim": lambda: ref.run(exp_path, {"x": x})["label"],
        "native-1t": lambda: nat1.run(x),   # the user API: targets.Session(...).run(images) -> labels
        "native-2t": lambda: nat2.run(x),
    }
    want = contenders["native-1t"]()
    checks = {name: bool(np.array_equal(contenders[name](), want))
              for name in ("ort-f32", "ort-export", "numpy-sim", "native-2t")}
    checks["ort-int8_label_agreement"] = float(np.mean(contenders["ort-int8"]() == want))
    t = interleaved(contenders, budget, min_rounds)
    for r in t.values():
        r["images_per_s"] = b / (r["wall_ms"] * 1e-3)
    return {"sizes": [784, 1024, 1024, 10], "B": b, "exact": checks, "timings": t}


def ratios(case: dict) -> dict:
    t = case["timings"]
    out = {f"{n}_vs_ort-f32": t["ort-f32"]["wall_ms"] / t[n]["wall_ms"] for n in t if n != "ort-f32"}
    out["native-1t_vs_ort-int8"] = t["ort-int8"]["wall_ms"] / t["native-1t"]["wall_ms"]
    out["native-2t_vs_native-1t"] = t["native-1t"]["wall_ms"] / t["native-2t"]["wall_ms"]
    if "popcount-bound" in t:
        out["native-1t_fraction_of_scalar_bound"] = t["popcount-bound"]["wall_ms"] / t["native-1t"]["wall_ms"]
        out["native-2t_fraction_of_scalar_bound"] = t["popcount-bound"]["wall_ms"] / t["native-2t"]["wall_ms"]
    return out


def targets_check(layers: list, mlps: list) -> list[dict]:
    """The issue's targets, each with the measured ratio and met / missed."""
    get = lambda k, n, b: next(c for c in layers if (c["K"], c["N"], c["B"]) == (k, n, b))  # noqa: E731
    big1, big64, big1024 = get(4096, 2048, 1), get(4096, 2048, 64), get(4096, 2048, 1024)
    mlp1 = next(c for c in mlps if c["B"] == 1)
    rows = [
        ("native 1t >= 15x ort float32, (4096, 2048) B=1", big1["ratios"]["native-1t_vs_ort-f32"], 15),
        ("native 1t >= 4x ort int8, (4096, 2048) B=1", big1["ratios"]["native-1t_vs_ort-int8"], 4),
        ("native 1t >= 4x ort float32, (4096, 2048) B=64", big64["ratios"]["native-1t_vs_ort-f32"], 4),
        ("native 1t >= 80% of the scalar popcount bound, (4096, 2048) B=1024",
         big1024["ratios"]["native-1t_fraction_of_scalar_bound"], 0.8),
        ("native 2t >= 1.6x native 1t, (4096, 2048) B=1024 (needs an idle machine)",
         big1024["ratios"]["native-2t_vs_native-1t"], 1.6),
        ("whole MLP native 1t >= 15x ort float32, B=1", mlp1["ratios"]["native-1t_vs_ort-f32"], 15),
    ]
    return [{"target": name, "measured": round(v, 3), "goal": goal, "met": bool(v >= goal)} for name, v, goal in rows]


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["ort-int8", "ort-export", "numpy-sim", "native-1t", "native-2t", "popcount-bound"]
    colors = dict(zip(names, ["#bbbbbb", "#888888", "#d9a441", "#2b7bba", "#1b4f80", "#c44e52"]))
    cases = result["layers"] + result["mlp"]
    labels = [f"{c['K']}x{c['N']}\nB={c['B']}" if "K" in c else f"MLP\nB={c['B']}" for c in cases]
    fig, ax = plt.subplots(figsize=(14, 5.5))
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        xs, ys = [], []
        for i, c in enumerate(cases):
            if name in c["timings"]:
                xs.append(i + (j - len(names) / 2 + 0.5) * width)
                ys.append(c["timings"]["ort-f32"]["wall_ms"] / c["timings"][name]["wall_ms"])
        ax.bar(xs, ys, width, label=name, color=colors[name])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("speed-up over onnxruntime float32 (wall time, median)")
    ax.set_title(f"±1 layers and the 784-1024-1024-10 MLP on {result['machine']['cpu']} "
                 f"({result['machine']['cores']} shared cores); higher is faster")
    ax.legend(ncol=6, fontsize=8, loc="upper left")
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    atomic_writer(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def machine(lib) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": ort.__version__, "native_paths": lib.paths(), "native_auto_path": lib.best_path(),
            "ort_intra_op_threads": "default (one per core)", "loadavg_start": list(os.getloadavg())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="bench/results/native_speed.json")
    ap.add_argument("--png", default="bench/results/native_speed.png")
    ap.add_argument("--budget", type=float, default=1.5, help="seconds of rounds per case (default 1.5)")
    ap.add_argument("--min-rounds", type=int, default=7)
    args = ap.parse_args(argv)
    lib = load()
    result = {"machine": machine(lib), "layers": [], "mlp": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, n in LAYERS:
            for b in BATCHES:
                c = layer_case(lib, k, n, b, tmp, args.budget, args.min_rounds)
                c["ratios"] = ratios(c)
                result["layers"].append(c)
                t = c["timings"]
                print(f"layer K={k} N={n} B={b}: " + ", ".join(f"{nm} {r['wall_ms']:.3f} ms" for nm, r in t.items()),
                      flush=True)
        for b in BATCHES:
            c = mlp_case(b, tmp, args.budget, args.min_rounds)
            c["ratios"] = ratios(c)
            result["mlp"].append(c)
            print(f"MLP B={b}: " + ", ".join(f"{nm} {r['images_per_s']:,.0f} img/s" for nm, r in c["timings"].items()),
                  flush=True)
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    result["targets"] = targets_check(result["layers"], result["mlp"])
    for row in result["targets"]:
        print(f"{'MET   ' if row['met'] else 'MISSED'} {row['target']}: {row['measured']} (goal {row['goal']})")
    atomic_write_json(args.output, result)
    plot(result, args.png)
    print(f"wrote {args.output} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
