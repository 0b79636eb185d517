"""Training speed of the binary-synapse RBM, new E-step against the previous one, in one process.

Setting (issue 14): N = 784, P = 100, minibatch 100, 8 z-samples, float32 BP, BLR; data: the embedded
Fashion-MNIST sample (2,000 images, binarised at 0.5). Two models with the same seed each train one warm-up
epoch (so BP warm-starts from realistic messages and weights), then ``--rounds`` rounds of ``--steps``
minibatch steps alternate between them (the order flips every round, the minibatches of a round are the
same for both). "new" is the default E-step (ratio-domain BP, :mod:`lowprec_rbm.vecmath`); "legacy" is the
previous implementation (``legacy=True`` of :mod:`lowprec_rbm.rbm.bp`: tanh/arctanh sweep, numpy
arctanh/log1p statistics, eager Bethe ln Z). The CLT data term is shared; its only change is the log 2cosh
formula, a few ms of a step.

Reported per implementation: steps/s by wall time, by process CPU time and by thread CPU time (steps per
CPU-second = per core: numpy's elementwise loops are single-threaded, and the BLAS is held to one thread), BP sweeps per step, CPU ms per sweep
(upper bound: the whole step divided by its sweeps), and the CPU named (/proc/cpuinfo model, avx2/avx512f
flags, numpy's dispatched SIMD targets). numpy vectorises float32 arctanh/log1p only with AVX-512, so on
a CPU that has it ``--avx2-only`` re-runs this script with ``NPY_DISABLE_CPU_FEATURES`` set to switch
numpy's AVX-512 loops off, which is the speed of an AVX2-only CPU of the same kind. Issue 14's target:
>= 5 steps per CPU-second on an AVX2-only CPU.

    python bench/rbm_speed.py --avx2-only --out bench/results/rbm_speed.json
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

_AVX512_GROUPS = "X86_V4 AVX512_ICL AVX512_SPR"   # numpy >= 2.4 dispatch groups above AVX2 (X86_V3)

if __name__ == "__main__":
    # One core's worth: numpy's elementwise loops are single-threaded, and BLAS threads spinning on the BP's
    # small matrix-vector products would only add CPU time. Read by the BLAS at numpy import.
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
if __name__ == "__main__" and "--avx2-only" in sys.argv and os.environ.get("NPY_DISABLE_CPU_FEATURES") is None:
    os.environ["NPY_DISABLE_CPU_FEATURES"] = _AVX512_GROUPS   # read by numpy at import: re-exec first
    os.execv(sys.executable, [sys.executable, *sys.argv])

import numpy as np  # noqa: E402

from export.fileio import atomic_write_text  # noqa: E402
from lowprec_rbm.data import binarize, load_dataset  # noqa: E402
from lowprec_rbm.rbm import BinaryRBM  # noqa: E402

IMPLEMENTATIONS = ("new", "legacy")


class LegacyRBM(BinaryRBM):
    """The same estimator with the previous E-step (bp.* legacy=True)."""

    def _bp_kwargs(self):
        return {**super()._bp_kwargs(), "legacy": True}


def cpu_info() -> dict:
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), None)
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    info.update({"model_name": model, "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
                 "fma": "fma" in flags})
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
        info["numpy_simd_enabled"] = sorted(k for k, v in feats.items() if v and k.startswith(("AVX", "X86", "FMA")))
    except ImportError:                                       # pragma: no cover - older numpy layouts
        pass
    for var in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        info[var] = os.environ.get(var)
    info["numpy_avx512_loops"] = info.get("avx512f", False) and not os.environ.get("NPY_DISABLE_CPU_FEATURES")
    try:
        info["loadavg_at_start"] = list(os.getloadavg())
    except OSError:                                           # pragma: no cover
        pass
    return info


def make_model(impl: str, X: np.ndarray, args) -> BinaryRBM:
    cls = LegacyRBM if impl == "legacy" else BinaryRBM
    model = cls(n_hidden=args.hidden, epochs=1, batch_size=args.batch_size, n_z=args.n_z, random_state=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(X)                                          # warm-up epoch
    return model


def run_round(model: BinaryRBM, X: np.ndarray, args, round_seed: int) -> dict:
    rng = np.random.default_rng(round_seed)
    M, B = X.shape[0], args.batch_size
    batches = [X[rng.choice(M, B, replace=False)] for _ in range(args.steps)]
    iters = []
    w0, p0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
    for batch in batches:
        iters.append(model._step(batch, M, rng).iterations)
    return {"wall_s": time.perf_counter() - w0, "process_cpu_s": time.process_time() - p0,
            "thread_cpu_s": time.thread_time() - t0, "steps": args.steps, "bp_sweeps": iters}


def summarise(rounds: list[dict]) -> dict:
    steps = sum(r["steps"] for r in rounds)
    sweeps = [s for r in rounds for s in r["bp_sweeps"]]
    wall, proc, thr = (sum(r[k] for r in rounds) for k in ("wall_s", "process_cpu_s", "thread_cpu_s"))
    per_round = [r["steps"] / r["process_cpu_s"] for r in rounds]
    return {"steps": steps, "wall_s": wall, "process_cpu_s": proc, "thread_cpu_s": thr,
            "steps_per_s_wall": steps / wall, "steps_per_s_cpu": steps / proc,
            "steps_per_s_thread_cpu": steps / thr,
            "steps_per_s_cpu_by_round": per_round,
            "bp_sweeps_per_step": float(np.mean(sweeps)), "bp_sweeps_max": int(np.max(sweeps)),
            "cpu_ms_per_sweep_upper_bound": 1000 * proc / max(1, sum(sweeps))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--n-z", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6, help="steps per round and implementation (default 6)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--avx2-only", action="store_true",
                    help="switch numpy's AVX-512 loops off (NPY_DISABLE_CPU_FEATURES) to measure an AVX2 CPU")
    ap.add_argument("--out", default="runs/rbm_speed.json")
    args = ap.parse_args(argv)
    for name in ("hidden", "batch_size", "n_z", "steps", "rounds"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    X = binarize(load_dataset("sample").x_train)
    machine = cpu_info()
    models = {impl: make_model(impl, X, args) for impl in IMPLEMENTATIONS}
    rounds = {impl: [] for impl in IMPLEMENTATIONS}
    for r in range(args.rounds):
        order = IMPLEMENTATIONS if r % 2 == 0 else IMPLEMENTATIONS[::-1]
        for impl in order:
            rounds[impl].append(run_round(models[impl], X, args, args.seed + 1000 + r))
            last = rounds[impl][-1]
            print(f"round {r + 1}/{args.rounds} {impl:6s}: {last['steps'] / last['process_cpu_s']:.2f} steps/CPU-s, "
                  f"{last['steps'] / last['wall_s']:.2f} steps/s wall, "
                  f"{np.mean(last['bp_sweeps']):.1f} sweeps/step", file=sys.stderr)
    summary = {impl: summarise(rounds[impl]) for impl in IMPLEMENTATIONS}
    new, old = summary["new"], summary["legacy"]
    try:
        machine["loadavg_at_end"] = list(os.getloadavg())
    except OSError:                                           # pragma: no cover
        pass
    target = 5.0
    out = {"benchmark": "rbm_speed", "N": int(X.shape[1]), "P": args.hidden, "batch_size": args.batch_size,
           "n_z": args.n_z, "bp_dtype": "float32", "data": "embedded Fashion-MNIST sample",
           "rounds": args.rounds, "steps_per_round": args.steps, "summary": summary, "rounds_detail": rounds,
           "speedup_cpu": new["steps_per_s_cpu"] / old["steps_per_s_cpu"],
           "speedup_wall": new["steps_per_s_wall"] / old["steps_per_s_wall"],
           "target_steps_per_cpu_s": target,
           # The target is for AVX2-only numpy loops; with AVX-512 loops it does not apply (None).
           "target_met": (None if machine.get("numpy_avx512_loops") else bool(new["steps_per_s_cpu"] >= target)),
           "machine": machine}
    for impl in IMPLEMENTATIONS:
        s = summary[impl]
        print(f"{impl:6s}: {s['steps_per_s_cpu']:.2f} steps/CPU-s ({s['steps_per_s_thread_cpu']:.2f} by thread time), "
              f"{s['steps_per_s_wall']:.2f} steps/s wall, {s['bp_sweeps_per_step']:.1f} BP sweeps/step, "
              f"<= {s['cpu_ms_per_sweep_upper_bound']:.2f} CPU-ms/sweep", file=sys.stderr)
    verdict = {None: "not applicable (numpy's AVX-512 loops are on; use --avx2-only)", True: "met",
               False: "MISSED"}[out["target_met"]]
    print(f"speedup {out['speedup_cpu']:.2f}x (CPU), {out['speedup_wall']:.2f}x (wall); target >= {target} "
          f"steps/CPU-s on AVX2-only numpy loops: {verdict}", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
