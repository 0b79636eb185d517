"""Why the BLR trails the clipped rule at α = 1 on the planted teacher: paired seeds at every α, with diagnostics.

Same protocol as ``bench/planted_rbm.py`` (N = 100, β = 1, full batch, 100 steps, BLR ρ = 0.2, Huang's clipped
ascent with Adam η = 0.1, the same teacher and data per seed for both rules). Per α, P and data seed, each rule
is run from ``--restarts`` initialisations (model seeds s, s + 1000, ...; restart 0 is the bench's run), and

- ``first``: restart 0 only, the paired comparison the README reported (same data, same initial means);
- ``mean_over_inits``: the overlap averaged over the restarts (the rule's effect without the init lottery);
- ``best_elbo``: the restart with the highest lower bound on the training data (the training objective, same
  selection for both rules; the teacher is never looked at);
- ``blr_from_clipped``: the BLR run for 100 more steps from the clipped rule's restart-0 end point. If that
  end point were a stationary point of the ELBO, the BLR (a fixed-point iteration of the same ELBO) would stay
  there; its lower-bound gain and overlap change show where the clipped rule stops;
- ``long`` (with ``--long-steps S``): restart 0 of both rules run for S steps instead (is the clipped rule's
  overlap at 100 steps where it converges?).

Every difference is BLR − clipped per data seed: mean, its standard error (std/√n) and std.

    python bench/planted_blr_vs_clipped.py --out bench/results/planted_blr_vs_clipped.json
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from export.fileio import atomic_write_text
from lowprec_rbm.posterior import BernoulliPosterior
from lowprec_rbm.rbm import BinaryRBM
from lowprec_rbm.rbm.planted import overlap, planted_data


def fit(X, teacher, P, seed, steps, **kw) -> BinaryRBM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)         # BP convergence is recorded in the history
        # The seeds' model: no fields (the teacher has none).
        return BinaryRBM(n_hidden=P, epochs=steps, visible_fields=False, hidden_fields=False,
                         **seed_kw(BinaryRBM, seed), **kw).fit(X, teacher=teacher)


def seed_kw(cls, seed: int) -> dict:
    """The seed keyword of ``cls`` (``random_state`` in the estimator contract of issue 15, ``seed`` before)."""
    return {"random_state" if "random_state" in inspect.signature(cls.__init__).parameters else "seed": seed}


def end(model: BinaryRBM) -> tuple[float, float]:
    return model.history_[-1]["overlap"], model.history_[-1]["lower_bound_per_sample"]


def blr_from(model: BinaryRBM, X, teacher, seed, steps, rho) -> tuple[float, float]:
    """``steps`` full-batch BLR steps started at ``model``'s natural parameters; (overlap, lower bound/sample)."""
    b = fit(X, teacher, model.n_hidden, seed, 1, rule="blr", learning_rate=rho)
    b._lam = model.posterior_.lam.copy()            # private state of BinaryRBM: the start point of the iteration
    b._state, b._u = b._rule.init(b._lam), None
    rng = np.random.default_rng([seed, 7])
    for _ in range(steps):
        b._step(X, X.shape[0], rng)
    b.posterior_ = BernoulliPosterior(b._lam.copy())
    return overlap(teacher, b.posterior_.map())[0], b.lower_bound(X) / X.shape[0]


def stats(d) -> dict:
    d = np.asarray(d, dtype=float)
    return {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))), "std": float(d.std(ddof=1))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--alphas", type=float, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr-blr", type=float, default=0.2)
    ap.add_argument("--lr-huang", type=float, default=0.1)
    ap.add_argument("--long-steps", type=int, default=0, help="also run restart 0 of both rules this long")
    ap.add_argument("--out", default="runs/planted_blr_vs_clipped.json")
    args = ap.parse_args(argv)
    rules = {"blr": {"rule": "blr", "learning_rate": args.lr_blr},
             "huang": {"rule": "huang", "learning_rate": args.lr_huang}}
    t_start = time.perf_counter()
    table = []
    for P in args.hidden:
        for alpha in args.alphas:
            per = {k: [] for k in ("first", "mean_over_inits", "best_elbo", "lb_first", "from_clipped",
                                   "lb_from_clipped", "long", "lb_long")}
            raw = []
            for s in range(args.seeds):
                teacher, X = planted_data(100, P, alpha, np.random.default_rng([s, P, int(alpha * 100)]))
                runs = {r: [fit(X, teacher, P, s + 1000 * k, args.steps, **kw) for k in range(args.restarts)]
                        for r, kw in rules.items()}
                ends = {r: [end(m) for m in ms] for r, ms in runs.items()}
                cont = blr_from(runs["huang"][0], X, teacher, s, args.steps, args.lr_blr)
                raw.append({"seed": s, "ends": ends, "blr_from_clipped": cont})
                if args.long_steps:
                    long_ends = {r: end(fit(X, teacher, P, s, args.long_steps, **kw)) for r, kw in rules.items()}
                    raw[-1]["long"] = long_ends
                    for r in rules:
                        per["long"].append(long_ends[r][0])
                        per["lb_long"].append(long_ends[r][1])
                for r in rules:
                    e = np.array(ends[r])
                    per["first"].append(e[0, 0])
                    per["mean_over_inits"].append(e[:, 0].mean())
                    per["best_elbo"].append(e[np.argmax(e[:, 1]), 0])
                    per["lb_first"].append(e[0, 1])
                per["from_clipped"].append(cont[0])
                per["lb_from_clipped"].append(cont[1])
            row = {"P": P, "alpha": alpha, "seeds": args.seeds, "restarts": args.restarts}
            for key in ("first", "mean_over_inits", "best_elbo", "lb_first") + (("long", "lb_long")
                                                                                 if args.long_steps else ()):
                v = np.array(per[key]).reshape(args.seeds, 2)           # columns: blr, huang
                row[key] = {"blr": float(v[:, 0].mean()), "huang": float(v[:, 1].mean()),
                            "blr_minus_huang": stats(v[:, 0] - v[:, 1])}
            hu = np.array(per["first"]).reshape(args.seeds, 2)[:, 1]
            hlb = np.array(per["lb_first"]).reshape(args.seeds, 2)[:, 1]
            row["blr_from_clipped"] = {"overlap": float(np.mean(per["from_clipped"])),
                                       "overlap_change": stats(np.array(per["from_clipped"]) - hu),
                                       "lower_bound_gain_per_sample": stats(np.array(per["lb_from_clipped"]) - hlb)}
            row["raw"] = raw
            table.append(row)
            f, m, b = (row[k]["blr_minus_huang"] for k in ("first", "mean_over_inits", "best_elbo"))
            print(f"P={P} α={alpha:g}: BLR−clipped first {f['mean']:+.3f}±{f['se']:.3f}  mean-over-inits "
                  f"{m['mean']:+.3f}±{m['se']:.3f}  best-ELBO {b['mean']:+.3f}±{b['se']:.3f}  LB gain of BLR "
                  f"from clipped end {row['blr_from_clipped']['lower_bound_gain_per_sample']['mean']:+.4f}  "
                  f"({time.perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)
            out = {"benchmark": "planted_blr_vs_clipped", "config": {k: v for k, v in vars(args).items()
                                                                      if k != "out"},
                   "table": table, "complete": False, "total_seconds": time.perf_counter() - t_start}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(args.out, json.dumps(out, indent=1))
    out["complete"] = True
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
