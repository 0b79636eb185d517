"""Deployment side of lowprec-rbm: bit layout v1, packing, ONNX graphs and C sources.

This package never imports ``lowprec_rbm`` (training) nor ``targets`` (runtimes). It consumes a neutral
description of a deployable network that any trainer can fill.

The public API is what ``__all__`` lists (everything else is private by convention):

- the neutral network description (:mod:`export.network`): :class:`InputSpec`, :class:`Dense`,
  :class:`Conv2d`, :class:`Threshold`, :class:`OutputAffine`, :class:`RealBatchNorm`, the networks
  :class:`MLPNetwork`, :class:`CNNNetwork`, :class:`RBMNetwork`, and :func:`fold_batchnorm`;
- the ONNX artifact: :func:`build_model`, :func:`save_model`, :func:`load_artifact`;
- C sources: :func:`emit_c`.

Names are imported on first use (module ``__getattr__``): ``import export`` does not load numpy or onnx.

Examples
--------
>>> import export
>>> "build_model" in export.__all__ and "emit_c" in export.__all__
True
"""
from __future__ import annotations

import importlib

# public name -> the module that defines it (imported on first access)
_PUBLIC = {
    **{name: "export.network" for name in ("InputSpec", "Dense", "Conv2d", "Threshold", "OutputAffine",
                                           "RealBatchNorm", "MLPNetwork", "CNNNetwork", "RBMNetwork",
                                           "fold_batchnorm")},
    "build_model": "export.onnx.build",
    "save_model": "export.onnx.load",
    "load_artifact": "export.onnx.load",
    "emit_c": "export.c.emit",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value     # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
