"""Run ``lowprec`` in-process and return (exit code, stderr), whether the error came from argparse (which
raises SystemExit) or from a command."""
from __future__ import annotations

from lowprec_rbm.cli.main import main


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err
