"""Planted-teacher benchmark of the binary-synapse RBM (the seeds' experiment).

N visible, P hidden, β; α = M/N from 1 to 5; several seeds; both rules ("blr" and "huang") trained on the
same teacher and data per seed (paired), full batch, constant learning rate. Records per rule, P and α:
overlap of the MAP weights with the teacher (best matching of hidden units, sign-flip invariant), mean ± std
over seeds; steps to convergence (first step at which the overlap comes within 0.02 of its plateau, the mean
over the last 10% of steps); wall time. A second table sweeps the learning rate of both rules over the same
values at the largest α (equal-learning-rate comparison). Writes a JSON table and, if matplotlib is
installed, a PNG plot of overlap vs α.

    python bench/planted_rbm.py --out runs/planted_rbm.json --plot runs/planted_rbm.png
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_text
from lowprec_rbm.rbm import BinaryRBM
from lowprec_rbm.rbm.planted import planted_data


def steps_to_convergence(overlaps: list[float], tol: float = 0.02) -> int:
    """First step whose overlap is within ``tol`` of the plateau (mean over the last 10% of steps)."""
    ov = np.asarray(overlaps)
    plateau = ov[-max(1, len(ov) // 10):].mean()
    return int(np.flatnonzero(ov >= plateau - tol)[0] + 1)


def run_one(X, teacher, rule, lr, args, seed):
    model = BinaryRBM(n_hidden=teacher.shape[1], beta=args.beta, rule=rule, learning_rate=lr, epochs=args.steps,
                      n_z=args.n_z, partition=args.partition, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, teacher=teacher)
    seconds = time.perf_counter() - t0
    h = model.history_
    return {"overlap": h[-1]["overlap"], "overlap_per_unit": h[-1]["overlap_per_unit"],
            "steps_to_convergence": steps_to_convergence([r["overlap"] for r in h]), "seconds": seconds,
            "lower_bound_per_sample": h[-1]["lower_bound_per_sample"], "kl": h[-1]["kl"],
            "bp_converged_fraction": float(np.mean([r["bp_converged_fraction"] for r in h])),
            "bp_warnings": len(caught)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-visible", type=int, default=100)
    ap.add_argument("--hidden", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--alphas", type=float, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed0", type=int, default=0, help="first seed (teacher, data and model)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--n-z", type=int, default=8)
    ap.add_argument("--partition", default="quenched", choices=["quenched", "annealed"])
    # Full-batch rates, picked on tuning seeds 100-103 at alpha = 5 (not the reported seeds): blr 0.2 was best of
    # {0.05, 0.1, 0.2}, huang 0.1 best of {0.05, 0.1, 0.2}; the sweep below shows both rules at equal rates.
    ap.add_argument("--lr-blr", type=float, default=0.2, help="ρ of the BLR (default 0.2)")
    ap.add_argument("--lr-huang", type=float, default=0.1, help="Adam step on m of Huang's rule (default 0.1)")
    ap.add_argument("--sweep-lrs", type=float, nargs="*", default=[0.05, 0.1, 0.2, 0.4],
                    help="learning rates tried for both rules at the largest alpha (empty: no sweep)")
    ap.add_argument("--out", default="runs/planted_rbm.json")
    ap.add_argument("--plot", default="runs/planted_rbm.png")
    args = ap.parse_args(argv)
    rules = {"blr": args.lr_blr, "huang": args.lr_huang}
    results = {r: {} for r in rules}
    t_start = time.perf_counter()
    for P in args.hidden:
        for alpha in args.alphas:
            runs = {r: [] for r in rules}
            for s in range(args.seed0, args.seed0 + args.seeds):
                teacher, X = planted_data(args.n_visible, P, alpha, np.random.default_rng([s, P, int(alpha * 100)]),
                                          beta=args.beta)
                for rule, lr in rules.items():
                    runs[rule].append(run_one(X, teacher, rule, lr, args, s))
            for rule, rs in runs.items():
                ov = np.array([r["overlap"] for r in rs])
                results[rule].setdefault(f"P={P}", []).append({
                    "alpha": alpha, "M": int(round(alpha * args.n_visible)),
                    "overlap_mean": float(ov.mean()), "overlap_std": float(ov.std(ddof=1)) if len(ov) > 1 else 0.0,
                    "overlaps": ov.round(4).tolist(),
                    "steps_to_convergence_mean": float(np.mean([r["steps_to_convergence"] for r in rs])),
                    "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
                    "kl_mean": float(np.mean([r["kl"] for r in rs])),
                    "bp_converged_fraction": float(np.mean([r["bp_converged_fraction"] for r in rs])),
                    "bp_warnings": int(sum(r["bp_warnings"] for r in rs))})
                row = results[rule][f"P={P}"][-1]
                print(f"P={P} alpha={alpha:g} {rule:5s} overlap {row['overlap_mean']:.3f} ± {row['overlap_std']:.3f}"
                      f"  steps {row['steps_to_convergence_mean']:.0f}  {row['seconds_mean']:.2f} s/run",
                      file=sys.stderr, flush=True)
    checks = {}
    for key in results["blr"]:
        blr_m = [r["overlap_mean"] for r in results["blr"][key]]
        hu_m = [r["overlap_mean"] for r in results["huang"][key]]
        checks[key] = {
            "blr_overlap_grows_with_alpha": bool(np.all(np.diff(blr_m) >= 0)),
            "blr_last_minus_first": float(blr_m[-1] - blr_m[0]),
            "blr_ge_huang_every_alpha": bool(all(b >= h for b, h in zip(blr_m, hu_m))),
            "blr_minus_huang": [round(b - h, 4) for b, h in zip(blr_m, hu_m)],
            "blr_overlap_at_max_alpha": blr_m[-1]}
    sweep = {}
    if args.sweep_lrs:
        P, alpha = args.hidden[0], max(args.alphas)
        data = [planted_data(args.n_visible, P, alpha, np.random.default_rng([s, P, int(alpha * 100)]),
                             beta=args.beta) for s in range(args.seed0, args.seed0 + args.seeds)]
        for rule in rules:
            sweep[rule] = []
            for lr in args.sweep_lrs:
                rs = [run_one(X, teacher, rule, lr, args, s) for s, (teacher, X) in
                      zip(range(args.seed0, args.seed0 + args.seeds), data)]
                ov = np.array([r["overlap"] for r in rs])
                sweep[rule].append({"learning_rate": lr, "overlap_mean": float(ov.mean()),
                                    "overlap_std": float(ov.std(ddof=1)) if len(ov) > 1 else 0.0,
                                    "steps_to_convergence_mean":
                                        float(np.mean([r["steps_to_convergence"] for r in rs]))})
                print(f"sweep P={P} alpha={alpha:g} {rule:5s} lr {lr:g}: overlap {ov.mean():.3f} ± "
                      f"{sweep[rule][-1]['overlap_std']:.3f}", file=sys.stderr, flush=True)
    out = {"benchmark": "planted_rbm", "config": {k: v for k, v in vars(args).items() if k not in ("out", "plot")},
           "learning_rates": rules,
           "results": results, "checks": checks,
           "lr_sweep": {"P": args.hidden[0], "alpha": max(args.alphas), "results": sweep},
           "total_seconds": time.perf_counter() - t_start}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib not installed: no plot", file=sys.stderr)
            return 0
        keys = list(results["blr"])
        fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False, sharey=True)
        for ax, key in zip(axes[0], keys):
            for rule, style in (("blr", "o-"), ("huang", "s--")):
                rows = results[rule][key]
                ax.errorbar([r["alpha"] for r in rows], [r["overlap_mean"] for r in rows],
                            yerr=[r["overlap_std"] for r in rows], fmt=style, capsize=3,
                            label=f"{rule} (lr {out['learning_rates'][rule]:g})")
            ax.set(title=f"N={args.n_visible}, {key}, β={args.beta:g}", xlabel="α = M/N", ylim=(0, 1.02))
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(f"overlap of MAP weights ({args.seeds} seeds)")
        axes[0][0].legend(loc="lower right")
        fig.tight_layout()
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
