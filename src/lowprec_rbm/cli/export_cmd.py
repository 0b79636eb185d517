"""Export a trained posterior as a packed-bit ONNX model (lowprec v1 ops with standard-op function bodies).

Weights: --mode map (most probable ±1 / ternary value per weight) or --mode sample (drawn from the posterior
with --seed; --samples S writes S sampled networks OUT-0.onnx ... OUT-{S-1}.onnx, a posterior-mean ensemble
whose integer outputs are combined by majority vote or score sum, see lowprec_rbm.derive).

examples:
  lowprec export posterior.npz -o model.onnx
  lowprec export posterior.npz -o model.onnx --mode sample --seed 3 --standard-ops
  lowprec export rbm.npz -o rbm.onnx --gibbs-steps 5
  lowprec export posterior.npz -o model.onnx --c out/c --c-word-bits 32 --c-prefix digits

--c DIR also writes a self-contained C99 module of the same network (const packed weights for flash, no
malloc, no floating point in the binary layers): DIR/PREFIX.h, PREFIX_weights.h, PREFIX.c, lowprec_kernels.h.

Every ONNX file records a content digest (lowprec.digest, checked by verify/predict/report); the C sources
record their own digest and the ONNX file's. --sign-key FILE (or $LOWPREC_SIGN_KEY_FILE) also records a keyed
signature (HMAC-SHA256) that 'lowprec verify/predict/report --verify-key FILE' require. See "Integrity" in the
README: the digest detects corruption; only the signature resists a deliberate edit.
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli import limits
from lowprec_rbm.cli.common import (nonnegative_int, output_folder, output_path, positive_int,
                                     refuse_overwriting_inputs, sign_key)
from lowprec_rbm.cli.errors import CLIError


def _prefix(text: str) -> str:
    from export.c.names import check_prefix

    try:
        return check_prefix(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("posterior", help="posterior file written by 'lowprec train' (.npz)")
    parser.add_argument("-o", "--output", required=True, type=output_path, help="ONNX file to write")
    parser.add_argument("--mode", choices=("map", "sample"), default="map",
                        help="deployable weights: MAP (default) or a posterior sample")
    parser.add_argument("--seed", type=nonnegative_int, default=None,
                        help="seed of the weight sampler (only with --mode sample; default 0)")
    parser.add_argument("--samples", type=positive_int, default=1,
                        help="with --mode sample: number of sampled networks (ensemble); files OUT-i.onnx "
                             "(limit: --max samples)")
    parser.add_argument("--standard-ops", action="store_true",
                        help="inline every lowprec op into plain standard ONNX ops (no custom domain)")
    parser.add_argument("--gibbs-steps", type=nonnegative_int, default=None,
                        help="RBM only: Gibbs steps in the graph (counter-based PRNG, bit-exact); default 1 "
                             "(limit: --max gibbs-steps)")
    parser.add_argument("--rbm-input", choices=("pixels", "pm1"), default=None,
                        help="RBM only: take uint8 pixels (binarised at the trained threshold) or int8 ±1; "
                             "default pixels when the posterior records a threshold")
    parser.add_argument("--calibrate", default=None, metavar="DATA",
                        help="MLP only: re-estimate batch-norm statistics of the exported weights on training "
                             "images of DATA ('sample', 'debian' or a folder); advisable with --mode sample")
    parser.add_argument("--calib-size", type=positive_int, default=None,
                        help="images used by --calibrate (default 1000, at least 2)")
    parser.add_argument("--c", metavar="DIR", default=None, type=output_folder,
                        help="also emit the network as C99 sources into DIR (created if missing)")
    parser.add_argument("--c-word-bits", type=int, choices=(32, 64), default=None,
                        help="with --c: word width of the C kernels: 32 for Cortex-M/32-bit cores (default), "
                             "64 for 64-bit")
    parser.add_argument("--c-prefix", default=None, metavar="NAME", type=_prefix,
                        help="with --c: prefix of the C file and identifier names (default lowprec_model): a "
                             "letter, then letters, digits and single underscores; not a C keyword, not "
                             "'lowprec' or 'lp_...' (the kernels' own names)")
    parser.add_argument("--sign-key", metavar="FILE", default=None,
                        help="also sign the ONNX file(s) with HMAC-SHA256 under the key in FILE (at least 32 bytes, "
                             "e.g. head -c 32 /dev/urandom > FILE); default: $LOWPREC_SIGN_KEY_FILE when set")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _outputs(path: str, n: int) -> list[str]:
    if n == 1:
        return [path]
    stem, dot, ext = path.rpartition(".") if path.endswith(".onnx") else (path, "", "")
    return [f"{stem}-{i}{dot}{ext}" for i in range(n)]


def _describe(net) -> str:
    from export.network import CNNNetwork, MLPNetwork

    if isinstance(net, CNNNetwork):
        blocks = [f"c{c.out_channels}k{c.kernel}{ {False: '', 'bits': 'p', 'fields': 'pf'}[p]}"
                  for c, _, p in net.features]
        dense = [str(d.shape[0]) for d in net.layers[len(net.features):]]
        tern = sum(lay.ternary for lay in net.layers)
        h, w, c = net.image_shape
        return (f"cnn {h}x{w}x{c} {'-'.join(blocks + dense)}, input {net.input.kind}"
                + (f", {tern} ternary layer(s)" if tern else ""))
    if isinstance(net, MLPNetwork):
        sizes = [net.input.size] + [d.shape[0] for d in net.layers]
        tern = sum(d.ternary for d in net.layers)
        return (f"mlp {'-'.join(map(str, sizes))}, input {net.input.kind}"
                + (f", {tern} ternary layer(s)" if tern else ""))
    return (f"rbm {net.n_visible}x{net.n_hidden}, beta {net.beta:g}, input {net.input.kind}, "
            f"{net.gibbs_steps} Gibbs step(s)")


def run(args: argparse.Namespace) -> int:
    import os

    from export.onnx import build_model, save_model
    from lowprec_rbm.derive import ensemble_from_posterior, network_from_posterior
    from lowprec_rbm.posterior_file import load_posterior
    from lowprec_rbm.progress import log

    # Everything about the arguments is checked before any file is read or written.
    limits.check("--samples", args.samples, "samples")
    limits.check("--gibbs-steps", args.gibbs_steps, "gibbs-steps")
    if args.samples > 1 and args.mode != "sample":
        raise CLIError("--samples > 1 needs --mode sample (the MAP network is unique)")
    if args.seed is not None and args.mode != "sample":
        raise CLIError("--seed applies to --mode sample only (MAP weights involve no randomness)")
    for flag, value in (("--c-prefix", args.c_prefix), ("--c-word-bits", args.c_word_bits)):
        if value is not None and args.c is None:
            raise CLIError(f"{flag} applies to C output only: add --c DIR")
    if args.calib_size is not None and args.calibrate is None:
        raise CLIError("--calib-size applies with --calibrate DATA only")
    if args.calib_size is not None and args.calib_size < 2:
        raise CLIError(f"--calib-size must be >= 2 (batch-norm variances), got {args.calib_size}")
    outputs = _outputs(args.output, args.samples)
    inputs = {"the posterior": args.posterior}
    if args.sign_key is not None:
        inputs["the --sign-key file"] = args.sign_key
    refuse_overwriting_inputs([("-o", o) for o in outputs], inputs)
    seed = 0 if args.seed is None else args.seed
    key = sign_key(args.sign_key)   # read (and checked) before any work
    source = load_posterior(args.posterior)
    kind = source[1].get("kind")
    kw = {}
    if args.gibbs_steps is not None and kind != "rbm":
        raise CLIError(f"--gibbs-steps applies to RBM posteriors only; {args.posterior} is a {kind!r} posterior")
    gibbs_steps = 1 if args.gibbs_steps is None else args.gibbs_steps
    if args.rbm_input is not None:
        if kind != "rbm":
            raise CLIError(f"--rbm-input applies to RBM posteriors only; {args.posterior} is a {kind!r} posterior")
        kw["pixels"] = args.rbm_input == "pixels"
    if args.calibrate is not None:
        if kind != "mlp":
            raise CLIError("--calibrate applies to MLP posteriors only (an RBM has no batch norm)")
        from lowprec_rbm.cli.common import load_data

        kw["calibration"] = load_data(args.calibrate, "--calibrate").x_train[:args.calib_size or 1000]
    if args.samples > 1:
        nets = ensemble_from_posterior(source, args.samples, seed=seed, gibbs_steps=gibbs_steps, **kw)
    else:
        nets = [network_from_posterior(source, mode=args.mode, seed=seed if args.mode == "sample" else None,
                                       gibbs_steps=gibbs_steps, **kw)]
    from export.digest import DIGEST_KEY

    mode = "standard" if args.standard_ops else "custom"
    # Build everything in memory first: a network the ONNX builder or the C emitter refuses leaves no files.
    models = [build_model(net, mode=mode, sign_key=key) for net in nets]
    digests = [{p.key: p.value for p in model.metadata_props}[DIGEST_KEY] for model in models]
    cmods = []
    if args.c is not None:
        from pathlib import Path

        from export.c import c_module

        word_bits = args.c_word_bits or 32
        prefix = args.c_prefix or "lowprec_model"
        for i, net in enumerate(nets):
            folder = Path(args.c) / (f"sample{i}" if len(nets) > 1 else "")
            cmods.append((folder, c_module(net, word_bits, prefix, onnx_digest=digests[i])))
        refuse_overwriting_inputs([("--c", folder / name) for folder, mod in cmods for name in mod.files], inputs)
    for path, net, model, digest in zip(outputs, nets, models, digests):
        save_model(model, path)
        weights = "MAP" if args.mode == "map" else f"sampled (seed {seed})"
        log(f"wrote {path}: {_describe(net)}; {weights} weights; {mode} ops; {os.path.getsize(path):,} bytes; "
            f"{digest[:23]}...{'; signed' if key is not None else ''}", quiet=args.quiet)
    for folder, mod in cmods:
        folder.mkdir(parents=True, exist_ok=True)
        mod.write(folder)
        log(f"wrote C99 sources ({word_bits}-bit words, prefix {prefix!r}) into {folder}/", quiet=args.quiet)
    return 0
