"""The binary MLP ``lowprec train mlp`` trains, as a PyTorch module: ``BinaryLinear -> BatchNorm -> Sign`` per
hidden layer and ``BinaryLinear -> BatchNorm`` for the class scores (:mod:`lowprec_rbm.nn.mlp`).

Inputs are prepared from uint8 pixels exactly as the NumPy trainer and the exported first layer read them
(:func:`lowprec_rbm.nn.network.prepare_inputs`): ``bitplanes`` (default) the integer pixel 0..255,
``binary`` ±1 at ``threshold``, ``real`` pixel / 255. In evaluation mode the module is the deployable network
bit for bit: MAP weights, integer-valued dot products (exact in float32: every partial sum is an integer below
2^24) and float64 batch norm, whose sign decides ``a >= mean`` as the exported integer threshold does.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from lowprec_rbm.base import check_random_state
from lowprec_rbm.nn.network import INPUT_MODES, prepare_inputs
from lowprec_rbm.pytorch.layers import BatchNorm, BinaryLinear, Sign

__all__ = ["BinaryMLP"]


class BinaryMLP(nn.Sequential):
    """``sizes = (n_inputs, hidden..., n_classes)`` with ±1 weights and sign activations.

    Parameters
    ----------
    sizes : sequence of int
    input : {"bitplanes", "binary", "real"}
    threshold : float, binarisation intensity for ``input="binary"``
    rule : {"bayesbinn", "ste"}
    lam_init, lam_std : BayesBiNN's initial λ (:class:`~lowprec_rbm.pytorch.BinaryLinear`)
    bn_eps, bn_momentum, window : batch norm and straight-through settings (NumPy defaults)
    random_state : None, int or numpy.random.Generator, seeds the initial weights (one generator, layer by layer)
    """

    def __init__(self, sizes: Sequence[int], input: str = "bitplanes", threshold: float = 0.5,
                 rule: str = "bayesbinn", lam_init: float = 1.0, lam_std: float = 0.0, bn_eps: float = 1e-4,
                 bn_momentum: float = 0.15, window: float = 1.0, random_state=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be (n_inputs, hidden..., n_classes), all >= 1; got {sizes}")
        if input not in INPUT_MODES:
            raise ValueError(f"input must be one of {INPUT_MODES}, got {input!r}")
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        rng = check_random_state(random_state)
        mods: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            mods += [BinaryLinear(sizes[i], sizes[i + 1], rule, lam_init, lam_std, rng),
                     BatchNorm(sizes[i + 1], bn_eps, bn_momentum)]
            if i < len(sizes) - 2:
                mods.append(Sign(window))
        super().__init__(*mods)
        self.sizes = tuple(sizes)
        self.input = input
        self.threshold = float(threshold)

    def prepare(self, images: np.ndarray, device=None) -> torch.Tensor:
        """uint8 images (M, H, W) or (M, D) -> the float32 input tensor (M, D) of this network."""
        x = prepare_inputs(images, self.input, self.threshold)
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"images have {x.shape[1]} pixels, the network takes {self.sizes[0]} inputs")
        return torch.from_numpy(x).to(device) if device is not None else torch.from_numpy(x)

    @torch.no_grad()
    def predict_index(self, images: np.ndarray) -> np.ndarray:
        """Output unit (class index) of the deployable (MAP) network for each image; ties to the first."""
        was = self.training
        self.eval()
        try:
            dev = next(self.parameters()).device
            return self(self.prepare(images, dev)).argmax(dim=1).cpu().numpy()
        finally:
            self.train(was)
