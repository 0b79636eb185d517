"""Progress reporting on stderr: a tqdm bar when stderr is a terminal and not ``--quiet``."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")

__all__ = ["progress", "log"]


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", quiet: bool = False,
             unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr unless ``quiet`` or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def log(message: str, *, quiet: bool = False) -> None:
    """Print a status line to stderr (suppressed by ``quiet``)."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)
