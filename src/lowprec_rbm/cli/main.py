"""Entry point of ``lowprec``: builds the parser from the command table and maps errors to exit codes.

Each leaf command is a module with ``configure(parser)`` (adds its arguments; imports nothing heavy) and
``run(args) -> int``. Exit codes: 0 success, 1 a check failed (e.g. verify found a mismatch), 2 a user error
(bad argument, missing/corrupt file, missing tool: one line ``lowprec: error: ...``; which exceptions count is
decided in ``lowprec_rbm.cli.errors``), 3 an internal error (a bug: one line asking to rerun with ``--debug``,
which shows the traceback of any error), 130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from lowprec_rbm.cli.errors import one_line, user_error_types
from lowprec_rbm.cli.limits import LIMITS, parse_max, set_limits

__all__ = ["main", "COMMANDS"]

# (command path) -> (module, one-line help). Add a command by adding a row.
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("train", "rbm"): ("lowprec_rbm.cli.train_rbm", "train a binary-synapse RBM (BLR or Huang) on ±1 images"),
    ("train", "mlp"): ("lowprec_rbm.cli.train_mlp", "train a binary/ternary MLP (BayesBiNN, STE, Adam, ternary VI)"),
    ("train", "cnn"): ("lowprec_rbm.cli.train_cnn", "train a binary/ternary CNN (BayesBiNN, STE, Adam, ternary VI)"),
    ("export",): ("lowprec_rbm.cli.export_cmd", "export a posterior as a packed-bit ONNX model"),
    ("verify",): ("lowprec_rbm.cli.verify_cmd", "verify an exported model bit for bit on every target"),
    ("predict",): ("lowprec_rbm.cli.predict_cmd", "classify test images with exported models or an ensemble"),
    ("bench",): ("lowprec_rbm.cli.bench_cmd", "measure an exported classifier's speed: native vs onnxruntime vs float32"),
    ("run",): ("lowprec_rbm.cli.run_cmd", "batch inference over a folder of IDX images (native C by default)"),
    ("sample",): ("lowprec_rbm.cli.sample_cmd", "draw Gibbs samples from an RBM (NumPy or the exported sampler) as a PNG grid"),
    ("report",): ("lowprec_rbm.cli.report_cmd", "measure a model: sparsity, memory, operations, energy"),
    ("demo",): ("lowprec_rbm.cli.demo", "train, export, verify and report on the embedded sample data"),
}
_GROUP_HELP = {"train": "train a model and write a posterior file"}


class _Parser(argparse.ArgumentParser):
    """argparse with the toolkit's one-line error format (subcommand parsers inherit it)."""

    def error(self, message: str):
        self.exit(2, f"lowprec: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from lowprec_rbm import __version__

    parser = _Parser(
        prog="lowprec",
        description="Bayesian training of binary/ternary networks, export to packed-bit ONNX and C, "
                    "and bit-exact verification on edge targets.",
    )
    parser.add_argument("--version", action="version", version=f"lowprec-rbm {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error (for bug reports)")
    parser.add_argument("--max", dest="max_limits", action="append", default=[], metavar="NAME=VALUE",
                        type=_max_type,
                        help="raise (or lower) a resource limit on size/count arguments, repeatable, e.g. "
                             "--max hidden=32768; names and defaults: "
                             + ", ".join(f"{k}={int(v.default)}" for k, v in LIMITS.items())
                             + " (what each bounds: README, 'Errors, limits and --debug')")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        if len(path) == 1:
            sub = top.add_parser(path[0], help=help_text, description=module.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        else:
            if path[0] not in groups:
                gp = top.add_parser(path[0], help=_GROUP_HELP.get(path[0], ""))
                groups[path[0]] = gp.add_subparsers(dest="subcommand", metavar="MODEL")
                groups[path[0]].required = True
            sub = groups[path[0]].add_parser(path[1], help=help_text, description=module.__doc__,
                                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _max_type(text: str):
    try:
        return parse_max(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_limits(args.max_limits)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("lowprec: interrupted", file=sys.stderr)
        return 130
    except BaseException as exc:  # noqa: BLE001 - classified below; SystemExit passes through
        if isinstance(exc, SystemExit) or not isinstance(exc, Exception):
            raise
        if args.debug:
            traceback.print_exc()
        if isinstance(exc, user_error_types()):
            print(f"lowprec: error: {one_line(exc)}", file=sys.stderr)
            return 2
        print(f"lowprec: internal error: {type(exc).__name__}: {one_line(exc)} -- this is a bug in lowprec; "
              f"rerun with 'lowprec --debug ...' and report it with the traceback", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
