"""The posterior file of a classifier (kinds ``"mlp"`` and ``"cnn"``): the one place that reads, checks and
writes its architecture and arrays. Every reader (the classifiers' ``load``, :mod:`lowprec_rbm.nn.deploy`,
:mod:`lowprec_rbm.derive`) goes through :func:`layout` / :func:`load`.

Architecture keys of ``meta["config"]``:

- ``layers``: the block list (:mod:`lowprec_rbm.nn.stack.blocks`), e.g.
  ``[{"kind": "conv", "out": 32, "k": 3, "pad": 1, "pool": true}, {"kind": "dense", "out": 10}]`` (a conv block
  pooling before its batch norm adds ``"pool_before_bn": true``); block ``i``
  owns ``layer{i}.*`` and ``bn{i}.*``. Conv weights are (out, k, k, in), dense (out, in);
- ``image_shape`` [H, W, C]: per-image input shape (CNN; required when a conv block is present);
- ``sizes`` [n_inputs, hidden..., n_classes]: the MLP form. A file without ``layers`` is an MLP written before
  blocks existed: its blocks are dense blocks of ``sizes`` (nothing to migrate: it loads as it is).

Arrays per block ``i`` (shape ``S`` = the weight shape): exactly one of ``layer{i}.lam`` ``S`` (BayesBiNN),
``layer{i}.logits`` ``S + (3,)`` (ternary VI), ``layer{i}.weight`` ``S`` (STE latent / Adam real); optional
``layer{i}.lam0`` ``S``; ``bn{i}.mean``, ``bn{i}.var`` (out,) (the deployable network's statistics),
``bn{i}.running_mean``, ``bn{i}.running_var`` (out,); ``logit_scale`` (1,).
"""
from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple

import numpy as np

from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior, save_posterior

__all__ = ["KINDS", "Layout", "layout", "weight_array", "check_arrays", "classes", "load", "save"]

KINDS = ("mlp", "cnn")
_PARAMS = {"lam": 0, "logits": 1, "weight": 0}    # array suffix -> extra trailing axes


class Layout(NamedTuple):
    """The architecture a posterior's config describes."""

    kind: str
    blocks: tuple            # block dicts
    in_shape: tuple          # (D,) or (H, W, C)
    weight_shapes: list      # one per block
    n_classes: int
    config: dict

    @property
    def image_shape(self) -> tuple | None:
        return self.in_shape if len(self.in_shape) == 3 else None


def layout(meta: Mapping[str, Any], where: str = "posterior") -> Layout:
    """The :class:`Layout` of a classifier posterior's header; PosteriorFileError naming what is wrong."""
    from lowprec_rbm.nn.stack.blocks import check_blocks, shapes

    kind = meta.get("kind")
    if kind not in KINDS:
        raise PosteriorFileError(f"{where}: expected a posterior of kind {' or '.join(map(repr, KINDS))}, "
                                 f"found {kind!r}")
    cfg = meta.get("config", {})
    if not isinstance(cfg, Mapping):
        raise PosteriorFileError(f"{where}: 'config' must be a JSON object, got {type(cfg).__name__}")
    cfg = dict(cfg)
    try:
        if "layers" in cfg:
            blocks = tuple(dict(b) if isinstance(b, Mapping) else b for b in cfg["layers"])
            if "image_shape" in cfg:
                in_shape = tuple(int(s) for s in cfg["image_shape"])
            elif "sizes" in cfg:
                in_shape = (int(cfg["sizes"][0]),)
            else:
                raise PosteriorFileError(f"{where}: config has 'layers' but neither 'image_shape' nor 'sizes'")
        elif "sizes" in cfg:
            sizes = [int(s) for s in cfg["sizes"]]
            if len(sizes) < 2:
                raise PosteriorFileError(f"{where}: config 'sizes' needs at least 2 entries, got {sizes}")
            blocks = tuple({"kind": "dense", "out": s} for s in sizes[1:])
            in_shape = (sizes[0],)
        else:
            raise PosteriorFileError(f"{where}: {kind.upper()} posterior config lacks 'layers' (or 'sizes')")
        if kind == "cnn" and len(in_shape) != 3:
            raise PosteriorFileError(f"{where}: a CNN posterior needs config 'image_shape' [H, W, C]")
        check_blocks(blocks, in_shape, "config 'layers'")
        ws, _ = shapes(blocks, in_shape)
    except PosteriorFileError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise PosteriorFileError(f"{where}: bad architecture in the config: {exc}") from None
    if "sizes" in cfg and "layers" in cfg and kind == "mlp":
        want = [in_shape[0]] + [b["out"] for b in blocks]
        if [int(s) for s in cfg["sizes"]] != want:
            raise PosteriorFileError(f"{where}: config 'sizes' {cfg['sizes']} disagrees with 'layers' ({want})")
    return Layout(kind, blocks, in_shape, ws, int(blocks[-1]["out"]), cfg)


def weight_array(arrays: Mapping[str, np.ndarray], i: int) -> tuple[str, np.ndarray]:
    """``(suffix, array)`` of block ``i``'s weights: suffix ``lam``, ``logits`` or ``weight``."""
    found = [(k, arrays[f"layer{i}.{k}"]) for k in _PARAMS if f"layer{i}.{k}" in arrays]
    if len(found) != 1:
        raise ValueError(f"block {i} must have exactly one of 'layer{i}.lam', 'layer{i}.logits', "
                         f"'layer{i}.weight'; found {[f'layer{i}.{k}' for k, _ in found] or 'none'}")
    return found[0]


def check_arrays(arrays: Mapping[str, np.ndarray], lay: Layout, where: str = "posterior",
                 bn: bool = True) -> None:
    """PosteriorFileError unless every block has weights of its shape (and, with ``bn``, BN statistics)."""
    for i, shape in enumerate(lay.weight_shapes):
        try:
            suffix, a = weight_array(arrays, i)
        except ValueError as exc:
            raise PosteriorFileError(f"{where}: {exc}") from None
        want = tuple(shape) + ((3,) if suffix == "logits" else ())
        if tuple(a.shape) != want:
            raise PosteriorFileError(f"{where}: layer{i}.{suffix} has shape {tuple(a.shape)}, expected {want} "
                                     f"(block {lay.blocks[i]})")
        if bn:
            for key in (f"bn{i}.mean", f"bn{i}.var"):
                if key not in arrays:
                    raise PosteriorFileError(f"{where}: missing batch-norm statistics {key!r}")
                if tuple(arrays[key].shape) != (shape[0],):
                    raise PosteriorFileError(f"{where}: {key} has shape {tuple(arrays[key].shape)}, expected "
                                             f"({shape[0]},)")


def classes(cfg: Mapping[str, Any], n_out: int, where: str = "posterior") -> np.ndarray:
    """The labels of the output units from a config (files without ``classes``: ``range(n_out)``): ints >= 0
    (int64 array) or strings (str array), one per output unit, distinct."""
    cls = cfg.get("classes", list(range(n_out)))
    ints = isinstance(cls, list) and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cls)
    strs = isinstance(cls, list) and all(isinstance(c, str) for c in cls)
    if not isinstance(cls, list) or len(cls) != n_out or not (ints or strs) or len(set(cls)) != n_out:
        raise PosteriorFileError(f"{where}: config 'classes' must list {n_out} distinct labels, ints >= 0 or "
                                 f"strings (one per output unit), found {cls!r}")
    return np.asarray(cls, dtype=np.int64) if ints else np.asarray(cls, dtype=str)


def load(source, kind: str | None = None) -> tuple[dict, dict, Layout]:
    """``(arrays, meta, layout)`` of a classifier posterior (a path or an ``(arrays, meta)`` pair), checked."""
    if isinstance(source, (str, os.PathLike)):
        arrays, meta = load_posterior(source, kind=kind)
        where = str(source)
    elif isinstance(source, tuple) and len(source) == 2:
        arrays, meta = dict(source[0]), dict(source[1])
        where = "posterior"
        if kind is not None and meta.get("kind") != kind:
            raise PosteriorFileError(f"{where}: expected a posterior of kind {kind!r}, found {meta.get('kind')!r}")
    else:
        raise TypeError(f"expected a posterior file path or an (arrays, meta) pair, got {type(source).__name__}")
    lay = layout(meta, where)
    check_arrays(arrays, lay, where)
    return arrays, meta, lay


def save(path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]):
    """Check ``arrays`` against ``meta``'s architecture, then write the posterior file atomically."""
    lay = layout(meta, str(path))
    check_arrays(arrays, lay, str(path))
    return save_posterior(path, arrays, meta)
