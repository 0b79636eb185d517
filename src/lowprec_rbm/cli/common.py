"""Argument types and arguments shared by several ``lowprec`` commands (checked at parse time, before any work)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["positive_int", "output_path", "add_data_argument"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def output_path(text: str) -> str:
    """argparse type: a file to be written, whose folder exists and is writable — checked before training or
    exporting starts, so a typo in the path does not throw away minutes of work."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {str(folder)!r} is not writable")
    return text


def add_data_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--data``: the embedded sample, Debian's Fashion-MNIST, or a folder of MNIST-format IDX files."""
    parser.add_argument("--data", default=default,
                        help="'sample' (embedded 2,000 images), 'debian' (Fashion-MNIST from Debian) or a folder "
                             "of MNIST-format IDX files (default: debian when installed, else sample)")
