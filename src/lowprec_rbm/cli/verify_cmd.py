"""Verify an exported ONNX model bit for bit: the reference simulator, onnxruntime, onnx.reference and any
registered device target run the same random (and optionally real) inputs; every intermediate tensor is
compared exactly with the reference simulator, which is itself compared with the float ±1 computation of the
network (the ground truth before packing).

Exit status: 0 when everything agrees (one summary line per target), 1 at the first difference (the output,
i.e. the layer, the index and both values are printed), 2 for bad input (e.g. a corrupt file, a file whose
content digest does not match or whose graph disagrees with its config; see "Integrity" in the README) and for
a target named explicitly that cannot run here (a missing tool: the message names the Debian package) or that
the model does not fit (flash/RAM needed vs available). With --target all, such targets are reported as skipped.

A device whose memory cannot hold the verify harness (a buffer for every layer's outputs) but can hold the
deployed predict() build (MLP, CNN: what a deployment links, e.g. a real-size CNN on cortex-m0/m4) runs that
build instead: its row says "outputs only: the deployed predict() build ..." with the full harness's size, and
the output layer's int32 fields and the labels are compared exactly (a difference fails, exit 1). An RBM has no
predict build: it is skipped with its sizes, as is a model whose predict build does not fit either.

examples:
  lowprec verify model.onnx --inputs 64 --targets reference,onnxruntime,onnx-reference
  lowprec verify model.onnx --data sample --target all --word-bits 8
  lowprec verify suspect.onnx --ground-truth original.onnx
  lowprec verify model.onnx --ground-truth posterior.npz     # the network the posterior gives, bit for bit
  lowprec verify signed.onnx --verify-key lowprec.key

With --ground-truth POSTERIOR.npz the network is derived again from the posterior the way the file records
(MAP or the sampled member, seed) and compared weight by weight first: a flipped weight bit is named by layer,
row and column. Then every output runs against that network's float ±1 computation and its real-valued batch
norms.
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli import limits
from lowprec_rbm.cli.common import add_trust_arguments, artifact_trust, load_data, positive_int
from lowprec_rbm.cli.errors import CLIError

DEFAULT_TARGETS = "reference,onnxruntime,onnx-reference"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ONNX file written by 'lowprec export'")
    parser.add_argument("--inputs", type=positive_int, default=16,
                        help="random input rows (default 16; limit: --max inputs)")
    parser.add_argument("--targets", "--target", dest="targets", action="append", default=None,
                        help=f"comma-separated target names, or 'all' (every registered target that can run "
                             f"here; the others are reported as skipped; a device that holds only the deployed "
                             f"predict() build runs that, outputs only); a target named explicitly must run "
                             f"(exit 2 otherwise); default {DEFAULT_TARGETS}")
    parser.add_argument("--word-bits", type=int, choices=(8, 16, 32, 64), default=64,
                        help="word width of the baseline reference simulator (the 'reference' target runs "
                             "the other widths); default 64")
    parser.add_argument("--data", default=None,
                        help="also run real images: 'sample', 'debian' or a folder of IDX files "
                             "(as many test images as --inputs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the input generator")
    parser.add_argument("--batch", type=positive_int, default=None,
                        help="rows per batch (default: random batch sizes from 1 to 64)")
    parser.add_argument("--ground-truth", default=None, metavar="ONNX|NPZ",
                        help="take the ground truth from this original model (.onnx) or from the posterior file "
                             "(.npz) MODEL was exported from, instead of MODEL's own weights")
    parser.add_argument("--no-float", action="store_true", help="skip the float ±1 ground truth")
    add_trust_arguments(parser)


def _explicit_targets_must_run(names: list[str], model: str) -> None:
    """A target the user named (not reached through 'all') that cannot run here is an error, not a skip: a
    missing tool, or (devices) a model that does not fit, found by building it now (builds are cached): neither
    the verify harness nor the deployed predict() build (which verify runs when only it fits)."""
    from targets.base import TargetUnavailable
    from targets.devices import DeviceTarget
    from targets.verify import resolve_targets

    explicit = [n.strip() for n in names if n.strip() and n.strip() != "all"]
    for name, target, reason in resolve_targets(explicit) if explicit else []:
        if target is None:
            raise CLIError(f"target {name!r} was requested but cannot run here: {reason}")
        if isinstance(target, DeviceTarget):
            try:
                target.verify_build(target.network(model))
            except TargetUnavailable as exc:
                raise CLIError(f"target {name!r} was requested but cannot run this model: {exc}") from None


def run(args: argparse.Namespace) -> int:
    with artifact_trust(args):   # every file read below, by the targets too: digest, signature, limits
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from targets.verify import verify

    limits.check("--inputs", args.inputs, "inputs")
    limits.check("--batch", args.batch, "batch")
    if args.ground_truth is not None and args.no_float:
        raise CLIError("--ground-truth and --no-float contradict each other")
    names = [n for spec in (args.targets or [DEFAULT_TARGETS]) for n in spec.split(",") if n.strip()]
    if not names:
        raise CLIError(f"--targets names no target (e.g. --targets {DEFAULT_TARGETS} or --targets all)")
    _explicit_targets_must_run(names, args.model)
    data = None
    if args.data is not None:
        data = load_data(args.data).x_test
    network = None
    if args.ground_truth is not None:
        from export.onnx import load_artifact, network_from_onnx

        if args.ground_truth.endswith(".npz"):
            network, difference = _posterior_network(args.model, args.ground_truth)
            if difference is not None:
                print(f"{args.model}: MISMATCH with the network of {args.ground_truth}: {difference}")
                return 1
        else:
            network = network_from_onnx(load_artifact(args.ground_truth), args.ground_truth)
    report = verify(args.model, names, n_inputs=args.inputs, seed=args.seed, word_bits=args.word_bits,
                    data=data, network=network, batch=args.batch, ground_truth=not args.no_float)
    print(f"{args.model}: {report.inputs}")
    # A few targets: one line each. Many (e.g. --target all): one table row each, easier to scan.
    for line in (report.table() if len(report.results) > 5 else report.lines()):
        print(line)
    # A named target skipped while running (the model does not fit the device) is an error, not a pass.
    explicit = {n.strip() for n in names} - {"all"}
    for res in report.results:
        if res.status == "skipped" and res.name in explicit and res.name != "float":
            raise CLIError(f"target {res.name!r} was requested but did not run: {res.reason}")
    return 0 if report.ok else 1


def _posterior_network(model: str, posterior: str):
    """(network derived from the posterior as the artifact records, first difference from the artifact or None)."""
    from export.network import first_difference
    from export.onnx import load_artifact, network_from_onnx
    from lowprec_rbm.derive import network_for_artifact

    art = network_from_onnx(load_artifact(model), model)
    net = network_for_artifact(posterior, art)
    calibrated = (art.meta or {}).get("batch_norm") == "calibration"
    diff = first_difference(net, art, names=("posterior", "artifact"), weights_only=calibrated)
    if calibrated:
        # The batch norm was re-estimated on data at export: the weights are checked against the posterior,
        # the thresholds against the artifact's own real-valued statistics.
        print(f"{model}: batch norm calibrated on data at export: weights compared with {posterior}")
        net = art
    return net, diff
