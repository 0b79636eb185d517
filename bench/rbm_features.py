"""Feature benchmark of the binary-synapse RBM on full Fashion-MNIST, next to scikit-learn's BernoulliRBM.

For every hidden size P and seed, in one process and on the same data:

(a) ``blr_phv_logreg``: a BLR-trained :class:`~lowprec_rbm.rbm.BinaryRBM`; features P(h_a = +1 | v) of the
    MAP weights W = sign(λ) (``sigmoid(2β (Σ_i W_ia v_i / √N + θ_a))``, θ the hidden fields when the model has
    them, else 0) -> scikit-learn ``LogisticRegression``;
(b) ``blr_bits_binary_readout``: the hidden MAP bits ``h_a = sign(Σ_i W_ia v_i / √N + θ_a)`` -> a BayesBiNN ±1
    readout (the library's ``MLPClassifier`` with no hidden layer, ±1 inputs): the fully binary, deployable
    classifier (XNOR-popcount then a per-class integer threshold), as ``bench/rbm_readout.py`` does;
(c) ``sklearn_rbm_logreg``: scikit-learn's ``BernoulliRBM`` with the same P on the same binarised pixels
    ({0, 1} = the RBM's ±1 visible units) -> the same ``LogisticRegression`` procedure.

Extra rows, clearly labelled and not replacing the target rows:

(a') ``blr_predictive_logreg``: the posterior-predictive features E_q[P(h_a = +1 | v, W)]
     (:meth:`BinaryRBM.predictive_hidden`: posterior means, CLT + Gauss-Hermite) -> the same LogisticRegression;
     the Bayesian hidden representation (not the deployable one: the exported model computes MAP bits);
(b') ``blr_bits_binary_hidden_readout``: the hidden MAP bits -> a BayesBiNN ±1 network with one hidden ±1 layer
     (``--readout-hidden`` units, sign activations): still fully binary and deployable (``--readout-hidden 0``
     skips it).
(b'') ``blr_bits_logreg``: the hidden MAP bits (as 0/1) -> the same float LogisticRegression as (a): what any
     linear readout of these bits can do with real weights, so the ceiling of (b)'s ±1 linear readout
     (``--no-bits-logreg`` skips it).
(b''') ``blr_bits_float_mlp`` (``--float-mlp-hidden H``): the hidden MAP bits -> a real-weight network with one
     hidden layer of H ReLU units (the library's ``MLPClassifier``, rule ``adam``, the same epochs and epoch choice
     as (b')): what a nonlinear readout with real weights reads from these bits, the float reference for (b').

Split: the first 54,000 training images train (``--train-size K`` trains both RBMs on the first K of them only;
the readouts always use all 54,000), the last 6,000 validate (the LogisticRegression C and the readout epoch are chosen
on them, the same way for every pipeline), the 10,000 test images are scored once per choice.
Pixels become ±1 at half intensity (the README's binarisation).

The JSON (written after every (P, seed) so an interrupted run keeps what it finished) records the
configuration, what was run (``reduced`` and a ``note`` when less than the issue's protocol: P in {256, 1024},
seeds 0-2, full data), accuracies, per-phase seconds, the RBM's s/step and per-epoch history, and the
dead/saturated hidden units (a unit whose MAP bit takes one value on over 99 % of training images).

    python bench/rbm_features.py --hidden 256 --seeds 0 --epochs 2 -o bench/results/rbm_features.json

The settings of the recorded protocol runs (chosen on validation, ``bench/results/rbm_features_levers_val.json``;
one process per seed):

    python bench/rbm_features.py --hidden 256 --seeds 0 --epochs 1 --batch-size 20 --n-z 2 --C 1 \
        --ais-images 0 --rbm-param beta=0.5 -o bench/results/rbm_features_p256_beta0.5_seed0.json

``--fields none|hidden|visible|both`` sets BinaryRBM's ``visible_fields``/``hidden_fields`` (the learned biases;
``both`` is the model's default); ``--rbm-param KEY=VALUE`` passes any further BinaryRBM keyword (VALUE read as
JSON, else as a string).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

PROTOCOL = {"hidden": [256, 1024], "seeds": [0, 1, 2], "train_size": 54000}
FIELDS = {"none": {"visible_fields": False, "hidden_fields": False},
          "hidden": {"visible_fields": False, "hidden_fields": True},
          "visible": {"visible_fields": True, "hidden_fields": False},
          "both": {"visible_fields": True, "hidden_fields": True}}
SATURATION = 0.99          # a hidden unit whose MAP bit takes one value on > 99 % of images is dead/saturated


def parse_rbm_params(items: list[str], ap: argparse.ArgumentParser) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            ap.error(f"--rbm-param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def seed_kw(cls, seed: int) -> dict:
    """The seed keyword of ``cls`` (``random_state`` in the estimator contract of issue 15, ``seed`` before)."""
    return {"random_state" if "random_state" in inspect.signature(cls.__init__).parameters else "seed": seed}


def rbm_features(model, v: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """P(h = +1 | v) (float32) and the MAP bits (uint8 255/0) of ±1 patterns v (M, N) under MAP weights."""
    W = model.posterior_.map().astype(np.float32)                      # (N, P), sign(0) = +1
    c = model.hidden_field_ if model.hidden_field_ is not None else np.zeros(W.shape[1])
    field = (v.astype(np.float32) @ W) / np.float32(np.sqrt(W.shape[0])) + c.astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-2.0 * beta * field))                      # P(h=+1|v) = e^{βx} / 2cosh(βx)
    bits = np.where(field >= 0, 255, 0).astype(np.uint8)               # sign(0) = +1, as the exporter does
    return p.astype(np.float32), bits


def unit_activity(bits: np.ndarray) -> dict:
    on = (bits > 0).mean(axis=0)
    return {"dead": int(np.sum(on < 1 - SATURATION)), "always_on": int(np.sum(on > SATURATION)),
            "n_hidden": int(bits.shape[1]), "on_fraction_quartiles": np.quantile(on, [0.25, 0.5, 0.75]).round(4).tolist()}


def logreg(ftr, ytr, fva, yva, fte, yte, Cs, max_iter, seed) -> dict:
    """LogisticRegression with C chosen on the validation set (same procedure for every feature set)."""
    from sklearn.linear_model import LogisticRegression

    rows, best = [], None
    for C in Cs:
        t0 = time.perf_counter()
        clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
        clf.fit(ftr, ytr)
        row = {"C": C, "val_acc": float(clf.score(fva, yva)), "test_acc": float(clf.score(fte, yte)),
               "n_iter": int(np.max(clf.n_iter_)), "seconds": time.perf_counter() - t0}
        rows.append(row)
        if best is None or row["val_acc"] > best["val_acc"]:
            best = row
    return {"test_acc": best["test_acc"], "val_acc": best["val_acc"], "C": best["C"], "grid": rows}


def bits_readout(btr, ytr, bva, yva, bte, yte, epochs, seed, hidden: tuple = (), rule: str = "bayesbinn",
                 activation: str = "sign") -> dict:
    """A readout of the bits by the library's MLPClassifier: BayesBiNN ±1 weights and sign activations (the
    deployable readouts), or ``rule="adam", activation="relu"``: real weights, the float reference (b''')."""
    from lowprec_rbm.nn import MLPClassifier, metrics

    t0 = time.perf_counter()
    model = MLPClassifier(hidden=hidden, activation=activation, rule=rule, input_encoding="binary",
                          threshold=0.5, epochs=epochs, random_state=seed, test_samples=10)
    model.fit(btr, ytr, bva, yva, eval_sets={"test": (bte, yte)}, n_classes=10)
    h = model.history_
    best = int(np.argmax([r["val_acc"] for r in h]))
    row = {"test_acc": h[best]["test_acc"], "val_acc": h[best]["val_acc"], "best_epoch": best + 1,
           "test_acc_last": h[-1]["test_acc"], "epochs": epochs, "hidden": list(hidden), "rule": rule,
           "activation": activation, "seconds": time.perf_counter() - t0}
    if rule == "bayesbinn":
        row["test_mean_last"] = metrics.summarize(model.predict_proba(bte, mode="mean"), yte)
    return row


def log_likelihood_hook(kind: str, model, v_test: np.ndarray, v_train: np.ndarray | None = None,
                        n_images: int = 1000, n_temperatures: int | None = None) -> dict:
    """Test log-likelihood per image (nats) by AIS (lowprec_rbm.rbm.ais) on the first ``n_images`` test images.

    kind "blr": the BinaryRBM's MAP ±1 weights and fields (``score_samples``: hiddens summed out exactly, ln Z by
    AIS from the model's own visible field). kind "sklearn": BernoulliRBM's components_/intercepts_ through the
    exact {0,1} -> ±1 change of variables, AIS from the training data's marginals (from the model's own field
    the ESS collapses on these models). Both are distributions over the same 784 binary pixels, so the figures
    compare directly; the AIS standard error and effective sample size are recorded with each.

    ``upper_bound_95``: whatever the ESS, the figure is one-sided: ln Z ≥ ln Ẑ − ln 20 with probability ≥ 95 %
    (:meth:`AISResult.log_z_lower_bound`, Markov's inequality on the unbiased Ẑ), so the true test
    log-likelihood is below ll̂ + ln 20 with the same confidence. A model whose AIS run is degenerate (ESS near 1)
    still gets this upper bound; AIS cannot give it a lower one.
    """
    from lowprec_rbm.rbm import ais

    v = v_test[:n_images]
    t0 = time.perf_counter()
    if kind == "blr":
        ll = model.score_samples(v)
        res = model.log_z_
    elif kind == "sklearn":
        base = None if v_train is None else (v_train[:10000] > 0).astype(np.float64)
        kw = {} if n_temperatures is None else {"n_temperatures": n_temperatures}
        ll, res = ais.bernoulli_log_likelihood((v > 0).astype(np.float64), model.components_,
                                               model.intercept_visible_, model.intercept_hidden_,
                                               base_data=base, random_state=0, **kw)
    else:
        raise ValueError(f"kind must be 'blr' or 'sklearn', got {kind!r}")
    return {"test_log_likelihood_per_image": float(np.mean(ll)),
            "upper_bound_95": float(np.mean(ll) + res.log_z - res.log_z_lower_bound(0.05)),
            "log_z_se": float(res.log_z_se),
            "ais_ess": float(res.ess), "ais_temperatures": int(res.n_temperatures), "images": int(len(v)),
            "seconds": round(time.perf_counter() - t0, 1)}


def run_one(P: int, seed: int, args, data, rbm_params: dict) -> dict:
    from sklearn.neural_network import BernoulliRBM

    from lowprec_rbm.rbm import BinaryRBM

    vtr, ytr, vva, yva, vte, yte = data
    vfit = vtr[:args.train_size]                                       # what the RBMs train on
    row: dict = {"P": P, "seed": seed, "fields": args.fields}
    # (a)+(b): the BLR RBM.
    model = BinaryRBM(n_hidden=P, rule="blr", learning_rate=args.learning_rate, schedule=args.schedule,
                      epochs=args.epochs, batch_size=args.batch_size, n_z=args.n_z, **seed_kw(BinaryRBM, seed),
                      **rbm_params)
    t0 = time.perf_counter()
    c0 = time.process_time()
    # the labels are used only by the hybrid RBM (--rbm-param discriminative=γ > 0); with γ = 0 fit ignores them
    model.fit(vfit, ytr[:args.train_size],
              on_epoch=lambda r: print(f"  P={P} seed={seed} blr epoch {r['epoch']}: lb/sample "
                                       f"{r['lower_bound_per_sample']:.2f}  {r['seconds']:.0f} s"
                                       + (f"  readout train acc {r['readout_train_acc']:.4f}"
                                          if "readout_train_acc" in r else ""), file=sys.stderr, flush=True))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = args.epochs * -(-len(vfit) // args.batch_size)
    row["blr_rbm"] = {"params": {k: v for k, v in model.get_params().items()}, "learning_rate_used":
                      model.learning_rate_, "epochs": args.epochs, "steps": steps, "train_seconds": wall,
                      "train_cpu_seconds": cpu, "s_per_step": wall / steps, "cpu_s_per_step": cpu / steps,
                      "s_per_epoch": float(np.mean([r["seconds"] for r in model.history_])),
                      "history": model.history_}
    t0 = time.perf_counter()
    (ptr, btr), (pva, bva), (pte, bte) = (rbm_features(model, v, model.beta) for v in (vtr, vva, vte))
    # The bits must be the library's (the exported feature extractor's); float32 here, float64 there: a pattern
    # whose field rounds across 0 would differ, so the check allows none on 6,000 validation images.
    lib = model.hidden_map_bits(vva)
    row["blr_rbm"]["bits_differ_from_library"] = int(np.sum((lib > 0) != (bva > 0)))
    row["blr_rbm"]["hidden_units"] = unit_activity(btr)
    row["blr_rbm"]["feature_seconds"] = time.perf_counter() - t0
    row["blr_phv_logreg"] = logreg(ptr, ytr, pva, yva, pte, yte, args.C, args.max_iter, seed)
    t0 = time.perf_counter()
    qtr, qva, qte = (model.predictive_hidden(v) for v in (vtr, vva, vte))
    row["blr_rbm"]["predictive_feature_seconds"] = time.perf_counter() - t0
    row["blr_predictive_logreg"] = logreg(qtr, ytr, qva, yva, qte, yte, args.C, args.max_iter, seed)
    del qtr, qva, qte
    if args.bits_logreg:
        row["blr_bits_logreg"] = logreg((btr > 0).astype(np.float32), ytr, (bva > 0).astype(np.float32), yva,
                                        (bte > 0).astype(np.float32), yte, args.C, args.max_iter, seed)
    row["blr_bits_binary_readout"] = bits_readout(btr, ytr, bva, yva, bte, yte, args.readout_epochs, seed)
    if args.readout_hidden:
        row["blr_bits_binary_hidden_readout"] = bits_readout(btr, ytr, bva, yva, bte, yte,
                                                             args.readout_hidden_epochs, seed,
                                                             hidden=(args.readout_hidden,))
    if args.float_mlp_hidden:
        row["blr_bits_float_mlp"] = bits_readout(btr, ytr, bva, yva, bte, yte, args.readout_hidden_epochs, seed,
                                                 hidden=(args.float_mlp_hidden,), rule="adam",
                                                 activation="relu")
    if args.ais_images:
        row["blr_rbm"]["log_likelihood"] = log_likelihood_hook("blr", model, vte, n_images=args.ais_images)
    extra = (f"  (b') with a {args.readout_hidden}-unit ±1 layer "
             f"{100 * row['blr_bits_binary_hidden_readout']['test_acc']:.2f}%" if args.readout_hidden else "")
    if args.float_mlp_hidden:
        extra += (f"  (b''') float {args.float_mlp_hidden}-unit ReLU net "
                  f"{100 * row['blr_bits_float_mlp']['test_acc']:.2f}%")
    print(f"P={P} seed={seed}: (a) P(h|v)+LR {100 * row['blr_phv_logreg']['test_acc']:.2f}%  (a') predictive+LR "
          f"{100 * row['blr_predictive_logreg']['test_acc']:.2f}%  (b) bits+±1 readout "
          f"{100 * row['blr_bits_binary_readout']['test_acc']:.2f}%{extra}"
          + (f"  (b'') bits+float LR {100 * row['blr_bits_logreg']['test_acc']:.2f}%" if args.bits_logreg else ""),
          file=sys.stderr, flush=True)
    # (c): scikit-learn's BernoulliRBM on the same binarised pixels as {0, 1}.
    sk = BernoulliRBM(n_components=P, learning_rate=args.sk_learning_rate, batch_size=args.sk_batch_size,
                      n_iter=args.sk_epochs, random_state=seed)
    x01 = [(v > 0).astype(np.float32) for v in (vtr, vva, vte)]
    t0 = time.perf_counter()
    c0 = time.process_time()
    sk.fit(x01[0][:args.train_size])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sk_steps = args.sk_epochs * -(-args.train_size // args.sk_batch_size)
    ftr, fva, fte = (sk.transform(x) for x in x01)
    row["sklearn_rbm"] = {"learning_rate": args.sk_learning_rate, "batch_size": args.sk_batch_size,
                          "epochs": args.sk_epochs, "steps": sk_steps, "train_seconds": wall,
                          "train_cpu_seconds": cpu, "s_per_step": wall / sk_steps,
                          "pseudo_likelihood_test": float(sk.score_samples(x01[2]).mean()),
                          "hidden_units": unit_activity(np.where(ftr >= 0.5, 255, 0)),
                          "log_likelihood": (log_likelihood_hook("sklearn", sk, vte, vtr, n_images=args.ais_images,
                                                                 n_temperatures=args.sk_ais_temperatures)
                                             if args.ais_images else {"status": "skipped (--ais-images 0)"})}
    row["sklearn_rbm_logreg"] = logreg(ftr, ytr, fva, yva, fte, yte, args.C, args.max_iter, seed)
    row["targets"] = {"phv_logreg_ge_sklearn": row["blr_phv_logreg"]["test_acc"] >=
                      row["sklearn_rbm_logreg"]["test_acc"],
                      "binary_readout_ge_80pct_at_256": (row["blr_bits_binary_readout"]["test_acc"] >= 0.80
                                                         if P == 256 else None),
                      # the fully binary classifier with a hidden ±1 layer (row b'), also deployable
                      "binary_hidden_readout_ge_80pct_at_256": (
                          row["blr_bits_binary_hidden_readout"]["test_acc"] >= 0.80
                          if P == 256 and "blr_bits_binary_hidden_readout" in row else None),
                      "extra_predictive_logreg_ge_sklearn": row["blr_predictive_logreg"]["test_acc"] >=
                      row["sklearn_rbm_logreg"]["test_acc"]}
    print(f"P={P} seed={seed}: (c) sklearn BernoulliRBM+LR {100 * row['sklearn_rbm_logreg']['test_acc']:.2f}%",
          file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, nargs="+", default=PROTOCOL["hidden"], help="hidden sizes P")
    ap.add_argument("--seeds", type=int, nargs="+", default=PROTOCOL["seeds"])
    ap.add_argument("--epochs", type=int, default=5, help="BinaryRBM epochs (default 5)")
    ap.add_argument("--train-size", type=int, default=PROTOCOL["train_size"],
                    help="train both RBMs on the first K of the 54,000 training images (default all; the "
                         "readouts always use all 54,000)")
    ap.add_argument("--batch-size", type=int, default=100, help="BinaryRBM minibatch (default 100)")
    ap.add_argument("--learning-rate", type=float, default=None, help="BLR ρ (default: the model's auto rate)")
    ap.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    ap.add_argument("--n-z", type=int, default=8)
    ap.add_argument("--fields", default="both", choices=sorted(FIELDS),
                    help="learned biases of the BinaryRBM (default both, the model's default)")
    ap.add_argument("--rbm-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--readout-epochs", type=int, default=10, help="epochs of the ±1 readout (b) (default 10)")
    ap.add_argument("--readout-hidden", type=int, default=256,
                    help="hidden ±1 units of the extra readout (b') (default 256; 0 skips it)")
    ap.add_argument("--no-bits-logreg", dest="bits_logreg", action="store_false",
                    help="skip the extra row (b''): the MAP bits -> float LogisticRegression")
    ap.add_argument("--readout-hidden-epochs", type=int, default=20,
                    help="epochs of the extra readouts (b') and (b''') (default 20)")
    ap.add_argument("--float-mlp-hidden", type=int, default=0,
                    help="hidden ReLU units of the extra row (b'''): the MAP bits -> a real-weight network "
                         "(Adam), the float reference for (b') (default 0: skipped)")
    ap.add_argument("--ais-images", type=int, default=1000,
                    help="test images of the AIS log-likelihood of both RBMs (default 1000; 0 skips it)")
    ap.add_argument("--sk-ais-temperatures", type=int, default=10000,
                    help="AIS temperatures for BernoulliRBM's likelihood (default 10000; its weights are larger "
                         "than the binary RBM's couplings and 3,000 left an effective sample size of 1-2)")
    ap.add_argument("--C", type=float, nargs="+", default=[0.1, 1.0, 10.0], help="LogisticRegression C grid")
    ap.add_argument("--max-iter", type=int, default=300)
    ap.add_argument("--sk-epochs", type=int, default=10, help="BernoulliRBM n_iter (default 10)")
    ap.add_argument("--sk-learning-rate", type=float, default=0.1, help="BernoulliRBM's default 0.1")
    ap.add_argument("--sk-batch-size", type=int, default=10, help="BernoulliRBM's default 10")
    ap.add_argument("--data", default="debian")
    ap.add_argument("-o", "--output", default="bench/results/rbm_features.json")
    args = ap.parse_args(argv)

    from export.fileio import atomic_write_json
    from lowprec_rbm.data import binarize, load_dataset
    from lowprec_rbm.rbm import BinaryRBM

    rbm_params = {**FIELDS[args.fields], **parse_rbm_params(args.rbm_param, ap)}
    accepted = inspect.signature(BinaryRBM.__init__).parameters
    unknown = [k for k in rbm_params if k not in accepted]
    if unknown:
        ap.error(f"--rbm-param: BinaryRBM takes no keyword {unknown} in this checkout "
                 f"(accepted: {sorted(k for k in accepted if k != 'self')})")
    flagged = {"n_hidden": "--hidden", "rule": None, "learning_rate": "--learning-rate", "schedule": "--schedule",
               "epochs": "--epochs", "batch_size": "--batch-size", "n_z": "--n-z", "random_state": "--seeds",
               "seed": "--seeds"}
    clash = sorted(k for k in parse_rbm_params(args.rbm_param, ap) if k in flagged)
    if clash:
        ap.error(f"--rbm-param: {clash} are set by the script or by their own flags "
                 f"({', '.join(str(flagged[k] or 'rule=blr, fixed') for k in clash)})")
    ds = load_dataset(args.data)
    if len(ds.x_train) != 60000:
        raise SystemExit(f"rbm_features: error: expected the full 60,000-image training set, got {len(ds.x_train)}")
    for flag, value, low in (("--readout-epochs", args.readout_epochs, 1), ("--readout-hidden", args.readout_hidden, 0),
                             ("--float-mlp-hidden", args.float_mlp_hidden, 0),
                             ("--readout-hidden-epochs", args.readout_hidden_epochs, 1),
                             ("--ais-images", args.ais_images, 0),
                             ("--sk-ais-temperatures", args.sk_ais_temperatures, 2)):
        if value < low:
            ap.error(f"{flag} must be >= {low}, got {value}")
    if not 1 <= args.train_size <= 54000:
        ap.error(f"--train-size must be in 1..54000, got {args.train_size}")
    v = binarize(ds.x_train, 0.5)
    y = ds.y_train.astype(np.int64)
    data = (v[:54000], y[:54000], v[54000:], y[54000:], binarize(ds.x_test, 0.5),
            ds.y_test.astype(np.int64))
    reduced = (sorted(args.hidden) != PROTOCOL["hidden"] or sorted(args.seeds) != PROTOCOL["seeds"]
               or args.train_size != PROTOCOL["train_size"])
    try:
        cpu_name = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        cpu_name = platform.processor()
    report = {"benchmark": "rbm_features", "config": {k: v for k, v in vars(args).items() if k != "output"},
              "rbm_params_extra": rbm_params, "data": ds.source,
              "split": {"train_rbm": args.train_size, "train_readout": 54000, "val": 6000, "test": len(ds.x_test)},
              "reduced": reduced,
              "note": ("reduced run: " if reduced else "") + f"P {args.hidden}, seeds {args.seeds}, "
                      f"fields {args.fields}, RBMs trained on {args.train_size} images, {args.epochs} BinaryRBM "
                      f"epochs, {args.sk_epochs} BernoulliRBM epochs; protocol: P "
                      f"{PROTOCOL['hidden']}, seeds {PROTOCOL['seeds']}, {PROTOCOL['train_size']} images",
              "machine": {"cpu": cpu_name, "cpus": os.cpu_count(), "python": platform.python_version(),
                          "numpy": np.__version__, "load_average_at_start": list(os.getloadavg())},
              "runs": [], "complete": False}
    t_start = time.perf_counter()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    for P in args.hidden:
        for seed in args.seeds:
            report["runs"].append(run_one(P, seed, args, data, rbm_params))
            report["total_seconds"] = time.perf_counter() - t_start
            atomic_write_json(args.output, report)
    report["complete"] = True
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    atomic_write_json(args.output, report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
