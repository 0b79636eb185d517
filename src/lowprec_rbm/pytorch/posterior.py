"""The way out of PyTorch: a trained binary MLP to our posterior file (kind ``"mlp"``, :mod:`lowprec_rbm.nn.schema`),
which ``lowprec export``, ``verify``, ``report`` and :meth:`lowprec_rbm.nn.mlp.MLPClassifier.load` take unchanged.

What is written, per block ``i`` (``BinaryLinear -> BatchNorm [-> Sign]`` in module order):

- ``layer{i}.lam`` (rule ``bayesbinn``: the natural parameters λ) or ``layer{i}.weight`` (rule ``ste``: the
  latent weights), shape (out, in); ``layer{i}.lam0`` when the optimizer had a prior;
- ``bn{i}.mean`` / ``bn{i}.var``: the batch norm's float64 running statistics, which are the statistics the
  module's evaluation mode uses, so the exported network is the module's ``eval()`` network exactly;
  :func:`calibrate_batchnorm` first replaces them by the population statistics of the MAP network (what the
  NumPy trainer's default ``bn_eval="recompute"`` stores); also ``bn{i}.running_mean`` / ``running_var``;
- ``logit_scale`` [1.0] (the torch model has no learned output scale);
- the config of :meth:`lowprec_rbm.nn.classifier.Classifier.config` (sizes, activation, input, threshold,
  bn_eps, rule, rule_params, ...) with ``trainer: "pytorch"``.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from lowprec_rbm.pytorch.layers import BatchNorm, BinaryConv2d, BinaryLinear, Sign, _Binary

__all__ = ["save_posterior", "calibrate_batchnorm", "mlp_blocks"]


def _unwrap(model: nn.Module) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def mlp_blocks(model: nn.Module) -> list[tuple[BinaryLinear, BatchNorm, Sign | None]]:
    """The ``(BinaryLinear, BatchNorm, Sign or None)`` blocks of an MLP built from our modules, in module order;
    ValueError naming what does not fit (the exportable MLP is ``[dense -> BN -> sign]* -> dense -> BN``)."""
    model = _unwrap(model)
    seq = [m for m in model.modules() if isinstance(m, (_Binary, BatchNorm, Sign))]
    other = [type(m).__name__ for m in model.modules()
             if not list(m.children()) and not isinstance(m, (_Binary, BatchNorm, Sign, nn.Identity, nn.Flatten))]
    if other:
        raise ValueError(f"model has layers an exported binary MLP cannot hold: {sorted(set(other))} (expected "
                         "BinaryLinear -> BatchNorm -> Sign blocks and a BinaryLinear -> BatchNorm output)")
    if any(isinstance(m, BinaryConv2d) for m in seq):
        raise ValueError("save_posterior writes MLP posteriors: a model with BinaryConv2d layers is not supported")
    blocks, i = [], 0
    while i < len(seq):
        if not (isinstance(seq[i], BinaryLinear) and i + 1 < len(seq) and isinstance(seq[i + 1], BatchNorm)):
            raise ValueError(f"expected BinaryLinear followed by BatchNorm at module {i} of {len(seq)} "
                             f"({[type(m).__name__ for m in seq]})")
        sign = seq[i + 2] if i + 2 < len(seq) and isinstance(seq[i + 2], Sign) else None
        blocks.append((seq[i], seq[i + 1], sign))
        i += 3 if sign is not None else 2
    if not blocks:
        raise ValueError("model has no BinaryLinear layer")
    for j, (lin, bn, sign) in enumerate(blocks):
        last = j == len(blocks) - 1
        if (sign is None) != last:
            raise ValueError(f"block {j}: hidden blocks end in Sign and the output block has none "
                             f"({'output block has a Sign' if last else 'hidden block without Sign'})")
        if bn.num_features != lin.out_features:
            raise ValueError(f"block {j}: BatchNorm({bn.num_features}) after a layer of {lin.out_features} outputs")
        if j and lin.in_features != blocks[j - 1][0].out_features:
            raise ValueError(f"block {j} takes {lin.in_features} inputs, block {j - 1} gives "
                             f"{blocks[j - 1][0].out_features}")
    rules = {lin.rule for lin, _, _ in blocks}
    if len(rules) != 1:
        raise ValueError(f"all binary layers must use one rule to share a posterior file, found {sorted(rules)}")
    eps = {bn.eps for _, bn, _ in blocks}
    if len(eps) != 1:
        raise ValueError(f"all BatchNorm layers must have one eps (the file records one bn_eps), found {sorted(eps)}")
    return blocks


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Set every :class:`BatchNorm`'s statistics to the population statistics of the MAP network on ``x``
    (prepared inputs, one batch), block by block: float64 mean and biased variance of each pre-activation when
    the earlier blocks are normalised with their own statistics, as :func:`lowprec_rbm.nn.network.population_stats`
    (the NumPy trainer's ``bn_eval="recompute"``). Returns ``model`` (in evaluation mode)."""
    model = _unwrap(model)
    bns = [m for m in model.modules() if isinstance(m, BatchNorm)]
    if not bns:
        raise ValueError("model has no BatchNorm layer to calibrate")
    if x.shape[0] < 2:
        raise ValueError(f"calibration needs at least 2 inputs (variances), got {x.shape[0]}")
    model.eval()
    for bn in bns:
        bn.calibrating = True
    try:
        model(x)
    finally:
        for bn in bns:
            bn.calibrating = False
    return model


def save_posterior(model: nn.Module, path: str | os.PathLike, *, optimizer: torch.optim.Optimizer | None = None,
                   input: str | None = None, threshold: float | None = None, classes: Sequence[int] | None = None,
                   extra: Mapping[str, Any] | None = None):
    """Write ``model`` (a :class:`~lowprec_rbm.pytorch.BinaryMLP`, or any module of the same blocks) as a
    posterior file of kind ``"mlp"`` (atomic write). Returns the path.

    Parameters
    ----------
    model : torch.nn.Module (a DistributedDataParallel wrapper is unwrapped)
    path : path-like, conventionally ``.npz``
    optimizer : BayesBiNN or STE, optional
        Its hyper-parameters, training-set size and prior are recorded (``rule_params``, ``n_train``, ``lam0``).
    input, threshold : the input mode and binarisation threshold; default the BinaryMLP's own (required for
        another module)
    classes : the label of each output unit (default 0..n-1)
    extra : mapping merged into the config (e.g. the data description ``{"data": ...}``)
    """
    from lowprec_rbm.nn import schema
    from lowprec_rbm.nn.network import INPUT_MODES

    blocks = mlp_blocks(model)
    m = _unwrap(model)
    input = getattr(m, "input", None) if input is None else input
    threshold = getattr(m, "threshold", 0.5) if threshold is None else threshold
    if input not in INPUT_MODES:
        raise ValueError(f"input must be one of {INPUT_MODES} (how pixels become the first layer's input), got "
                         f"{input!r}")
    sizes = [blocks[0][0].in_features] + [lin.out_features for lin, _, _ in blocks]
    rule = blocks[0][0].rule
    arrays: dict[str, np.ndarray] = {}
    prior = None
    if optimizer is not None:
        from lowprec_rbm.pytorch.bayesbinn import BayesBiNN
        from lowprec_rbm.pytorch.ste import STE

        want = BayesBiNN if rule == "bayesbinn" else STE
        if not isinstance(optimizer, want):
            raise TypeError(f"optimizer must be the {want.__name__} that trained this rule-{rule!r} model, got "
                            f"{type(optimizer).__name__}")
        if isinstance(optimizer, BayesBiNN):
            prior = [optimizer.state[lin.weight].get("lam0") for lin, _, _ in blocks]
            if any(p is None for p in prior):
                prior = None
    for i, (lin, bn, _) in enumerate(blocks):
        if rule == "bayesbinn":
            arrays[f"layer{i}.lam"] = lin.lam.detach().cpu().numpy().astype(np.float32)
            if prior is not None:
                arrays[f"layer{i}.lam0"] = prior[i].detach().cpu().numpy().astype(np.float32)
        else:
            arrays[f"layer{i}.weight"] = lin.weight.detach().cpu().numpy().astype(np.float32)
        mean = bn.running_mean.detach().cpu().numpy().astype(np.float64)
        var = bn.running_var.detach().cpu().numpy().astype(np.float64)
        arrays[f"bn{i}.mean"], arrays[f"bn{i}.var"] = mean, var
        arrays[f"bn{i}.running_mean"], arrays[f"bn{i}.running_var"] = mean.copy(), var.copy()
    arrays["logit_scale"] = np.ones(1, dtype=np.float64)
    n_out = sizes[-1]
    classes = list(range(n_out)) if classes is None else [int(c) for c in classes]
    if len(classes) != n_out:
        raise ValueError(f"classes must name {n_out} output units, got {len(classes)}")
    first = blocks[0][0]
    if optimizer is not None:
        hp = optimizer.hyperparameters()
    else:
        hp = {}
    if rule == "bayesbinn":
        hp.update(lam_init=first.lam_init, lam_std=first.lam_std)
    calibrated = all(bn.calibrated for _, bn, _ in blocks)
    window = blocks[0][2].window if blocks[0][2] is not None else 1.0
    cfg = {
        "sizes": sizes, "activation": "sign", "input": input, "threshold": float(threshold),
        "bn_eps": float(blocks[0][1].eps), "bn_momentum": float(blocks[0][1].momentum), "dropout": 0.0,
        "input_dropout": 0.0, "ste_window": float(window), "hidden": sizes[1:-1],
        "layers": [{"kind": "dense", "out": s} for s in sizes[1:]],
        "n_classes": n_out, "classes": classes, "rule": rule, "rule_params": hp,
        "lr_schedule": "constant", "epochs": 1, "batch_size": 2, "bn_eval": "running", "bn_calib": 2,
        "bn_stats": ("population statistics of the deployable network (calibrate_batchnorm)" if calibrated
                     else "the BatchNorm modules' running averages"),
        "test_samples": 1, "logit_scale": "fixed", "logit_scale_value": 1.0,
        "mean_predictor": "softmax probabilities averaged over test_samples sampled networks",
        "seed": int(getattr(optimizer, "seed", 0)),
        "n_train": int(optimizer.param_groups[0].get("n_data", 0)) if optimizer is not None else 0,
        "weights": f"layer{{i}}.{'lam' if rule == 'bayesbinn' else 'weight'}",
        "deployable": "sign(lam), lam >= 0 -> +1" if rule == "bayesbinn" else "sign(weight), 0 -> +1",
        "trainer": f"pytorch {torch.__version__}",
        # what the torch run's learning rate did (lr_schedule above only has the NumPy trainer's vocabulary)
        "torch_lr": ({"initial": optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"]),
                      "final": optimizer.param_groups[0]["lr"]} if optimizer is not None else None),
    }
    # ``params``: the same network as MLPClassifier hyper-parameters (what MLPClassifier.load restores); the
    # training-only ones describe no NumPy run (this one was trained by torch: "trainer", "torch_lr").
    from lowprec_rbm.nn.mlp import MLPClassifier

    rate = hp.get("lr")
    clf = MLPClassifier(hidden=tuple(sizes[1:-1]), activation="sign", input_encoding=input,
                        threshold=float(threshold), rule=rule, learning_rate=rate,
                        rule_params={k: v for k, v in hp.items() if k != "lr"}, schedule="constant",
                        bn_eps=cfg["bn_eps"], bn_momentum=cfg["bn_momentum"], bn_eval="running", bn_calib=2,
                        test_samples=1, logit_scale="fixed", random_state=cfg["seed"])
    cfg["params"] = clf._params_json()
    cfg.update(dict(extra or {}))
    return schema.save(path, arrays, {"kind": "mlp", "config": cfg, "history": []})
