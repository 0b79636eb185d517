"""Measure an exported model: sparsity, memory, operation counts and energy proxies.

Reads the artifact (and optionally the posterior it came from, real data, and a device target) and prints a
table per layer and in total; ``--json`` writes the full report, ``--plots`` writes PNG figures.
For an RBM with --data, the test log-likelihood per image of the exported ±1 weights (ln Z by annealed
importance sampling, with its standard error); with --posterior, also the last per-epoch AIS figure recorded
in training (`lowprec train rbm --ais-every`).

examples:
  lowprec report model.onnx
  lowprec report model.onnx --posterior posterior.npz --data sample --json report.json --plots figs/
  lowprec report model.onnx --target cortex-m4
"""
from __future__ import annotations

import argparse

import os
from pathlib import Path

from lowprec_rbm.cli import limits
from lowprec_rbm.cli.common import (add_trust_arguments, artifact_trust, output_folder, output_path, positive_int,
                                     refuse_overwriting_inputs)
from lowprec_rbm.cli.errors import CLIError

__all__ = ["configure", "run", "build"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="exported .onnx file (from lowprec export)")
    p.add_argument("--posterior", metavar="P", help="the posterior file the model was exported from: adds the "
                   "certainty profile, training curves and |m| histogram")
    p.add_argument("--data", metavar="DIR", help="real inputs for activation statistics: a folder of IDX files, "
                   "'sample' (embedded) or 'debian'")
    p.add_argument("--inputs", type=positive_int, default=None, metavar="N",
                   help="with --data: test images used (default 256, at least 2)")
    p.add_argument("--target", metavar="T", help="device target to measure on (flash, RAM, instructions, energy), "
                   "e.g. cortex-m4, host-c; see `lowprec verify --help` for names. MLPs and CNNs are measured "
                   "in their deployed build (C with MODEL_PREDICT_ONLY: predict() and its scratch only)")
    p.add_argument("--word-bits", type=int, default=64, choices=(8, 16, 32, 64),
                   help="word width for word-operation counts (default 64)")
    p.add_argument("--json", metavar="OUT", type=output_path, help="write the full report as JSON")
    p.add_argument("--plots", metavar="DIR", type=output_folder,
                   help="write PNG figures into DIR (needs matplotlib, the 'plot' extra: pip install "
                   "'lowprec-rbm[plot]'; without it the figures are skipped with a message)")
    p.add_argument("--seed", type=int, default=None,
                   help="with --data: seed of the RBM sampler's inputs (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    add_trust_arguments(p)


def _posterior_section(net, arrays: dict, meta: dict, model_kind: str, where: str) -> tuple[dict, dict]:
    """Certainty profile per λ array, after checking that the posterior matches the model."""
    from lowprec_rbm.report import certainty_profile

    if meta.get("kind") != model_kind:
        raise ValueError(f"{where}: a posterior of kind {meta.get('kind')!r} does not match this {model_kind} model")
    lams: dict = {}
    if model_kind == "rbm":
        if "lam" not in arrays or arrays["lam"].shape != net.weight.shape:
            found = arrays["lam"].shape if "lam" in arrays else "no 'lam' array"
            raise ValueError(f"{where}: the posterior's weights are {found} but the model's are {net.weight.shape}")
        lams["xi"] = arrays["lam"]
    else:
        for i, layer in enumerate(net.layers):   # dense (out, in) or conv (out, k, k, in) weights
            # logits carry a trailing axis of the three ternary values
            got = [arrays[k].shape[:-1] if k.endswith(".logits") else arrays[k].shape
                   for k in (f"layer{i}.lam", f"layer{i}.logits", f"layer{i}.weight") if k in arrays]
            if not got or got[0] != layer.weight.shape:
                raise ValueError(f"{where}: layer {i} is {got[0] if got else 'missing'} in the posterior but "
                                 f"{layer.weight.shape} in the model")
            if f"layer{i}.lam" in arrays:
                lams[f"layer{i}"] = arrays[f"layer{i}.lam"]
    return {k: certainty_profile(v) for k, v in lams.items()}, lams


def _activity(model_path: str, net, data: str, n: int, seed: int) -> dict:
    """±1 outputs of the input packing and of every binary layer on ``n`` real test images (stream order)."""
    import numpy as np

    from export.layout import unpack_pm1
    from export.network import RBMNetwork
    from lowprec_rbm.cli.common import load_data
    from targets.reference.target import ReferenceTarget
    from targets.verify import data_feeds

    ds = load_data(data)
    if n > len(ds.x_test):
        raise CLIError(f"--inputs {n} is more than the {len(ds.x_test)} test images of {ds.source}")
    images = ds.x_test[:n]
    sim = ReferenceTarget(64)
    program = sim.program(model_path)
    feeds = data_feeds(program, net, images, np.random.default_rng(seed))
    out = sim.trace(model_path, feeds).outputs
    layers = {"input": unpack_pm1(out["xp"] if "xp" in out else out["vp"], net.input.size)} \
        if ("xp" in out or "vp" in out) else {}
    if isinstance(net, RBMNetwork):
        layers["hidden_bits"] = unpack_pm1(out["hidden_bits"], net.n_hidden)
    else:
        for i, dense in enumerate(net.layers[:-1]):
            layers[f"h{i}"] = unpack_pm1(out[f"h{i}"], dense.shape[0])
    return layers


def _likelihood(net, meta: dict | None, data: str | None, n: int, seed: int, quiet: bool) -> dict:
    """RBM: AIS test log-likelihood of the exported weights on ``n`` test images; the training history's last."""
    import numpy as np

    from lowprec_rbm.progress import log
    from lowprec_rbm.rbm import ais

    out: dict = {}
    if data:
        from lowprec_rbm.data import binarize, load_dataset

        ds = load_dataset(data)
        if n > len(ds.x_test):
            raise CLIError(f"--inputs {n} is more than the {len(ds.x_test)} test images of {ds.source}")
        images = ds.x_test[:n].reshape(n, -1)
        if images.shape[1] != net.n_visible:
            raise CLIError(f"the RBM has {net.n_visible} visible units but the test images of {ds.source} have "
                           f"{images.shape[1]} pixels")
        if net.input.kind == "threshold":         # the model's own cut on uint8 pixels
            X = np.where(images >= net.input.threshold, 1, -1).astype(np.int8)
            how = f"pixel >= {net.input.threshold:g} (the model's input threshold)"
        else:
            thr = float(((meta or {}).get("config") or {}).get("binarize_threshold") or 0.5)
            X, how = binarize(images, thr), f"intensity >= {thr:g}"
        log(f"report: AIS log-likelihood of the exported RBM on {n} test images ...", quiet=quiet)
        # the exported fields b, c (energy -β(... + bᵀσ + cᵀh)) enter AIS in units of the exponent: βb, βc
        ll, res = ais.log_likelihood(X, net.weight, beta=net.beta, random_state=seed,
                                     visible_field=None if net.visible_field is None else net.beta * net.visible_field,
                                     hidden_field=None if net.hidden_field is None else net.beta * net.hidden_field)
        out["test"] = {"log_likelihood_per_image": float(ll.mean()), "log_likelihood_std": float(ll.std()),
                       "log_likelihood_upper_95": float(ll.mean() + res.log_z - res.log_z_lower_bound(0.05)),
                       "log_z": res.log_z, "log_z_se": res.log_z_se, "ess": res.ess, "chains": len(res.log_weights),
                       "temperatures": res.n_temperatures, "images": int(n), "binarized": how,
                       "weights": "exported ±1 (MAP or sample)", "method": "AIS (lowprec_rbm.rbm.ais), hidden "
                       "units summed out; the ln Z error is common to every image"}
    scored = [r for r in (meta or {}).get("history", []) if isinstance(r, dict) and "ais_log_likelihood" in r]
    if scored:
        r = scored[-1]
        out["training"] = {k: r.get(k) for k in ("epoch", "ais_log_likelihood", "ais_log_z", "ais_log_z_se",
                                                 "ais_samples")}
    return out


def build(args) -> tuple[dict, object, dict | None, dict | None]:
    """Load everything and assemble the report dict (also used by ``lowprec demo``)."""
    from export.network import CNNNetwork, RBMNetwork
    from export.onnx import initializers, load_artifact, network_from_onnx
    from lowprec_rbm.posterior_file import load_posterior
    from lowprec_rbm.progress import log
    from targets.measure.report import build_report

    path = os.fspath(args.model)
    inputs = getattr(args, "inputs", None)
    seed = getattr(args, "seed", None)
    limits.check("--inputs", inputs, "inputs")
    if not args.data:
        for flag, value in (("--inputs", inputs), ("--seed", seed)):
            if value is not None:
                raise CLIError(f"{flag} applies with --data only (activation statistics on test images)")
    if inputs is not None and inputs < 2:
        raise CLIError(f"--inputs must be >= 2 for toggle rates, got {inputs}")
    inputs = 256 if inputs is None else inputs
    seed = 0 if seed is None else seed
    written = {"--json": getattr(args, "json", None)}
    refuse_overwriting_inputs(written, {"the model": path, "--posterior": args.posterior})
    plots = getattr(args, "plots", None)
    if plots is not None:
        refuse_overwriting_inputs({"--plots": plots}, {"the model": path, "--posterior": args.posterior})
    model = load_artifact(path)
    net = network_from_onnx(model)
    kind = "rbm" if isinstance(net, RBMNetwork) else "cnn" if isinstance(net, CNNNetwork) else "mlp"
    init_bytes = {k: int(v.nbytes) for k, v in initializers(model).items()}
    activity = None
    if args.data:
        log(f"report: activation statistics on {inputs} test images ...", quiet=args.quiet)
        activity = _activity(path, net, args.data, inputs, seed)
    device = None
    if args.target:
        from targets.base import TargetUnavailable
        from targets.devices import device_names
        from targets.devices.footprint import measure

        if args.target not in device_names():
            raise ValueError(f"unknown device target {args.target!r}; known: {', '.join(device_names())}")
        log(f"report: building and counting instructions on {args.target} ...", quiet=args.quiet)
        from targets.devices.device import DoesNotFit

        try:
            device = measure(net, args.target)
        except DoesNotFit as exc:
            raise CLIError(str(exc)) from None
        except TargetUnavailable as exc:
            raise CLIError(f"target {args.target!r} cannot run here: {exc}") from None
    rep = build_report(net, word_bits=args.word_bits, onnx_initializer_bytes=init_bytes,
                       onnx_file_bytes=os.path.getsize(path), activity_layers=activity, device=device)
    arrays = meta = None
    if args.posterior:
        arrays, meta = load_posterior(args.posterior)
        rep["posterior"], _ = _posterior_section(net, arrays, meta, kind, args.posterior)
    if kind == "rbm" and (args.data or meta is not None):
        lik = _likelihood(net, meta, args.data, inputs, seed, args.quiet)
        if lik:
            rep["likelihood"] = lik
    rep["artifact"] = {"path": path, "kind": kind}
    return rep, net, arrays, meta


def _image_shape(net, meta, data: str | None) -> tuple[tuple[int, int] | None, str]:
    """(H, W) of the input images, from the model's config, the posterior's or the --data images; or (None, why)."""
    from export.network import RBMNetwork

    n_pix = net.n_visible if isinstance(net, RBMNetwork) else net.input.size
    # The data description recorded at training: config["data"] (MLP; also in the ONNX config) or meta["data"] (RBM).
    infos = [((net.meta or {}).get("config") or {}).get("data"), ((meta or {}).get("config") or {}).get("data"),
             (meta or {}).get("data")]
    for info in infos:
        shape = info.get("image_shape") if isinstance(info, dict) else None
        if isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v > 0 for v in shape):
            if shape[0] * shape[1] == n_pix:
                return (shape[0], shape[1]), ""
    if data:
        from lowprec_rbm.cli.common import load_data

        shape = load_data(data).x_train.shape[1:]
        if len(shape) == 2 and shape[0] * shape[1] == n_pix:
            return (int(shape[0]), int(shape[1])), ""
        return None, f"the {n_pix} inputs are not the {'x'.join(map(str, shape))} images of --data {data}"
    return None, (f"the image shape of the {n_pix} inputs is not recorded in the model's config"
                  f"{'' if meta is None else ' or the posterior'}; pass --data with the training images")


def _precision(rep: dict) -> str:
    """This model's weight precision, as a key of plots.PRECISIONS."""
    return "ternary" if any(l.get("weights") == "TERNARY" for l in rep["model"]["layers"]) else "binary"


def _plots(rep: dict, net, arrays, meta, folder: Path, data: str | None) -> tuple[list[Path], list[str]]:
    """Write the figures; returns (paths written, one line per figure skipped and why)."""
    from export.network import CNNNetwork, RBMNetwork
    from lowprec_rbm.report import plots

    plots.require_matplotlib()
    folder.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    is_rbm = isinstance(net, RBMNetwork)
    shape, why = _image_shape(net, meta, data)
    if isinstance(net, CNNNetwork):
        conv = net.features[0][0].weight          # (O, k, k, C): the first layer's kernels are its fields
        o, k, _, c = conv.shape
        if c == 1:
            written.append(plots.receptive_fields(conv.reshape(o, k * k), folder / "receptive_fields.png", (k, k),
                                                  title=f"first conv layer: exported {k}x{k} kernels"))
        else:
            skipped.append(f"receptive_fields.png: the first conv layer reads {c} channels (one grey image per "
                           f"kernel needs 1)")
    elif shape is None:
        skipped.append(f"receptive_fields.png: {why}")
    elif is_rbm:
        written.append(plots.receptive_fields(net.weight, folder / "receptive_fields.png", shape,
                                              title="RBM receptive fields: exported weights of each hidden unit"))
    else:
        written.append(plots.receptive_fields(net.layers[0].weight, folder / "receptive_fields.png", shape,
                                              title="first layer: exported weights of each hidden unit"))
    if arrays is not None:
        lams = {}
        if "lam" in arrays:
            n, p = arrays["lam"].shape
            lams[f"RBM weights ({n} visible × {p} hidden)"] = arrays["lam"]
        for i in range(len(getattr(net, "layers", ()))):
            lam = arrays.get(f"layer{i}.lam")
            if lam is not None:
                what = (f"conv {lam.shape[1]}x{lam.shape[2]}, {lam.shape[3]} → {lam.shape[0]}" if lam.ndim == 4
                        else f"{lam.shape[1]} → {lam.shape[0]}")
                lams[f"layer {i + 1} ({what})"] = lam
        if lams:
            written.append(plots.abs_mean_histogram(lams, folder / "posterior_certainty.png"))
        else:
            skipped.append("posterior_certainty.png: the posterior has no natural parameters λ "
                           f"(rule {((meta or {}).get('config') or {}).get('rule', '?')})")
        hist = [h for h in meta.get("history", []) if isinstance(h, dict)]
        try:
            written.append(plots.training_curves(hist, folder / "training_curves.png", "rbm" if is_rbm else "mlp"))
        except ValueError as exc:
            skipped.append(f"training_curves.png: {exc}")
    prec = _precision(rep)
    e = rep["energy"]["sram"]["precisions"]
    written.append(plots.cost_bars([("this model", prec, e["native"]["total_pJ"] / 1e3),
                                    ("int8 weights, same layers", "int8", e["int8"]["total_pJ"] / 1e3),
                                    ("float32 weights, same layers", "float32", e["float32"]["total_pJ"] / 1e3)],
                                   folder / "energy.png", "nJ",
                                   "energy per inference (45 nm datapath model, weights in SRAM)"))
    m = rep["memory"]["total"]
    written.append(plots.cost_bars([("packed weights", prec, float(m["packed_bytes_exact"])),
                                    ("whole ONNX file", prec, float(m["onnx_file_bytes"])),
                                    ("int8 weights", "int8", float(m["int8_bytes"])),
                                    ("float32 weights", "float32", float(m["float32_bytes"]))],
                                   folder / "memory.png", "bytes", "weight memory by precision",
                                   hatched=frozenset({"whole ONNX file"})))
    return written, skipped


def run(args) -> int:
    with artifact_trust(args):   # every read of the model file: digest, signature, limits
        return _run(args)


def _run(args) -> int:
    from export.fileio import atomic_write_json
    from targets.measure.report import format_table

    rep, net, arrays, meta = build(args)
    print(format_table(rep))
    lik = rep.get("likelihood", {})
    if "test" in lik:
        t = lik["test"]
        print(f"\ntest log-likelihood per image (AIS, {t['images']} test images, exported weights): "
              f"{t['log_likelihood_per_image']:.2f} ± {t['log_z_se']:.2f} nats (ln Z {t['log_z']:.2f}, "
              f"{t['chains']} chains, {t['temperatures']} temperatures, effective sample size {t['ess']:.0f})"
              + ("; the effective sample size is low, so the ± may understate the error" if t["ess"] < 0.1 * t["chains"]
                 else "")
              + (f"\n  at most {t['log_likelihood_upper_95']:.2f} nats with 95 % confidence whatever the effective "
                 "sample size (AIS's ln Z estimate is a stochastic lower bound)" if "log_likelihood_upper_95" in t
                 else ""))
    if "training" in lik:
        t = lik["training"]
        print(f"{'' if 'test' in lik else chr(10)}training record (epoch {t['epoch']}, {t['ais_samples']} "
              f"held-out images, posterior MAP): {t['ais_log_likelihood']:.2f} ± {t['ais_log_z_se']:.2f} nats")
    if args.json:
        atomic_write_json(args.json, rep)
        print(f"\nreport JSON: {args.json}")
    if args.plots:
        from lowprec_rbm.report.plots import PLOT_EXTRA_HINT, matplotlib_available

        if not matplotlib_available():
            print(f"plots skipped: matplotlib is not installed; {PLOT_EXTRA_HINT}")
            return 0
        written, skipped = _plots(rep, net, arrays, meta, Path(args.plots), args.data)
        for p in written:
            print(f"plot: {p}")
        for line in skipped:
            print(f"plot skipped: {line}")
    return 0
