"""Drop-in modules for binary networks: the NumPy layers of :mod:`lowprec_rbm.nn.stack` in PyTorch.

- :class:`BinaryLinear` ``a = x Wᵀ`` and :class:`BinaryConv2d` (NCHW, odd k, stride 1, "same" size, padding
  with a *value*: +1 for ±1 activations and ±1 pixels, 0 for bit-plane pixels, as :mod:`lowprec_rbm.nn.conv`),
  no bias. ``rule="bayesbinn"``: the buffer ``lam`` holds the natural parameters λ and the parameter ``weight``
  holds the ±1 network the forward pass uses (:class:`~lowprec_rbm.pytorch.BayesBiNN` writes a relaxed sample
  into it before each forward/backward and the MAP network ``sign(λ)`` after each step). ``rule="ste"``:
  ``weight`` is the latent real weight and the forward pass uses ``sign(weight)`` with the gradient passed
  straight through.
- :class:`BatchNorm`: no affine parameters, per feature (2-d input) or per channel (4-d NCHW). Training: batch
  statistics (biased variance), summed over every rank of the default process group when one is initialised
  (the network is then the one a single process computes on the global batch); running averages with the
  unbiased variance, ``running <- (1 − momentum) running + momentum batch``. Evaluation: the float64 running
  statistics, computed in float64 (``z >= 0`` exactly when ``a >= mean``, the comparison the exported integer
  threshold makes).
- :class:`Sign`: ``sign(z)`` with ``sign(0) = +1``; gradient ``g`` where ``|z| <= window`` (hard tanh).

The defaults (``bn_eps`` 1e-4, ``bn_momentum`` 0.15, ``window`` 1, ``lam_init`` 1) are the NumPy trainer's.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from lowprec_rbm.base import check_random_state
from lowprec_rbm.rules import bayesbinn as bb
from lowprec_rbm.rules import ste as ste_rule

__all__ = ["RULES", "BinaryLinear", "BinaryConv2d", "BatchNorm", "Sign", "binary_layers", "sign_ste"]

RULES = ("bayesbinn", "ste")


def _signs(x: torch.Tensor) -> torch.Tensor:
    """±1 with sign(0) = +1 (bit layout v1), dtype of ``x``."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, window):
        ctx.save_for_backward(z)
        ctx.window = window
        return _signs(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        if ctx.window is None:
            return g, None
        return g * (z.abs() <= ctx.window).to(g.dtype), None


def sign_ste(z: torch.Tensor, window: float | None = 1.0) -> torch.Tensor:
    """``sign(z)`` (0 -> +1) with the straight-through gradient ``g·[|z| <= window]`` (``None``: ``g``)."""
    return _SignSTE.apply(z, window)


class Sign(nn.Module):
    """Sign activation with a straight-through (hard-tanh) gradient, as :class:`lowprec_rbm.nn.stack.Sign`."""

    def __init__(self, window: float = 1.0):
        super().__init__()
        if not float(window) > 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.window = float(window)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return sign_ste(z, self.window)

    def extra_repr(self) -> str:
        return f"window={self.window}"


class _Binary(nn.Module):
    """Shared part of the binary layers: the rule, λ or the latent weights, initialisation."""

    def _init_weights(self, shape: tuple, rule: str, lam_init: float, lam_std: float, random_state) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        self.rule = rule
        self.lam_init, self.lam_std = float(lam_init), float(lam_std)
        rng = check_random_state(random_state)
        if rule == "bayesbinn":
            lam = bb.init_lambda([shape], rng, float(lam_init), float(lam_std))[0]
            self.register_buffer("lam", torch.from_numpy(lam))
            self.weight = nn.Parameter(_signs(self.lam.clone()))
        else:
            # init_latent's Glorot bound reads (fan_out, fan_in) from a 2-d shape: fan_in = prod(shape[1:]).
            fan = (shape[0], int(np.prod(shape[1:])))
            latent = ste_rule.init_latent([fan], rng)[0].reshape(shape)
            self.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(latent)))

    def forward_weight(self) -> torch.Tensor:
        """The weights the forward pass uses. Training: ``weight`` (bayesbinn: the sample the optimizer wrote)
        or ``sign(weight)`` with a straight-through gradient (ste). Evaluation: the MAP network
        :meth:`map_weight`, so ``model.eval()`` is the deployable network whatever ``weight`` holds."""
        if not self.training:
            return self.map_weight()
        return self.weight if self.rule == "bayesbinn" else sign_ste(self.weight, None)

    def map_weight(self) -> torch.Tensor:
        """The deployable ±1 weights: ``sign(λ)`` (bayesbinn) or ``sign(weight)`` (ste), 0 -> +1."""
        return _signs(self.lam if self.rule == "bayesbinn" else self.weight.detach())


class BinaryLinear(_Binary):
    """Dense layer with ±1 weights and no bias, weight shape (out_features, in_features).

    Parameters
    ----------
    in_features, out_features : int
    rule : {"bayesbinn", "ste"}
    lam_init, lam_std : float
        BayesBiNN: λ = ±lam_init with random signs (+ sqrt(lam_std) N(0, 1)),
        :func:`lowprec_rbm.rules.bayesbinn.init_lambda`.
    random_state : None, int or numpy.random.Generator
        Seeds the initial λ / latent weights (under DistributedDataParallel rank 0's values are broadcast).
    """

    def __init__(self, in_features: int, out_features: int, rule: str = "bayesbinn", lam_init: float = 1.0,
                 lam_std: float = 0.0, random_state=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self._init_weights((self.out_features, self.in_features), rule, lam_init, lam_std, random_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.forward_weight().to(x.dtype))

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, rule={self.rule!r}"


class BinaryConv2d(_Binary):
    """2-d convolution with ±1 weights, no bias, NCHW, odd ``kernel_size``, stride 1, "same" output size,
    padded with the constant ``pad_value`` (+1 after ±1 activations or on ±1 pixels, 0 on bit-plane pixels;
    see :mod:`lowprec_rbm.nn.stack.conv2d`). Weight shape (out, in, k, k) (PyTorch's order; the posterior file
    stores (out, k, k, in))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, pad_value: float = 1.0,
                 rule: str = "bayesbinn", lam_init: float = 1.0, lam_std: float = 0.0, random_state=None):
        super().__init__()
        k = int(kernel_size)
        if k < 1 or k % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {kernel_size}")
        if pad_value not in (-1, 0, 1) or isinstance(pad_value, bool):
            raise ValueError(f"pad_value must be -1, 0 or +1, got {pad_value!r}")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), k
        self.pad_value = float(pad_value)
        self._init_weights((self.out_channels, self.in_channels, k, k), rule, lam_init, lam_std, random_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size // 2
        xp = F.pad(x, (p, p, p, p), mode="constant", value=self.pad_value) if p else x
        return F.conv2d(xp, self.forward_weight().to(x.dtype))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"pad_value={self.pad_value:g}, rule={self.rule!r}")


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks of the default process group; the gradient of a sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx, x):
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, g):
        g = g.clone()
        dist.all_reduce(g)
        return g


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class BatchNorm(nn.Module):
    """Batch norm without affine parameters (see the module docstring).

    Parameters
    ----------
    num_features : int
    eps, momentum : float (NumPy trainer's defaults 1e-4 and 0.15)
    sync : bool, default True
        Under an initialised ``torch.distributed`` process group with several ranks, compute the training
        statistics over the whole global batch (two differentiable all-reduces per call).
    """

    def __init__(self, num_features: int, eps: float = 1e-4, momentum: float = 0.15, sync: bool = True):
        super().__init__()
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.num_features, self.eps = int(num_features), float(eps)
        self.momentum, self.sync = float(momentum), bool(sync)
        self.register_buffer("running_mean", torch.zeros(self.num_features, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(self.num_features, dtype=torch.float64))
        self.calibrating = False
        self.calibrated = False     # running statistics = population statistics (calibrate_batchnorm)

    def _rows(self, a: torch.Tensor) -> torch.Tensor:
        if a.dim() == 2:
            return a
        if a.dim() == 4:
            return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])
        raise ValueError(f"BatchNorm takes (N, F) or (N, C, H, W) inputs, got shape {tuple(a.shape)}")

    def _shape(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return v if a.dim() == 2 else v.view(1, -1, 1, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        rows = self._rows(a)
        if rows.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) got {rows.shape[1]} features")
        if self.calibrating:
            return self._calibrate(a, rows)
        if not self.training:
            mean, var = self._shape(self.running_mean, a), self._shape(self.running_var, a)
            return (a.to(torch.float64) - mean) / torch.sqrt(var + self.eps)
        sync = self.sync and _distributed()
        n = torch.tensor(float(rows.shape[0]), dtype=rows.dtype, device=rows.device)
        s = rows.sum(dim=0)
        if sync:
            s, n = _AllReduceSum.apply(s), _AllReduceSum.apply(n)
        mean = s / n
        c = a - self._shape(mean, a)
        cr = self._rows(c)
        ss = (cr * cr).sum(dim=0)
        if sync:
            ss = _AllReduceSum.apply(ss)
        var = ss / n
        self.calibrated = False
        with torch.no_grad():
            m, count = self.momentum, float(n)
            unbiased = var.detach().to(torch.float64) * (count / max(count - 1.0, 1.0))
            self.running_mean.mul_(1 - m).add_(m * mean.detach().to(torch.float64))
            self.running_var.mul_(1 - m).add_(m * unbiased)
        return c * self._shape(1.0 / torch.sqrt(var + self.eps), a)

    @torch.no_grad()
    def _calibrate(self, a: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Population statistics of this batch (float64 mean, biased two-pass variance), stored as the running
        statistics, then the evaluation transform (see :func:`lowprec_rbm.pytorch.calibrate_batchnorm`)."""
        r = rows.to(torch.float64)
        mean = r.mean(dim=0)
        var = ((r - mean) ** 2).mean(dim=0)
        self.running_mean.copy_(mean)
        self.running_var.copy_(var)
        self.calibrated = True
        return (a.to(torch.float64) - self._shape(mean, a)) / torch.sqrt(self._shape(var, a) + self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}, sync={self.sync}"


def binary_layers(model: nn.Module) -> list[_Binary]:
    """The binary layers of ``model`` (a DistributedDataParallel wrapper included), in module order."""
    return [m for m in model.modules() if isinstance(m, _Binary)]
