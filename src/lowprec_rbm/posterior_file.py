"""The posterior file: one ``.npz`` holding named arrays plus a JSON header (config, history, versions).

Format ``lowprec-posterior`` version 1:

- every array is stored under its own name (numeric dtypes only, so ``np.load(allow_pickle=False)`` works);
- the entry ``__meta__`` is a 0-d unicode array holding a JSON object with at least ``format``,
  ``format_version``, ``kind`` (``"rbm"`` or ``"mlp"``), ``config``, ``history`` and ``versions``.

Writes are atomic (temporary file + rename). This module is the one place that decides the format.

Kinds: ``"rbm"`` and ``"mlp"`` are posteriors; ``"mlp-checkpoint"`` and ``"rbm-checkpoint"`` are training
checkpoints in the same container (:mod:`lowprec_rbm.checkpoint` decides their content). An ``mlp`` config may
hold ``classes``: the labels of the output units in order (absent in files written before it existed: then
``range(n_classes)``).
"""
from __future__ import annotations

import io
import json
import os
import platform
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from export.fileio import atomic_write_bytes

__all__ = ["FORMAT", "FORMAT_VERSION", "PosteriorFileError", "save_posterior", "load_posterior", "versions"]

FORMAT = "lowprec-posterior"
FORMAT_VERSION = 1
_META = "__meta__"


class PosteriorFileError(ValueError):
    """A posterior file is missing, corrupt, of a foreign format, or of an unsupported version."""


def versions() -> dict[str, str]:
    """Versions of the software that produced a file (recorded in every posterior)."""
    import lowprec_rbm

    return {"lowprec_rbm": lowprec_rbm.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def save_posterior(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                   compress: bool = True) -> Path:
    """Write arrays and a JSON header to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Destination, conventionally ending in ``.npz``.
    arrays : mapping of str to ndarray
        Numeric arrays (no object dtype). Names must not start with ``__``.
    meta : mapping
        JSON-serialisable header; must contain ``kind``. ``format``, ``format_version`` and ``versions``
        are filled in.
    compress : bool, default True
        Deflate the arrays (posteriors); checkpoints, rewritten every epoch, are stored uncompressed because
        deflating float noise costs seconds and saves little.
    """
    if "kind" not in meta:
        raise ValueError("posterior metadata needs a 'kind' (e.g. 'rbm' or 'mlp')")
    clean: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        if name.startswith("__"):
            raise ValueError(f"array name {name!r} is reserved (starts with '__')")
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"array {name!r} has dtype {arr.dtype}; only bool, integer and float arrays are stored")
        clean[name] = arr
    header = dict(meta)
    header.update(format=FORMAT, format_version=FORMAT_VERSION)
    header.setdefault("versions", versions())
    try:
        text = json.dumps(header, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"posterior metadata is not JSON-serialisable: {exc}") from None
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **clean, **{_META: np.array(text)})
    return atomic_write_bytes(path, buf.getvalue())


def load_posterior(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a posterior file written by :func:`save_posterior`.

    Parameters
    ----------
    path : path-like
    kind : str, optional
        When given, the file's ``kind`` must equal it.

    Returns
    -------
    arrays : dict of str to ndarray
    meta : dict
        The JSON header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"posterior file not found: {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise PosteriorFileError(f"{path}: not a lowprec posterior file (no {_META!r} entry)")
            arrays = {name: z[name] for name in z.files if name != _META}
            meta = json.loads(str(z[_META][()]))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, PosteriorFileError):
            raise
        raise PosteriorFileError(f"{path}: cannot read as a posterior .npz file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise PosteriorFileError(f"{path}: expected format {FORMAT!r}, found {meta.get('format')!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise PosteriorFileError(
            f"{path}: format version {meta.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    if kind is not None and meta.get("kind") != kind:
        raise PosteriorFileError(f"{path}: expected a posterior of kind {kind!r}, found {meta.get('kind')!r}")
    return arrays, meta
