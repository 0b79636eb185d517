"""The deployable integer network of an MLP posterior file: per-layer integer weights and BN statistics.

For a posterior of kind ``"mlp"`` (arrays named as in :mod:`lowprec_rbm.nn`):

- ``layer{i}.lam`` (BayesBiNN): MAP weights ``sign(λ)`` with ``λ >= 0 -> +1``;
- ``layer{i}.logits`` (ternary VI, (out, in, 3) over −1, 0, +1): the most probable value (ties: 0, +1, −1);
- ``layer{i}.weight`` with rule ``ste``: ``sign`` of the latent weights (0 -> +1);
  with rule ``adam`` the weights are real and there is no integer network (ValueError).

BN statistics ``bn{i}.mean``/``bn{i}.var`` are those of the deployable network (see
:mod:`lowprec_rbm.nn.mlp`), with ``bn_eps`` from the config: layer ``i`` computes
``z = (a − mean) / sqrt(var + eps)``, hidden layers then ``sign(z)`` (``z >= 0 -> +1``, i.e. ``a >= mean``) or
ReLU, and the last layer's ``z`` are the class scores.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple

import numpy as np

__all__ = ["DeployableMLP", "deployable_mlp"]


class DeployableMLP(NamedTuple):
    """Integer weights and BN statistics of a trained MLP.

    weights : list of int8 arrays (out, in) with values in {−1, +1} (binary) or {−1, 0, +1} (ternary)
    bn_mean, bn_var : lists of float64 arrays (out,)
    bn_eps : float
    activation : "sign" or "relu" (hidden layers)
    input : "real", "binary" or "bitplanes"
    threshold : float (binarisation intensity for ``input == "binary"``)
    precision : "binary" or "ternary"
    """

    weights: list
    bn_mean: list
    bn_var: list
    bn_eps: float
    activation: str
    input: str
    threshold: float
    precision: str

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Class scores (M, n_classes) of prepared inputs x (M, n_inputs) (float64 reference computation)."""
        h = np.asarray(x, dtype=np.float64)
        n = len(self.weights)
        for i, w in enumerate(self.weights):
            z = (h @ w.T.astype(np.float64) - self.bn_mean[i]) / np.sqrt(self.bn_var[i] + self.bn_eps)
            if i < n - 1:
                h = np.where(z >= 0, 1.0, -1.0) if self.activation == "sign" else np.maximum(z, 0.0)
            else:
                h = z
        return h


def deployable_mlp(source: str | os.PathLike | tuple[Mapping[str, np.ndarray], Mapping[str, Any]]
                   ) -> DeployableMLP:
    """Integer weights and BN statistics from a posterior file path or an ``(arrays, meta)`` pair."""
    from lowprec_rbm.nn import schema

    arrays, meta, lay = schema.load(source, kind="mlp")   # checks the architecture and the array shapes
    from lowprec_rbm.derive import layer_weights  # derive imports nn.network: import here, not at the top

    cfg = meta.get("config", {})
    for key in ("activation", "input", "threshold", "bn_eps", "rule"):
        if key not in cfg:
            raise ValueError(f"MLP posterior config lacks {key!r}")
    sizes = [int(lay.in_shape[0])] + [int(b["out"]) for b in lay.blocks]
    rule = cfg["rule"]
    if rule == "adam":
        raise ValueError("this posterior has real (full-precision) weights: there is no integer network to "
                         "deploy; train with rule 'bayesbinn', 'ste' or 'ternary-vi'")
    weights, means, vars_ = [], [], []
    precision = "binary"
    for i in range(len(sizes) - 1):
        shape = (sizes[i + 1], sizes[i])
        # The weight rules (MAP sign with sign(0) = +1; ternary argmax with ties to 0, +1, -1) live in
        # lowprec_rbm.derive, the one place that derives deployable weights.
        w = layer_weights(arrays, i)
        if f"layer{i}.logits" in arrays:
            precision = "ternary"
        if w.shape != shape:
            raise ValueError(f"layer {i} weights have shape {w.shape}; config sizes {sizes} expect {shape}")
        for key in (f"bn{i}.mean", f"bn{i}.var"):
            if key not in arrays:
                raise ValueError(f"MLP posterior lacks batch-norm statistics {key!r}")
        weights.append(w)
        means.append(np.asarray(arrays[f"bn{i}.mean"], dtype=np.float64))
        vars_.append(np.asarray(arrays[f"bn{i}.var"], dtype=np.float64))
    return DeployableMLP(weights, means, vars_, float(cfg["bn_eps"]), cfg["activation"], cfg["input"],
                         float(cfg["threshold"]), precision)
