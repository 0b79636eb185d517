"""Measure an exported classifier's inference speed on this machine, every contender in one process.

Contenders (those that can run here): the native C kernels at 1 and at 2 threads ('native-1t', 'native-2t'),
onnxruntime on the exported file ('onnxruntime'), the numpy reference simulator ('reference') and, for an MLP,
onnxruntime on the float32 graph of the same network ('float32', what one would ship without binarisation:
src/targets/float_graph.py). After two warm-up calls each, the contenders run round-robin on the same random
inputs until the time budget per batch size is spent; the figures are medians over the rounds of the wall
time and of the process CPU time (worker threads included). Labels are compared: every integer contender must
agree exactly. Ratios are against float32 (or onnxruntime when there is no float graph). The machine may be
shared: compare ratios from one run, not absolute figures across runs. The layer-by-layer study with the
popcount bound is bench/native_speed.py.

examples:
  lowprec bench model.onnx
  lowprec bench model.onnx --batch 1,64,1024 --budget 3 --json speed.json
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli.common import output_path, positive_int
from lowprec_rbm.cli.errors import CLIError

__all__ = ["configure", "run"]


def _batches(text: str) -> list[int]:
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated batch sizes like '1,64', got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be integers >= 1, got {text!r}")
    return sizes


def _budget(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0.05 <= v <= 600:
        raise argparse.ArgumentTypeError(f"the budget must lie in [0.05, 600] seconds, got {text}")
    return v


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="exported classifier (.onnx from 'lowprec export': MLP or CNN)")
    p.add_argument("--batch", type=_batches, default=[1, 64], metavar="B[,B...]",
                   help="batch sizes to measure (default 1,64; limit: --max batch)")
    p.add_argument("--budget", type=_budget, default=2.0, metavar="S",
                   help="seconds of interleaved rounds per batch size (default 2)")
    p.add_argument("--seed", type=positive_int, default=1, help="seed of the random inputs (default 1)")
    p.add_argument("--json", type=output_path, default=None, metavar="OUT", help="also write the figures as JSON")


def _inputs(spec, b: int, rng):
    import numpy as np

    if spec.dtype == "int8":
        return rng.choice(np.array([-1, 1], np.int8), (b, spec.size))
    if spec.dtype == "float32":
        return rng.random((b, spec.size), dtype=np.float32)
    return rng.integers(0, 256, (b, spec.size), dtype=np.uint8)


def _contenders(model: str, net) -> tuple[dict, dict]:
    """{name: callable(x) -> labels}, {name: why skipped}."""
    import onnxruntime as ort

    from export.network import MLPNetwork
    from targets.base import TargetUnavailable
    from targets.session import Session

    runs, skipped = {}, {}
    for threads in (1, 2):
        try:
            s = Session(model, "native", threads=threads)
            runs[f"native-{threads}t"] = s.run
        except (TargetUnavailable, ValueError, TypeError) as exc:
            skipped[f"native-{threads}t"] = str(exc)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    runs["onnxruntime"] = lambda x, sess=sess: sess.run(["label"], {"x": x})[0]
    ref = Session(model, "reference")
    runs["reference"] = ref.run
    if isinstance(net, MLPNetwork):
        from targets.float_graph import float_mlp_model

        fsess = ort.InferenceSession(float_mlp_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
        runs["float32"] = lambda x, s=fsess: s.run(["label"], {"x": x})[0]
    else:
        skipped["float32"] = "no float graph for this network kind"
    return runs, skipped


def _measure(runs: dict, x, budget: float) -> tuple[dict, dict]:
    import statistics
    import time

    import numpy as np

    labels = {}
    for name, f in runs.items():           # warm-up, and the labels every contender gives
        f(x)
        labels[name] = np.asarray(f(x))
    wall = {n: [] for n in runs}
    cpu = {n: [] for n in runs}
    start, rounds = time.perf_counter(), 0
    while rounds < 5 or time.perf_counter() - start < budget:
        for name, f in runs.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f(x)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
        rounds += 1
        if rounds >= 10_000:
            break
    figures = {n: {"wall_ms": 1e3 * statistics.median(wall[n]), "cpu_ms": 1e3 * statistics.median(cpu[n]),
                   "rounds": rounds} for n in runs}
    return figures, labels


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import targets.registry  # noqa: F401
    from export.fileio import atomic_write_json
    from export.network import RBMNetwork
    from export.onnx import load_artifact, network_from_onnx
    from lowprec_rbm.cli import limits

    for b in args.batch:
        limits.check("--batch", b, "batch")
    net = network_from_onnx(load_artifact(args.model), args.model)
    if isinstance(net, RBMNetwork):
        raise CLIError(f"{args.model} is an RBM: 'lowprec bench' measures classifiers (MLP, CNN); time an RBM "
                       f"with targets.Session(model, 'native').hidden(v) / .gibbs(v, seeds)")
    runs, skipped = _contenders(args.model, net)
    rng = np.random.default_rng(args.seed)
    result = {"model": args.model, "skipped": skipped, "batches": {}}
    base = "float32" if "float32" in runs else "onnxruntime"
    for name, why in skipped.items():
        print(f"{name}: skipped ({why})")
    exit_code = 0
    for b in args.batch:
        x = _inputs(net.input, b, rng)
        figures, labels = _measure(runs, x, args.budget)
        exact = [n for n in runs if n != "float32"]
        for n in exact[1:]:
            if not np.array_equal(labels[n], labels[exact[0]]):
                print(f"batch {b}: {n} labels differ from {exact[0]}'s: a bug, please report it")
                exit_code = 1
        if "float32" in labels:
            figures["float32"]["label_agreement"] = float(np.mean(labels["float32"] == labels[exact[0]]))
        print(f"batch {b} ({figures[base]['rounds']} rounds; ratio = speed relative to {base}):")
        print(f"  {'contender':<12} {'images/s':>12} {'wall ms':>10} {'CPU ms':>10} {'ratio':>7}")
        for n, f in figures.items():
            f["images_per_s"] = b / (f["wall_ms"] / 1e3)
            f["ratio"] = figures[base]["wall_ms"] / f["wall_ms"]
            print(f"  {n:<12} {f['images_per_s']:>12,.0f} {f['wall_ms']:>10.3f} {f['cpu_ms']:>10.3f} "
                  f"{f['ratio']:>6.2f}x")
        result["batches"][str(b)] = figures
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return exit_code
