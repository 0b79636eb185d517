"""PyTorch front end of the learning rules (optional extra ``lowprec-rbm[torch]``; the core never imports it).

Train a binary network in ordinary PyTorch code, on many cores, GPUs or nodes (``torch.distributed``), with the
same update as the NumPy rules, and end in the same posterior file, so ``lowprec export``, ``verify`` and
``report`` take the result unchanged:

- :class:`BayesBiNN` (:mod:`.bayesbinn`): a ``torch.optim.Optimizer`` over the natural parameters λ of the
  binary layers of a model (the NumPy reference is :mod:`lowprec_rbm.rules.bayesbinn`); :class:`STE`
  (:mod:`.ste`): the straight-through baseline (Adam on latent weights, then clipping).
- Drop-in modules (:mod:`.layers`): :class:`BinaryLinear`, :class:`BinaryConv2d` (the NumPy CNN's padding
  value), :class:`BatchNorm` (no affine; batch statistics over all ranks of a process group), :class:`Sign`
  (straight-through gradient); :class:`BinaryMLP` (:mod:`.mlp`), the network ``lowprec train mlp`` trains.
- :func:`save_posterior` and :func:`calibrate_batchnorm` (:mod:`.posterior`).

Ternary VI is not ported (its probabilistic forward pass would need a moment rule per module); the NumPy
trainer has it.
"""
from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised where torch is absent
    raise ImportError("lowprec_rbm.pytorch needs PyTorch: pip install 'lowprec-rbm[torch]' "
                      "(pins torch==2.13.0, the CPU build on these machines)") from exc

from lowprec_rbm.pytorch.bayesbinn import BayesBiNN, step_noise
from lowprec_rbm.pytorch.layers import BatchNorm, BinaryConv2d, BinaryLinear, Sign, binary_layers
from lowprec_rbm.pytorch.mlp import BinaryMLP
from lowprec_rbm.pytorch.posterior import calibrate_batchnorm, save_posterior
from lowprec_rbm.pytorch.ste import STE

__all__ = ["BayesBiNN", "STE", "step_noise", "BinaryLinear", "BinaryConv2d", "BatchNorm", "Sign", "BinaryMLP",
           "binary_layers", "save_posterior", "calibrate_batchnorm"]
