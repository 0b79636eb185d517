"""The posterior file: one ``.npz`` holding named arrays plus a JSON header (config, history, versions).

Format ``lowprec-posterior``, versions 1 and 2:

- every array is stored under its own name (numeric dtypes only, so ``np.load(allow_pickle=False)`` works);
- the entry ``__meta__`` is a 0-d unicode array holding a JSON object with at least ``format``,
  ``format_version``, ``kind`` (``"rbm"`` or ``"mlp"``), ``config``, ``history`` and ``versions``.

Writes are atomic (temporary file + rename). This module is the one place that decides the format.

Version 2 (this release) adds the RBM's real fields: a kind ``"rbm"`` file may hold ``visible_field`` (N,) and
``hidden_field`` (P,), energy -β(σᵀWh/√N + bᵀσ + cᵀh). A file is written as version 2 only when it holds
them, so everything else stays readable by releases that know version 1 only; those refuse a version-2 file
with "format version 2 is not supported" instead of silently dropping the fields. Version 1 files load
unchanged (an RBM without fields).

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
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from export.fileio import atomic_write_bytes

__all__ = ["FORMAT", "FORMAT_VERSION", "READABLE_VERSIONS", "PosteriorFileError", "save_posterior", "load_posterior", "versions"]

FORMAT = "lowprec-posterior"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# Arrays that need version 2 (module doc); a file without them is written as version 1.
_V2_ARRAYS = {"rbm": ("visible_field", "hidden_field")}
_META = "__meta__"


class PosteriorFileError(ValueError):
    """A posterior file is corrupt, of a foreign format, of an unsupported version or of another kind.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from lowprec_rbm import PosteriorFileError, load_posterior
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "plain.npz")
    ...     np.savez(path, w=np.zeros(3))                  # an .npz, but not a posterior file
    ...     try:
    ...         load_posterior(path)
    ...     except PosteriorFileError as exc:
    ...         print("refused:", str(exc).split(": ", 1)[1])
    refused: not a lowprec posterior file (no '__meta__' entry)
    >>> issubclass(PosteriorFileError, ValueError)
    True
    """


# What reading a damaged .npz can raise, by layer: the zip container (BadZipFile; NotImplementedError for an
# unknown compression method; RuntimeError for an "encrypted" flag; struct.error / EOFError for cut headers),
# the deflate stream (zlib.error), the .npy header inside (ValueError, also for object arrays refused by
# allow_pickle=False; SyntaxError from its literal parser; OverflowError / MemoryError for absurd shapes) and
# the JSON header (ValueError: JSONDecodeError, UnicodeDecodeError). All of them mean "corrupt file".
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError,
            struct.error, SyntaxError, OverflowError, MemoryError, KeyError)


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

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        ``meta`` lacks ``kind`` or is not JSON-serialisable; an array name starts with ``__``.
    TypeError
        An array is not bool, integer or float.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from lowprec_rbm import load_posterior, save_posterior
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_posterior(os.path.join(tmp, "p.npz"), {"lam": np.zeros((3, 4), np.float32)},
    ...                           {"kind": "example", "config": {"beta": 1.0}})
    ...     arrays, meta = load_posterior(path, kind="example")
    >>> arrays["lam"].shape, meta["config"], meta["format"]
    ((3, 4), {'beta': 1.0}, 'lowprec-posterior')
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
    needs_v2 = any(name in clean for name in _V2_ARRAYS.get(str(meta["kind"]), ()))
    header.update(format=FORMAT, format_version=FORMAT_VERSION if needs_v2 else 1)
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

    Raises
    ------
    FileNotFoundError
        ``path`` is not a file.
    PosteriorFileError (a ValueError)
        Anything else: not a zip, corrupt or truncated bytes, no or malformed header, foreign format or
        version, non-numeric arrays, or another ``kind`` than asked for. Nothing else escapes for any bytes.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from lowprec_rbm import PosteriorFileError, load_posterior, save_posterior
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_posterior(os.path.join(tmp, "p.npz"), {"w": np.ones((2, 5), np.int8)}, {"kind": "rbm"})
    ...     arrays, meta = load_posterior(path)
    ...     try:
    ...         load_posterior(path, kind="mlp")
    ...     except PosteriorFileError as exc:
    ...         print(str(exc).split(": ", 1)[1])
    expected a posterior of kind 'mlp', found 'rbm'
    >>> arrays["w"].dtype, arrays["w"].shape, meta["kind"]
    (dtype('int8'), (2, 5), 'rbm')
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"posterior file not found: {str(path)!r}")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise PosteriorFileError(f"{path}: a single .npy array, not a posterior .npz file")
        with z:
            if _META not in z.files:
                raise PosteriorFileError(f"{path}: not a lowprec posterior file (no {_META!r} entry)")
            arrays = {name: z[name] for name in z.files if name != _META}
            raw = z[_META]
            if raw.dtype.kind != "U" or raw.ndim != 0:
                raise PosteriorFileError(f"{path}: {_META!r} must be a 0-d unicode array holding JSON, found "
                                         f"{raw.dtype} of shape {raw.shape}")
            meta = json.loads(str(raw[()]))
    except PosteriorFileError:
        raise
    except _CORRUPT as exc:
        raise PosteriorFileError(f"{path}: cannot read as a posterior .npz file ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else 'corrupt'})") from None
    if not isinstance(meta, dict):
        raise PosteriorFileError(f"{path}: {_META!r} must hold a JSON object, found {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise PosteriorFileError(f"{path}: expected format {FORMAT!r}, found {meta.get('format')!r}")
    version = meta.get("format_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise PosteriorFileError(
            f"{path}: format version {version!r} is not supported (this release reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; a newer lowprec wrote it?)")
    if not isinstance(meta.get("kind"), str):
        raise PosteriorFileError(f"{path}: 'kind' must be a string such as 'rbm' or 'mlp', found "
                                 f"{meta.get('kind')!r}")
    for key, typ in (("config", dict), ("history", list)):
        if key in meta and not isinstance(meta[key], typ):
            raise PosteriorFileError(f"{path}: {key!r} must be a JSON {'object' if typ is dict else 'array'}, "
                                     f"found {type(meta[key]).__name__}")
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biuf":
            raise PosteriorFileError(f"{path}: array {name!r} has dtype {arr.dtype}; posterior arrays are bool, "
                                     f"integer or float")
    if kind is not None and meta.get("kind") != kind:
        raise PosteriorFileError(f"{path}: expected a posterior of kind {kind!r}, found {meta.get('kind')!r}")
    return arrays, meta
