"""Random deployable networks for the targets tests (imported by tests/test_targets_*.py)."""
from __future__ import annotations

import numpy as np

from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold

INPUT_DTYPES = {"pm1": "int8", "threshold": "uint8", "bitplanes": "uint8"}


def random_mlp(rng: np.random.Generator, k: int, hidden: tuple[int, ...], n_classes: int, *, input_kind: str,
               ternary: bool, dtype: str | None = None, threshold: float = 128.0) -> MLPNetwork:
    """Random ±1 (or ternary, ~1/3 zeros) weights; thresholds with every sign case (s = -1, 0, +1)."""
    spec = InputSpec(input_kind, k, dtype=dtype or INPUT_DTYPES[input_kind], threshold=threshold)
    layers, fan_in = [], k
    for i, n in enumerate(hidden):
        w = rng.integers(-1, 2, (n, fan_in)) if ternary else rng.choice([-1, 1], (n, fan_in))
        bound = fan_in * (255 if (i == 0 and input_kind == "bitplanes") else 1)
        s = rng.integers(-1, 2, n)
        t = rng.integers(-max(1, bound // 8), max(1, bound // 8) + 1, n)
        layers.append((Dense(w), Threshold(s, t)))
        fan_in = n
    w = rng.integers(-1, 2, (n_classes, fan_in)) if ternary else rng.choice([-1, 1], (n_classes, fan_in))
    if ternary:
        w[0, 0] = 0  # make sure the layer really is ternary
    aff = OutputAffine(rng.integers(-4, 5, n_classes), rng.integers(-50, 51, n_classes))
    return MLPNetwork(spec, tuple(layers), (Dense(w), aff))


def random_rbm(rng: np.random.Generator, n: int, p: int, *, gibbs_steps: int, pixels: bool) -> RBMNetwork:
    spec = InputSpec("threshold", n, dtype="uint8", threshold=128.0) if pixels else None
    beta = float(rng.uniform(0.3, 2.0))
    return RBMNetwork(rng.choice([-1, 1], (n, p)), beta=beta, input=spec, gibbs_steps=gibbs_steps)


def resign(model):
    """Re-stamp an edited model as an exporter that wrote this exact content would have: the network digest
    of the weights it now holds (when they can be read back) and the content digest (``export.digest.seal``)."""
    from export.digest import NETWORK_DIGEST_KEY, network_digest, seal
    from export.onnx import network_from_onnx

    try:
        value = network_digest(network_from_onnx(model))
    except ValueError:   # the edit under test makes the network unreadable: leave that entry as it was
        value = None
    for p in model.metadata_props:
        if p.key == NETWORK_DIGEST_KEY and value is not None:
            p.value = value
    return seal(model)


def flip_weight_bit(model, name: str, row: int, unit: int):
    """Flip weight bit ``unit`` of row ``row`` in packed initializer ``name`` (in place) and re-sign."""
    from onnx import numpy_helper

    for t in model.graph.initializer:
        if t.name == name:
            arr = numpy_helper.to_array(t).copy()
            arr[row, unit // 64] ^= np.uint64(1) << np.uint64(unit % 64)
            t.CopyFrom(numpy_helper.from_array(arr, name))
            return resign(model)
    raise KeyError(name)
