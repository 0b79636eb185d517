"""Training checkpoints: everything a training loop needs to continue bit for bit after an interruption.

A checkpoint is a posterior-format ``.npz`` (:mod:`lowprec_rbm.posterior_file`, kind ``"mlp-checkpoint"`` or
``"rbm-checkpoint"``, stored uncompressed, written atomically) holding

- the arrays of the model (posterior parameters, batch-norm running statistics, BP messages, ...),
- the learning rule's full state (step counters, momentum, Adam moments: every leaf of the state tree),
- the state of every numpy ``Generator`` in use (``bit_generator.state``, plain JSON: no pickle),
- the position (epochs completed; inside an epoch: the minibatch order and the steps done), the history so far,
- the run's configuration (hyper-parameters, a digest of the training data, the caller's settings), which a
  resume must match exactly: :func:`check_config` names every differing key.

A loop restores these, continues, and ends with the same arrays as a run that was never interrupted (same seed,
same BLAS thread count: float32 BLAS sums in a thread-count-dependent order).

The state trees of :mod:`lowprec_rbm.rules` (NamedTuples, lists, tuples, dicts of arrays and counters) are
stored leaf by leaf against a template: :func:`pack_tree` writes each array under its own name and the rest as
JSON; :func:`unpack_tree` rebuilds the tree with the template's container types (the freshly initialised state
of the same rule) and refuses a checkpoint whose structure, shapes or dtypes differ.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior, save_posterior

__all__ = ["ANY", "TrainingInterrupted", "default_path", "data_digest", "pack_tree", "unpack_tree", "rng_state",
           "set_rng_state", "check_config", "save_checkpoint", "load_checkpoint", "jsonable"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request (Ctrl-C) after saving a checkpoint at a step boundary."""

    def __init__(self, path: str | os.PathLike, epoch: int, step: int, steps: int, epochs: int):
        self.path, self.epoch, self.step, self.steps, self.epochs = Path(path), epoch, step, steps, epochs
        super().__init__(f"interrupted in epoch {epoch + 1}/{epochs} after step {step}/{steps}; "
                         f"checkpoint saved to {self.path}")


def default_path(output: str | os.PathLike) -> Path:
    """The checkpoint of a run writing ``output``: ``<output>.ckpt.npz`` beside it."""
    return Path(str(output) + ".ckpt.npz")


def data_digest(*arrays: np.ndarray) -> str:
    """sha256 over the shapes, dtypes and bytes of ``arrays`` (identifies the training data of a run)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def jsonable(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, numpy scalars Python numbers)."""
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


# --------------------------------------------------------------------------------------------- state trees
def pack_tree(tree: Any, name: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON description of ``tree``; its arrays (and numpy scalars, as 0-d arrays) go into ``arrays``."""
    if isinstance(tree, (np.ndarray, np.generic)):
        key = f"{name}"
        if key in arrays:
            raise ValueError(f"duplicate checkpoint array name {key!r}")
        arrays[key] = np.asarray(tree)
        return {"array": key}
    if isinstance(tree, dict):
        return {"dict": {str(k): pack_tree(v, f"{name}.{k}", arrays) for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)):
        return {"seq": [pack_tree(v, f"{name}.{i}", arrays) for i, v in enumerate(tree)]}
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return {"value": tree}
    raise TypeError(f"cannot checkpoint a {type(tree).__name__} at {name!r}")


ANY = object()   # template of a tree whose structure the checkpoint alone decides (lists, dicts, arrays, values)


def unpack_tree(spec: Any, arrays: Mapping[str, np.ndarray], template: Any, where: str = "state") -> Any:
    """Rebuild a tree from :func:`pack_tree`'s description, with ``template``'s types, shapes and dtypes
    (``ANY``: as stored, sequences as lists)."""
    def bad(what: str) -> ValueError:
        return ValueError(f"checkpoint {where}: {what} (the checkpoint was written by another rule or version)")

    if not isinstance(spec, dict) or len(spec) != 1:
        raise bad("malformed entry")
    (tag, body), = spec.items()
    if template is ANY:
        if tag == "array":
            if body not in arrays:
                raise bad(f"array {body!r} missing")
            return arrays[body].copy()
        if tag == "dict" and isinstance(body, dict):
            return {k: unpack_tree(v, arrays, ANY, f"{where}.{k}") for k, v in body.items()}
        if tag == "seq" and isinstance(body, list):
            return [unpack_tree(v, arrays, ANY, f"{where}.{i}") for i, v in enumerate(body)]
        if tag == "value":
            return body
        raise bad(f"unknown entry {tag!r}")
    if isinstance(template, (np.ndarray, np.generic)):
        if tag != "array" or body not in arrays:
            raise bad(f"expected an array, found {tag!r}")
        a = arrays[body]
        t = np.asarray(template)
        if a.shape != t.shape or a.dtype != t.dtype:
            raise bad(f"array {body!r} is {a.dtype} {a.shape}, expected {t.dtype} {t.shape}")
        return a.copy() if isinstance(template, np.ndarray) else t.dtype.type(a[()])
    if isinstance(template, dict):
        if tag != "dict" or set(body) != {str(k) for k in template}:
            raise bad(f"expected keys {sorted(map(str, template))}")
        return {k: unpack_tree(body[str(k)], arrays, v, f"{where}.{k}") for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        if tag != "seq" or len(body) != len(template):
            raise bad(f"expected a sequence of {len(template)}")
        items = [unpack_tree(s, arrays, t, f"{where}.{i}") for i, (s, t) in enumerate(zip(body, template))]
        if isinstance(template, list):
            return items
        return type(template)(*items) if hasattr(template, "_fields") else tuple(items)
    if tag != "value":
        raise bad(f"expected a plain value, found {tag!r}")
    if (template is None) != (body is None) or (template is not None and type(body) is not type(template)
                                                  and not (isinstance(template, float) and isinstance(body, int))):
        raise bad(f"expected {template!r}-like value, found {body!r}")
    return type(template)(body) if template is not None else None


def rng_state(rng: np.random.Generator) -> dict:
    """The JSON-able state of a Generator's bit generator."""
    return jsonable(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: Mapping[str, Any], where: str) -> None:
    if state.get("bit_generator") != rng.bit_generator.state["bit_generator"]:
        raise ValueError(f"checkpoint {where}: bit generator {state.get('bit_generator')!r}, expected "
                         f"{rng.bit_generator.state['bit_generator']!r}")
    rng.bit_generator.state = dict(state)


# ------------------------------------------------------------------------------------------ configuration
def _diff(a: Any, b: Any, prefix: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in a:
                out.append(f"{key}: absent in the checkpoint, {b[k]!r} now")
            elif k not in b:
                out.append(f"{key}: {a[k]!r} in the checkpoint, absent now")
            else:
                _diff(a[k], b[k], key, out)
    elif a != b or type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        out.append(f"{prefix}: {a!r} in the checkpoint, {b!r} now")


def check_config(saved: Mapping[str, Any], current: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Raise ValueError naming every key whose value differs between a checkpoint's config and this run's."""
    diffs: list[str] = []
    _diff(jsonable(dict(saved)), jsonable(dict(current)), "", diffs)
    if diffs:
        raise ValueError(f"checkpoint {path} was written by a run with other settings ({'; '.join(diffs)}): "
                         "resume with the same settings, or delete the checkpoint to start over")


# ------------------------------------------------------------------------------------------------- files
def save_checkpoint(path: str | os.PathLike, kind: str, arrays: Mapping[str, np.ndarray],
                    meta: Mapping[str, Any]) -> Path:
    """Write a checkpoint of ``kind`` ("mlp" or "rbm") atomically."""
    header = dict(meta)
    header["kind"] = f"{kind}-checkpoint"
    return save_posterior(path, arrays, jsonable(header), compress=False)


def load_checkpoint(path: str | os.PathLike, kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint of ``kind``; a missing file is FileNotFoundError, a foreign one PosteriorFileError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r} to resume from")
    arrays, meta = load_posterior(path, kind=f"{kind}-checkpoint")
    for key in ("config", "epoch", "rng", "history"):
        if key not in meta:
            raise PosteriorFileError(f"{path}: checkpoint lacks {key!r}")
    return arrays, meta
