"""Random deployable networks for the targets tests (imported by tests/test_targets_*.py)."""
from __future__ import annotations

import numpy as np

from export.network import CNNNetwork, Conv2d, Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold

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


def random_cnn(rng: np.random.Generator, image: tuple[int, int, int], convs: tuple[tuple[int, int, bool], ...],
               hidden: tuple[int, ...], n_classes: int, *, input_kind: str, ternary: bool = False,
               dtype: str | None = None, threshold: float = 128.0, pad: int | None = None) -> CNNNetwork:
    """Random conv blocks ``convs`` = ((out channels, k, pool), ...), then dense layers as :func:`random_mlp`.

    Pads: a ±1 layer pads with a random ±1 (both rules occur), a bit-plane first layer with pixel 0 (or ``pad``).
    Thresholds cover every sign case and sit inside the field range so bits really vary.
    """
    h, w, c = image
    spec = InputSpec(input_kind, h * w * c, dtype=dtype or INPUT_DTYPES[input_kind], threshold=threshold)
    feats = []
    for i, (o, k, pool) in enumerate(convs):
        wt = rng.integers(-1, 2, (o, k, k, c)) if ternary else rng.choice([-1, 1], (o, k, k, c))
        if ternary:
            wt[0, 0, 0, 0] = 0
        pixels = i == 0 and input_kind == "bitplanes"
        p = (0 if pad is None else pad) if pixels else (int(rng.choice([-1, 1])) if pad is None else pad)
        # Fields of random inputs: ±1 products sum to ~N(0, k k c); uniform pixels to ~N(127.5 Σ_o w, 74² k k c)
        # (74 ~ the std of a uniform 0..255 value). Thresholds within one std of the centre keep both bits common.
        spread = max(1, int(np.sqrt(k * k * c) * (74 if pixels else 1)))
        centre = (127.5 * wt.reshape(o, -1).sum(axis=1)).astype(np.int64) if pixels else 0
        s = rng.integers(-1, 2, o)
        t = s * centre + rng.integers(-spread, spread + 1, o)
        feats.append((Conv2d(wt, p), Threshold(s, t), pool))
        c = o
        if pool:
            h, w = h // 2, w // 2
    fan_in = h * w * c
    layers = []
    for n in hidden:
        wd = rng.integers(-1, 2, (n, fan_in)) if ternary else rng.choice([-1, 1], (n, fan_in))
        s = rng.integers(-1, 2, n)
        spread = max(1, int(np.sqrt(fan_in)))
        t = rng.integers(-spread, spread + 1, n)
        layers.append((Dense(wd), Threshold(s, t)))
        fan_in = n
    wo = rng.integers(-1, 2, (n_classes, fan_in)) if ternary else rng.choice([-1, 1], (n_classes, fan_in))
    # offsets of the size of typical fields (~ sqrt(fan-in) for random ±1 products), so several classes win
    spread = int(np.sqrt(fan_in))
    aff = OutputAffine(rng.integers(1, 5, n_classes), rng.integers(-spread, spread + 1, n_classes))
    return CNNNetwork(spec, image, tuple(feats), tuple(layers), (Dense(wo), aff))
