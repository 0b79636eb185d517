"""What the RBM's training bound tracks: the Bethe lower bound against the ELBO measured by AIS, and against the
AIS log-likelihood of the MAP weights, per epoch (issue 14, "Fidelity").

For each epoch of a BinaryRBM fit on the embedded sample (784 visible units, 2,000 training images; test: the first
200 test images) it records
  - the bound as trained and reported: lower bound per sample, CLT data term per sample, the Bethe <ln Z>_z
    (``log_partition``) and what the restart from zero messages added to it (``lb_bp_restart_gain``; the
    warm-started value alone is log_partition - gain: what the bound read before restarts existed);
  - the true ELBO of the same q(W), measured: for S weight matrices W_k ~ q, the exact unnormalised data
    log-probability and an AIS ln Z(W_k) (``--chains`` x ``--temperatures``), so ELBO ≈ mean_k ln p(D | W_k) / M
    - KL / M, with the data term and ln Z also reported apart;
  - the MAP weights' log-likelihood (AIS ln Z) on the training and test images: what ``--ais-every`` reports.
With ``--small`` the model is N = 16 (4x4 block means of the images, threshold 0.25), P = 4 hidden, and every
quantity is exact (enumeration of the 2^16 visible states; E_q by 400 weight draws).

    python bench/rbm_bethe_vs_ais.py --hidden 32 --epochs 8 --fields both -o bench/results/rbm_bethe_vs_ais_p32.json
    python bench/rbm_bethe_vs_ais.py plot bench/results/rbm_bethe_vs_ais.png bench/results/rbm_bethe_vs_ais_p*.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lowprec_rbm.data import binarize
from lowprec_rbm.data.datasets import load_embedded_sample
from lowprec_rbm.rbm import BinaryRBM, ais, exact


def _data(small: bool):
    ds = load_embedded_sample()
    if small:
        def patches(imgs):
            x = imgs.reshape(len(imgs), 4, 7, 4, 7).mean(axis=(2, 4)) / 255.0
            return np.where(x >= 0.25, 1, -1).astype(np.int8).reshape(len(imgs), 16)
        return patches(ds.x_train), patches(ds.x_test)
    X = binarize(ds.x_train, 0.5).reshape(len(ds.x_train), -1)
    return X, binarize(ds.x_test[:200], 0.5).reshape(200, -1)


def _log_lik(W, rbm, X, chains, temperatures, seed, small):
    """(mean ln p(X | W) per row, ln Z, its se): exact for the small model, AIS for the large one."""
    b, c = rbm.fields_()
    if small:
        lz = exact.log_partition(W, rbm.beta, visible_field=b, hidden_field=c)
        return exact.log_likelihood(X, W, rbm.beta, visible_field=b, hidden_field=c) / len(X), lz, 0.0
    bb, cc = rbm._fields()
    J = ais.binary_couplings(W, rbm.beta)
    res = ais.ais_log_partition(J, visible_field=bb, hidden_field=cc, n_chains=chains, n_temperatures=temperatures,
                                random_state=np.random.default_rng(seed))
    return float(ais.unnormalized_log_prob(X, J, bb, cc).mean()) - res.log_z, res.log_z, res.log_z_se


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--fields", choices=("both", "none"), default="both")
    ap.add_argument("--field-rate", type=float, default=0.1)
    ap.add_argument("--posterior-samples", type=int, default=4)
    ap.add_argument("--chains", type=int, default=50)
    ap.add_argument("--temperatures", type=int, default=1000)
    ap.add_argument("--small", action="store_true", help="N = 16 patches, P = --hidden, everything exact")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    X, Xt = _data(args.small)
    M = len(X)
    epochs = []

    def on_epoch(rec):
        t0 = time.process_time()
        m = rbm.posterior_.mean
        W = rbm.posterior_.map()
        r = {k: rec[k] for k in ("epoch", "lower_bound_per_sample", "log_partition", "lb_bp_restart_gain", "kl",
                                  "map_flips", "lb_bp_converged", "bp_converged_fraction")}
        r["clt_data_per_sample"] = rec["data_term"] / M
        r["kl_per_sample"] = rec["kl"] / M
        r["map_train_ll"], r["map_log_z"], r["map_log_z_se"] = _log_lik(W, rbm, X, args.chains, args.temperatures,
                                                                        1, args.small)
        r["map_test_ll"] = r["map_train_ll"] + (_log_lik(W, rbm, Xt, args.chains, args.temperatures, 1,
                                                         args.small)[0] - r["map_train_ll"])
        n = 400 if args.small else args.posterior_samples
        draws = np.where(np.random.default_rng(9).random((n,) + m.shape) < (1 + m) / 2, 1, -1)
        lls, lzs = [], []
        for k, Wk in enumerate(draws):
            ll, lz, _ = _log_lik(Wk, rbm, X, args.chains, args.temperatures, 100 + k, args.small)
            lls.append(ll)
            lzs.append(lz)
        r["posterior_ll"] = float(np.mean(lls))
        r["posterior_ll_se"] = float(np.std(lls, ddof=1) / np.sqrt(n))
        r["true_elbo_per_sample"] = r["posterior_ll"] - r["kl_per_sample"]
        r["posterior_log_z"] = float(np.mean(lzs))
        r["posterior_data_per_sample"] = float(np.mean(np.add(lls, lzs)))
        r["bound_minus_true_elbo"] = r["lower_bound_per_sample"] - r["true_elbo_per_sample"]
        r["eval_cpu_s"] = time.process_time() - t0
        epochs.append(r)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)

    rbm = BinaryRBM(n_hidden=args.hidden, epochs=args.epochs, batch_size=100, random_state=args.seed,
                    visible_fields=args.fields == "both", hidden_fields=args.fields == "both",
                    field_rate=args.field_rate)
    t0 = time.process_time()
    rbm.fit(X, on_epoch=on_epoch)
    out = {"benchmark": "rbm_bethe_vs_ais", "config": vars(args), "n_visible": int(X.shape[1]), "n_train": M,
           "n_test": int(len(Xt)), "learning_rate": rbm.learning_rate_, "exact": bool(args.small),
           "cpu_s": time.process_time() - t0, "machine": platform.processor() or platform.machine(),
           "epochs": epochs}
    path = Path(args.output)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(out, f, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return 0


def plot(paths: list[str], output: str) -> None:
    """One panel per result file: bound, measured ELBO (± se) and the MAP weights' train/test ln p per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(paths), figsize=(4.2 * len(paths), 3.4), squeeze=False)
    for ax, p in zip(axes[0], paths):
        d = json.loads(Path(p).read_text())
        ep = [r["epoch"] for r in d["epochs"]]
        col = lambda k: [r[k] for r in d["epochs"]]
        ax.plot(ep, col("lower_bound_per_sample"), "o-", label="Bethe lower bound (training)")
        ax.errorbar(ep, col("true_elbo_per_sample"), yerr=col("posterior_ll_se"), fmt="s-",
                    label="ELBO, AIS over q samples")
        ax.plot(ep, col("map_train_ll"), "^--", label="MAP weights ln p, train (AIS)")
        ax.plot(ep, col("map_test_ll"), "v--", label="MAP weights ln p, test (AIS)")
        c = d["config"]
        ax.set_title(f"N={d['n_visible']}, P={c['hidden']}, fields {c['fields']}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=Path(output).parent, prefix=Path(output).name, suffix=".tmp")
    os.close(fd)
    fig.savefig(tmp, format="png", dpi=110)
    os.chmod(tmp, 0o644)
    os.replace(tmp, output)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "plot":      # python bench/rbm_bethe_vs_ais.py plot OUT.png A.json ...
        plot(sys.argv[3:], sys.argv[2])
        sys.exit(0)
    sys.exit(main())
