"""Entry point of ``lowprec``: builds the parser from the command table and maps errors to exit codes.

Each leaf command is a module with ``configure(parser)`` (adds its arguments; imports nothing heavy) and
``run(args) -> int``. Exit codes: 0 success, 1 a check failed (e.g. verify found a mismatch), 2 bad input.
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "COMMANDS"]

# (command path) -> (module, one-line help). Add a command by adding a row.
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("train", "rbm"): ("lowprec_rbm.cli.train_rbm", "train a binary-synapse RBM (BLR or Huang) on ±1 images"),
    ("train", "mlp"): ("lowprec_rbm.cli.train_mlp", "train a binary/ternary MLP (BayesBiNN, STE, Adam, ternary VI)"),
    ("train", "cnn"): ("lowprec_rbm.cli.train_cnn", "train a binary/ternary CNN (BayesBiNN, STE, Adam, ternary VI)"),
    ("export",): ("lowprec_rbm.cli.export_cmd", "export a posterior as a packed-bit ONNX model"),
    ("verify",): ("lowprec_rbm.cli.verify_cmd", "verify an exported model bit for bit on every target"),
    ("predict",): ("lowprec_rbm.cli.predict_cmd", "classify test images with exported models or an ensemble"),
    ("report",): ("lowprec_rbm.cli.report_cmd", "measure a model: sparsity, memory, operations, energy"),
    ("demo",): ("lowprec_rbm.cli.demo", "train, export, verify and report on the embedded sample data"),
}
_GROUP_HELP = {"train": "train a model and write a posterior file"}


class CLIError(Exception):
    """A user-facing error: printed as ``lowprec: error: ...`` with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from lowprec_rbm import __version__

    parser = argparse.ArgumentParser(
        prog="lowprec",
        description="Bayesian training of binary/ternary networks, export to packed-bit ONNX and C, "
                    "and bit-exact verification on edge targets.",
    )
    parser.add_argument("--version", action="version", version=f"lowprec-rbm {__version__}")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("lowprec: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"lowprec: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
