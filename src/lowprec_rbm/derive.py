"""Deployable weights from a trained posterior, and the deployable network description ``export`` reads.

Weights from a Bernoulli posterior q(w) ∝ exp(λ w) over w in {-1, +1} (``lowprec_rbm.posterior``):

- **MAP**: the most probable value, sign(λ) with sign(0) = +1 (bit layout v1).
- **samples**: w = +1 with probability sigmoid(2λ), drawn from a seeded ``numpy.random.Generator``
  (same seed -> same weights).
- **posterior-mean ensemble**: S sampled networks run separately (each one an ordinary exported network);
  their *integer* outputs are combined afterwards, so the combination is exact and identical on every target:
  :func:`vote` (majority vote of class indices, ties to the smallest class index) or :func:`sum_scores`
  (sum of the int32 class scores in int64, then the first maximum). The vote approximates the predictive
  mode of the posterior-averaged network, the score sum its mean score, with Monte Carlo error O(1/√S).

Weights from a ternary posterior with per-weight logits over (-1, 0, +1): the most probable value per weight;
ties (equal logits, measure zero in practice) go to 0, then +1, then -1 (closest to zero first, sign(0) = +1).

Converters from posterior files (``lowprec_rbm.posterior_file``) to ``export.network`` objects:

- kind ``"rbm"``: array ``lam`` (N, P); config ``beta`` (inverse temperature); the binarisation threshold
  (pixel intensity in (0, 1] at which a visible unit is +1) from config ``threshold`` or, as ``lowprec train
  rbm`` writes it, ``meta["data"]["binarize_threshold"]``; with a threshold the network takes uint8 pixels
  and binarises with ``pixel >= ceil(255 t)``, the integer form of ``lowprec_rbm.data.binarize``; without
  one (e.g. synthetic ±1 data) it takes int8 ±1 -> ``RBMNetwork``.
- kind ``"mlp"``: per layer i one of ``layer{i}.lam`` (out, in) (BayesBiNN, Bernoulli), ``layer{i}.logits``
  (out, in, 3) (ternary) or ``layer{i}.weight`` (out, in) (STE / real latent weights: sign); batch norm
  ``bn{i}.mean``, ``bn{i}.var`` (no affine, ``lowprec_rbm.nn.network``); config ``sizes``, ``activation``,
  ``input``, ``threshold``, ``bn_eps`` -> ``MLPNetwork``. Hidden BN + sign folds exactly into integer
  thresholds (``export.network.fold_batchnorm``), the last BN into integer scores
  (``fold_output_batchnorm``). Only sign activations are exportable: a ReLU network does not map to
  XNOR-popcount layers and is refused.

Input modes of an MLP and what the exported first layer computes, exactly:

- ``binary``: ±1 pixels at ``threshold`` -> uint8 pixel input, ``BinarizePack`` at ceil(255 t).
- ``bitplanes``: integer pixels 0..255 -> ``BitplaneGemm``; y_int = Σ_k pixel_k w_k is the trained pre-activation.
- ``real``: pixel / 255 -> the same ``BitplaneGemm``: the trained pre-activation is y_int / 255, and
  BN((y/255)) = (y - 255 μ) / sqrt(255² v + 255² eps), so the BN statistics are rescaled by 255 (mean) and
  255² (variance and eps) and the fold stays exact.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Mapping, Sequence

import numpy as np

from export.network import (Dense, InputSpec, MLPNetwork, RBMNetwork, RealBatchNorm, fold_batchnorm,
                            fold_output_batchnorm)
from lowprec_rbm.posterior import BernoulliPosterior

__all__ = [
    "MODES", "map_weights", "sample_weights", "ternary_map", "ternary_sample", "vote", "sum_scores",
    "pixel_threshold", "layer_weights", "rbm_network", "mlp_network", "cnn_network", "network_from_posterior", "ensemble_from_posterior",
    "network_for_artifact",
]

MODES = ("map", "sample")
_TERNARY_VALUES = np.array([-1, 0, 1], dtype=np.int8)


# ------------------------------------------------------------------------------------------ weights from posteriors
def map_weights(lam: np.ndarray) -> np.ndarray:
    """Most probable ±1 weights of a Bernoulli posterior: int8 sign(λ), sign(0) = +1. Shape of ``lam``."""
    return BernoulliPosterior(np.asarray(lam)).map()


def sample_weights(lam: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """±1 weights drawn from the posterior: int8 of shape ``lam.shape`` or ``(size,) + lam.shape``."""
    return BernoulliPosterior(np.asarray(lam)).sample(rng, size)


def _check_logits(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.dtype.kind != "f":
        raise TypeError(f"ternary logits must be floating point, got dtype {logits.dtype}")
    if logits.ndim < 1 or logits.shape[-1] != 3:
        raise ValueError(f"ternary logits must have a last axis of 3 (values -1, 0, +1), got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("ternary logits contain NaN or infinite values")
    return logits


def ternary_map(logits: np.ndarray) -> np.ndarray:
    """Most probable value in {-1, 0, +1} per weight from logits (..., 3); int8 of shape (...).

    Ties go to 0, then +1, then -1: the logits are searched in the order (0, +1, -1) and np.argmax returns
    the first maximum.
    """
    logits = _check_logits(logits)
    order = np.array([1, 2, 0])                      # positions of 0, +1, -1 in (-1, 0, +1)
    return _TERNARY_VALUES[order[np.argmax(logits[..., order], axis=-1)]]


def ternary_sample(logits: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Ternary weights drawn from softmax(logits) per weight (inverse CDF on one uniform per weight)."""
    logits = _check_logits(logits)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    shape = logits.shape[:-1] if size is None else (int(size),) + logits.shape[:-1]
    u = rng.random(shape)[..., None]
    idx = np.minimum((u >= cdf[..., :2]).sum(axis=-1), 2)  # number of CDF steps below u
    return _TERNARY_VALUES[idx]


# --------------------------------------------------------------------------------------- combining ensemble outputs
def vote(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority vote of S networks' class indices (S, B) -> (B,) int64; ties go to the smallest class index."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer array (S, B), got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), found {labels.min()}..{labels.max()}")
    counts = np.zeros((labels.shape[1], int(n_classes)), dtype=np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(labels.shape[1]), labels.shape), labels), 1)
    return np.argmax(counts, axis=1).astype(np.int64)


def sum_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum S networks' integer class scores (S, B, C) in int64; returns (summed scores (B, C), labels (B,))."""
    scores = np.asarray(scores)
    if scores.ndim != 3 or scores.dtype.kind not in "iu":
        raise ValueError(f"scores must be an integer array (S, B, C), got {scores.dtype} {scores.shape}")
    # Exported scores satisfy |score| <= 2^53 (export.network.SCORE_LIMIT): up to 1024 of them sum exactly
    # in int64. Larger inputs are checked rather than allowed to wrap.
    big = int(np.max(np.abs(scores.astype(np.int64)))) if scores.size else 0
    if big * scores.shape[0] > 2**63 - 1:
        raise ValueError(f"summing {scores.shape[0]} score arrays with |score| up to {big} would overflow int64")
    total = scores.astype(np.int64).sum(axis=0)
    return total, np.argmax(total, axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------------------------- converters
def pixel_threshold(intensity: float) -> int:
    """Intensity threshold t in (0, 1] -> the uint8 cut with pixel >= cut  <=>  pixel / 255 >= t."""
    t = float(intensity)
    if not 0.0 < t <= 1.0:
        raise ValueError(f"binarisation threshold must be in (0, 1], got {intensity}")
    return int(math.ceil(255.0 * t - 1e-9))  # same rounding guard as lowprec_rbm.data.binarize


def _config(meta: Mapping[str, Any]) -> dict:
    cfg = meta.get("config", {})
    if not isinstance(cfg, Mapping):
        raise ValueError(f"posterior 'config' must be a JSON object, got {type(cfg).__name__}")
    return dict(cfg)


def _rng(rng, mode: str) -> np.random.Generator | None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "sample" and not isinstance(rng, np.random.Generator):
        raise TypeError("mode 'sample' needs a numpy.random.Generator (seeded from the user's seed)")
    return rng


def _export_meta(meta: Mapping[str, Any], mode: str, seed: int | None) -> dict:
    return {"source_kind": meta.get("kind"), "weights": mode, "seed": seed, "config": _config(meta)}


def rbm_network(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *, mode: str = "map",
                rng: np.random.Generator | None = None, gibbs_steps: int = 1, pixels: bool | None = None,
                seed: int | None = None) -> RBMNetwork:
    """RBM posterior (arrays ``lam`` (N, P), optional ``visible_field`` (N,), ``hidden_field`` (P,); config
    ``beta``, ``threshold``) -> ``RBMNetwork``.

    Parameters
    ----------
    mode : {"map", "sample"}
    rng : Generator, needed for ``mode="sample"``
    gibbs_steps : int >= 0, Gibbs steps the exported graph runs
    pixels : bool, optional
        True: the network takes uint8 pixels and binarises at the config's threshold; False: int8 ±1 input.
        Default: pixels when the config has a threshold.
    seed : int, optional, recorded in the network's meta
    """
    rng = _rng(rng, mode)
    if "lam" not in arrays:
        raise ValueError(f"RBM posterior has no array 'lam'; found {sorted(arrays)}")
    lam = np.asarray(arrays["lam"])
    if lam.ndim != 2:
        raise ValueError(f"RBM 'lam' must be 2-d (N visible, P hidden), got shape {lam.shape}")
    cfg = _config(meta)
    beta = float(cfg.get("beta", 1.0))
    w = map_weights(lam) if mode == "map" else sample_weights(lam, rng)
    thr = cfg.get("threshold", dict(meta.get("data") or {}).get("binarize_threshold"))
    if pixels is None:
        pixels = thr is not None
    spec = None
    if pixels:
        cut = pixel_threshold(0.5 if thr is None else thr)
        spec = InputSpec("threshold", lam.shape[0], dtype="uint8", threshold=float(cut))
    # Optional real fields b (N,), c (P,) (posterior files without them: a fieldless RBM). They pass to the
    # network unchanged: the exporter folds c into the MAP thresholds and both into the Gibbs tables.
    fields = {}
    for key, size in (("visible_field", lam.shape[0]), ("hidden_field", lam.shape[1])):
        if key in arrays:
            value = np.asarray(arrays[key], dtype=np.float64)
            if value.shape != (size,):
                raise ValueError(f"RBM '{key}' must have shape ({size},), got {value.shape}")
            fields[key] = value
    return RBMNetwork(w, beta=beta, input=spec, gibbs_steps=int(gibbs_steps),
                      meta=_export_meta(meta, mode, seed), **fields)


def layer_weights(arrays: Mapping[str, np.ndarray], i: int, mode: str = "map", rng=None) -> np.ndarray:
    """Deployable int8 weights (out, in) of MLP layer ``i`` from ``layer{i}.lam``/``.logits``/``.weight``."""
    if f"layer{i}.lam" in arrays:
        lam = np.asarray(arrays[f"layer{i}.lam"])
        return map_weights(lam) if mode == "map" else sample_weights(lam, rng)
    if f"layer{i}.logits" in arrays:
        logits = np.asarray(arrays[f"layer{i}.logits"])
        return ternary_map(logits) if mode == "map" else ternary_sample(logits, rng)
    if f"layer{i}.weight" in arrays:
        # STE / real latent weights: the deployable weight is their sign (sign(0) = +1); nothing to sample.
        return np.where(np.asarray(arrays[f"layer{i}.weight"]) >= 0, 1, -1).astype(np.int8)
    raise ValueError(f"MLP posterior has no weights for layer {i}: expected 'layer{i}.lam', "
                     f"'layer{i}.logits' or 'layer{i}.weight'; found {sorted(arrays)}")


def mlp_network(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *, mode: str = "map",
                rng: np.random.Generator | None = None, bn_stats: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                calibration: np.ndarray | None = None, seed: int | None = None) -> MLPNetwork:
    """MLP posterior -> ``MLPNetwork`` (see the module docstring for the array names and the folding).

    Parameters
    ----------
    mode : {"map", "sample"}; rng : Generator for ``mode="sample"``
    bn_stats : one (mean, var) per layer, replacing the stored ``bn{i}.mean``/``bn{i}.var``
    calibration : uint8 images (M, ...), optional
        Re-estimate the BN statistics of *these* weights on these images
        (``lowprec_rbm.nn.network.population_stats``). The stored statistics are those of the trainer's
        deployable (MAP) network; a sampled network has different pre-activation statistics, so sampled
        networks should be calibrated.
    """
    rng = _rng(rng, mode)
    cfg = _config(meta)
    if cfg.get("rule") == "adam":
        raise ValueError("this MLP posterior holds real (full-precision) weights (rule 'adam'): there is no "
                         "±1/ternary network to export; train with rule bayesbinn, ste or ternary-vi")
    act = cfg.get("activation", "sign")
    if act != "sign":
        raise ValueError(f"cannot export an MLP with {act!r} activations: only sign activations map to "
                         "XNOR-popcount layers with integer thresholds; train with activation 'sign'")
    from lowprec_rbm.nn.schema import layout

    lay = layout(meta)   # the one reader of the architecture keys (old files: 'sizes'; new: 'layers')
    if lay.image_shape is not None or any(b["kind"] != "dense" for b in lay.blocks):
        raise ValueError("this posterior is a convolutional network: derive it with cnn_network")
    sizes = [int(lay.in_shape[0])] + [int(b["out"]) for b in lay.blocks]
    n_layers = len(sizes) - 1
    inp = cfg.get("input", "binary")
    eps = float(cfg.get("bn_eps", 1e-4))
    weights = []
    for i in range(n_layers):
        w = layer_weights(arrays, i, mode, rng)
        if w.shape != (sizes[i + 1], sizes[i]):
            raise ValueError(f"layer {i} weights have shape {w.shape}; config sizes {sizes} expect "
                             f"{(sizes[i + 1], sizes[i])}")
        weights.append(w)
    bn_source = "posterior" if bn_stats is None else "given"
    if calibration is not None:
        if bn_stats is not None:
            raise ValueError("give either bn_stats or calibration images, not both")
        bn_stats = _population_stats(weights, calibration, cfg, sizes, inp, eps)
        bn_source = "calibration"
    stats = []
    for i in range(n_layers):
        if bn_stats is not None:
            mean, var = (np.asarray(a, np.float64) for a in bn_stats[i])
        else:
            missing = [k for k in (f"bn{i}.mean", f"bn{i}.var") if k not in arrays]
            if missing:
                raise ValueError(f"MLP posterior lacks batch-norm statistics {missing}")
            mean, var = np.asarray(arrays[f"bn{i}.mean"], np.float64), np.asarray(arrays[f"bn{i}.var"], np.float64)
        if mean.shape != (sizes[i + 1],) or var.shape != (sizes[i + 1],):
            raise ValueError(f"bn{i} statistics must have shape ({sizes[i + 1]},), got {mean.shape} and {var.shape}")
        stats.append((mean, var, eps))
    if inp == "binary":
        spec = InputSpec("threshold", sizes[0], dtype="uint8",
                         threshold=float(pixel_threshold(cfg.get("threshold", 0.5))))
    elif inp in ("bitplanes", "real"):
        spec = InputSpec("bitplanes", sizes[0], dtype="uint8")
        if inp == "real":
            # Trained on pixel/255: y_trained = y_int / 255, so BN(y_trained) = BN'(y_int) with μ' = 255 μ,
            # v' = 255² v, eps' = 255² eps (a positive rescaling of (y - μ) / sqrt(v + eps)).
            m0, v0, e0 = stats[0]
            stats[0] = (255.0 * m0, 255.0**2 * v0, 255.0**2 * e0)
    else:
        raise ValueError(f"MLP config 'input' must be 'real', 'binary' or 'bitplanes', got {inp!r}")
    hidden = []
    for i in range(n_layers - 1):
        mean, var, e = stats[i]
        hidden.append((Dense(weights[i]), fold_batchnorm(mean, var, e, k=_fan_in_bound(spec, i, sizes))))
    mean, var, e = stats[-1]
    out = (Dense(weights[-1]), fold_output_batchnorm(mean, var, e, k=_fan_in_bound(spec, n_layers - 1, sizes)))
    # The real-valued batch norms travel with the integers: verify recomputes the network from them.
    real_bn = tuple(RealBatchNorm(m, v, e) for m, v, e in stats)
    # The label of each output unit (files written before classes were recorded: 0..n-1).
    classes = _int_classes(cfg, sizes[-1])
    return MLPNetwork(spec, tuple(hidden), out,
                      meta=_export_meta(meta, mode, seed) | {"batch_norm": bn_source, "classes": classes},
                      real_bn=real_bn)


def _int_classes(cfg: Mapping[str, Any], n_out: int) -> list[int]:
    """The output units' labels for an export, which records them as integers (the graph's label output is the
    unit index; readers map it through these)."""
    classes = list(cfg.get("classes", range(n_out)))
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        raise ValueError(f"an exported network records integer class labels; this posterior's classes are "
                         f"{classes[:5]}{'...' if len(classes) > 5 else ''}: train on integer labels (e.g. indices "
                         f"into your label list) to export it")
    return [int(c) for c in classes]


def _population_stats(weights, images, cfg, sizes, inp, eps):
    from lowprec_rbm.nn.network import Architecture, population_stats, prepare_inputs

    arch = Architecture(tuple(sizes), activation="sign", input=inp, threshold=float(cfg.get("threshold", 0.5)),
                        bn_eps=eps)
    x = prepare_inputs(np.asarray(images), inp, arch.threshold)
    if x.shape[0] < 2:
        raise ValueError(f"BN calibration needs at least 2 images, got {x.shape[0]}")
    return [(st.mean, st.var) for st in population_stats([w.astype(np.float32) for w in weights], x, arch)]


def _fan_in_bound(spec: InputSpec, i: int, sizes: Sequence[int]) -> int:
    """Largest |y| layer i can produce: its fan-in, times 255 for a bit-plane first layer."""
    return sizes[i] * (255 if i == 0 and spec.kind == "bitplanes" else 1)


def export_seed(mode: str, random_state: Any) -> int | None:
    """The ``seed`` argument of :func:`network_from_posterior` for an estimator's ``to_onnx(mode, random_state)``:
    None for ``mode="map"`` (no randomness, so a ``random_state`` is an error), else the int (default 0, the CLI's).
    """
    if mode not in ("map", "sample"):
        raise ValueError(f"mode must be 'map' or 'sample', got {mode!r}")
    if random_state is not None and mode != "sample":
        raise ValueError("random_state applies to mode='sample' only (MAP weights involve no randomness)")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral)
                                     or random_state < 0):
        raise TypeError(f"random_state must be an int >= 0, got {random_state!r}")
    if mode == "map":
        return None
    return 0 if random_state is None else int(random_state)


def posterior_to_onnx(source, path=None, *, mode: str = "map", random_state: Any = None,
                      standard_ops: bool = False, **kwargs):
    """The ONNX model ``lowprec export`` builds from a posterior (a path or an ``(arrays, meta)`` pair as the
    file holds it), written atomically to ``path`` when given; the one call behind every estimator's
    ``to_onnx``. ``kwargs`` go to :func:`network_from_posterior` (``gibbs_steps``, ``pixels``, ...)."""
    from export.onnx import build_model, save_model

    seed = export_seed(mode, random_state)
    network = network_from_posterior(source, mode=mode, seed=seed, **kwargs)
    model = build_model(network, mode="standard" if standard_ops else "custom")
    if path is not None:
        save_model(model, path)
    return model


def network_from_posterior(source, *, mode: str = "map", seed: int | None = None, gibbs_steps: int = 1,
                           **kwargs) -> RBMNetwork | MLPNetwork:
    """A posterior file path (or an ``(arrays, meta)`` pair) -> the deployable network of its kind.

    ``mode="sample"`` draws one network from ``numpy.random.default_rng(seed)``.
    """
    arrays, meta = _load(source)
    rng = np.random.default_rng(seed) if mode == "sample" else None
    return _convert(arrays, meta, mode, rng, seed, gibbs_steps, kwargs)


def ensemble_from_posterior(source, n_samples: int, *, seed: int | None = None, gibbs_steps: int = 1,
                            **kwargs) -> list[RBMNetwork | MLPNetwork]:
    """S networks sampled from one ``Generator(seed)`` (in order), for :func:`vote` / :func:`sum_scores`."""
    if int(n_samples) < 1:
        raise ValueError(f"an ensemble needs at least 1 sample, got {n_samples}")
    arrays, meta = _load(source)
    rng = np.random.default_rng(seed)
    nets = [_convert(arrays, meta, "sample", rng, seed, gibbs_steps, kwargs) for _ in range(int(n_samples))]
    for i, net in enumerate(nets):
        net.meta["sample_index"] = i  # member i of the ensemble drawn from Generator(seed), in order
    return nets


def network_for_artifact(source, artifact_net: RBMNetwork | MLPNetwork) -> RBMNetwork | MLPNetwork:
    """The network a posterior gives under the derivation an exported network records in its meta.

    Weights: MAP, or the sample (ensemble member ``sample_index``) drawn from ``Generator(seed)``; an RBM's
    input kind and Gibbs steps are taken from the artifact (they are export options, not posterior facts).
    Raises ValueError when the artifact's meta cannot say how it was derived, or when its batch norm was
    calibrated on data (then only the weights can be compared; see ``batch_norm`` in the meta).
    """
    arrays, meta = _load(source)
    am = dict(artifact_net.meta or {})
    mode = am.get("weights")
    if mode not in MODES:
        raise ValueError(f"the artifact does not record how its weights were derived (meta 'weights' is {mode!r})")
    if am.get("source_kind") != meta.get("kind"):
        raise ValueError(f"the artifact was exported from a posterior of kind {am.get('source_kind')!r}; "
                         f"this posterior is of kind {meta.get('kind')!r}")
    seed = am.get("seed")
    kw: dict[str, Any] = {}
    if isinstance(artifact_net, RBMNetwork):
        kw = {"gibbs_steps": artifact_net.gibbs_steps, "pixels": artifact_net.input.kind == "threshold"}
    if mode == "map":
        return _convert(arrays, meta, "map", None, None, kw.pop("gibbs_steps", 1), kw)
    if not isinstance(seed, int):
        raise ValueError(f"the artifact holds sampled weights but records no integer seed (got {seed!r})")
    rng = np.random.default_rng(seed)
    steps = kw.pop("gibbs_steps", 1)
    for _ in range(int(am.get("sample_index", 0))):
        _convert(arrays, meta, "sample", rng, seed, steps, kw)  # the members drawn before this one
    return _convert(arrays, meta, "sample", rng, seed, steps, kw)


def _load(source) -> tuple[dict, dict]:
    if isinstance(source, (str, os.PathLike)):
        from lowprec_rbm.posterior_file import load_posterior

        return load_posterior(source)
    if isinstance(source, tuple) and len(source) == 2:
        return dict(source[0]), dict(source[1])
    raise TypeError(f"expected a posterior file path or an (arrays, meta) pair, got {type(source).__name__}")


def _convert(arrays, meta, mode, rng, seed, gibbs_steps, kwargs):
    kind = meta.get("kind")
    if kind == "rbm":
        return rbm_network(arrays, meta, mode=mode, rng=rng, gibbs_steps=gibbs_steps, seed=seed, **kwargs)
    if kind == "mlp":
        return mlp_network(arrays, meta, mode=mode, rng=rng, seed=seed, **kwargs)
    if kind == "cnn":
        return cnn_network(arrays, meta, mode=mode, rng=rng, seed=seed, **kwargs)
    raise ValueError(f"cannot export a posterior of kind {kind!r}; expected 'rbm', 'mlp' or 'cnn'")


# ------------------------------------------------------------------------------------------ convolutional networks
def _pool_place(block: Mapping[str, Any]) -> str | bool:
    """Where a conv block's max-pool is deployed (``export.network.POOL_KINDS``), from its posterior spec."""
    if not block["pool"]:
        return False
    return "fields" if block.get("pool_before_bn", False) else "bits"


def cnn_network(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *, mode: str = "map",
                rng: np.random.Generator | None = None, seed: int | None = None):
    """CNN posterior (kind ``"cnn"``, :mod:`lowprec_rbm.nn.schema`) -> ``export.network.CNNNetwork``.

    Per conv block i: ``Conv2d(int8 weights (O, k, k, C), pad)``, its batch norm folded into a per-channel
    ``Threshold`` exactly as for dense layers (fan-in bound k·k·C, times 255 for a bit-plane first layer), and
    the pool (``"bits"``: 2x2 OR of bits after the sign; ``"fields"`` for a block with ``pool_before_bn``: the 2x2
    max of the int32 fields, whose batch norm -- computed on the pooled fields -- is the one folded); then the dense blocks as in :func:`mlp_network` (the first one's
    input is the flattened (row, column, channel) bit vector) and the output ``(Dense, OutputAffine)``.
    ``real_bn`` holds one RealBatchNorm per block in field units (``real`` input: the first one rescaled by 255 as
    in :func:`mlp_network`); the output units' labels come from config ``classes``.

    Needs ``export.network.CNNNetwork`` and ``Conv2d`` (the export half of issue 12); without them this raises
    ValueError naming what is missing (written against notes/conv_spec.md before that half existed).
    """
    import export.network as xn
    from lowprec_rbm.nn.schema import layout

    missing = [n for n in ("CNNNetwork", "Conv2d") if not hasattr(xn, n)]
    if missing:
        raise ValueError(f"export.network lacks {missing}: the export side of convolutional networks "
                                  "is not available in this version")
    rng = _rng(rng, mode)
    cfg = _config(meta)
    lay = layout(meta)
    if lay.image_shape is None:
        raise ValueError("this posterior has no image_shape: it is an MLP, derive it with mlp_network")
    if cfg.get("rule") == "adam":
        raise ValueError("this CNN posterior holds real (full-precision) weights (rule 'adam'): there is no "
                         "±1/ternary network to export; train with rule bayesbinn, ste or ternary-vi")
    if cfg.get("activation", "sign") != "sign":
        raise ValueError(f"cannot export a CNN with {cfg.get('activation')!r} activations: only sign activations "
                         "map to XNOR-popcount layers with integer thresholds; train with activation 'sign'")
    inp = cfg.get("input", "binary")
    eps = float(cfg.get("bn_eps", 1e-4))
    h, w, c = lay.image_shape
    if inp == "binary":
        spec = InputSpec("threshold", h * w * c, dtype="uint8",
                         threshold=float(pixel_threshold(cfg.get("threshold", 0.5))))
    elif inp in ("bitplanes", "real"):
        spec = InputSpec("bitplanes", h * w * c, dtype="uint8")
    else:
        raise ValueError(f"CNN config 'input' must be 'real', 'binary' or 'bitplanes', got {inp!r}")
    stats = []
    for i, shape in enumerate(lay.weight_shapes):
        missing = [k for k in (f"bn{i}.mean", f"bn{i}.var") if k not in arrays]
        if missing:
            raise ValueError(f"CNN posterior lacks batch-norm statistics {missing}")
        mean, var = np.asarray(arrays[f"bn{i}.mean"], np.float64), np.asarray(arrays[f"bn{i}.var"], np.float64)
        e = eps
        if i == 0 and inp == "real":
            mean, var, e = 255.0 * mean, 255.0**2 * var, 255.0**2 * eps   # see mlp_network
        stats.append((mean, var, e))
    features, hidden = [], []
    n = len(lay.blocks)
    for i, (block, shape) in enumerate(zip(lay.blocks, lay.weight_shapes)):
        wts = layer_weights(arrays, i, mode, rng)
        if wts.shape != tuple(shape):
            raise ValueError(f"block {i} weights have shape {wts.shape}; the config's layers expect {shape}")
        fan = int(np.prod(shape[1:])) * (255 if i == 0 and spec.kind == "bitplanes" else 1)
        mean, var, e = stats[i]
        if block["kind"] == "conv":
            features.append((xn.Conv2d(wts, int(block["pad"])), fold_batchnorm(mean, var, e, k=fan),
                             _pool_place(block)))
        elif i < n - 1:
            hidden.append((Dense(wts), fold_batchnorm(mean, var, e, k=fan)))
        else:
            output = (Dense(wts), fold_output_batchnorm(mean, var, e, k=fan))
    classes = _int_classes(cfg, lay.n_classes)
    return xn.CNNNetwork(spec, (h, w, c), tuple(features), tuple(hidden), output,
                         meta=_export_meta(meta, mode, seed) | {"batch_norm": "posterior", "classes": classes},
                         real_bn=tuple(RealBatchNorm(m, v, e) for m, v, e in stats))
