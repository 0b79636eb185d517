"""Small networks and inputs shared by the device tests (every kernel path, K never a multiple of 32/64)."""
from __future__ import annotations

import numpy as np

from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold
from targets_nets import random_cnn


def _pm(rng, shape):
    return rng.choice(np.array([-1, 1], np.int8), shape)


def _tern(rng, shape, p_zero=0.3):
    return np.where(rng.random(shape) < p_zero, 0, _pm(rng, shape)).astype(np.int8)


def _thr(rng, n, k, scale=1):
    # signs in {-1, 0, +1}; thresholds spread over the reachable fields, so bits vary
    return Threshold(rng.integers(-1, 2, n), rng.integers(-(k * scale) // 4, (k * scale) // 4 + 1, n))


def _thr_extremes(rng, n, k):
    """Like _thr, with int32 extremes in t for each sign (constant bits, and the -y / int32 edge)."""
    s = rng.integers(-1, 2, n)
    t = rng.integers(-k // 4, k // 4 + 1, n).astype(np.int64)
    s[:6] = [1, 1, -1, -1, 0, 0]
    t[:6] = [-2**31, 2**31 - 1, -2**31, 2**31 - 1, -2**31, 2**31 - 1]
    return Threshold(s, t)


def device_models() -> dict:
    """name -> network. Together they reach every C kernel: ±1 / ternary / bit-plane (binary and ternary)
    gemv, uint8 / float32 / ±1 input packing, threshold signs -1/0/+1, no hidden layer, output affine,
    RBM fields, MAP bits, probabilities and Gibbs steps."""
    rng = np.random.default_rng(20240611)
    return {
        "mlp_binary_u8": MLPNetwork(
            InputSpec("threshold", 100, "uint8", threshold=127.5),
            [(Dense(_pm(rng, (33, 100))), _thr(rng, 33, 100)), (Dense(_pm(rng, (64, 33))), _thr(rng, 64, 33))],
            (Dense(_pm(rng, (10, 64))), OutputAffine(rng.integers(-3, 4, 10), rng.integers(-20, 21, 10)))),
        "mlp_ternary_pm1": MLPNetwork(
            InputSpec("pm1", 70, "int8"),
            [(Dense(_tern(rng, (65, 70))), _thr_extremes(rng, 65, 70))],
            (Dense(_tern(rng, (7, 65))), OutputAffine.identity(7))),
        "mlp_bitplane_ternary": MLPNetwork(
            InputSpec("bitplanes", 70, "uint8"),
            [(Dense(_tern(rng, (40, 70))), _thr(rng, 40, 70, scale=64)), (Dense(_pm(rng, (9, 40))), _thr(rng, 9, 40))],
            (Dense(_pm(rng, (5, 9))), OutputAffine(rng.integers(1, 5, 5), rng.integers(-3, 4, 5)))),
        "mlp_bitplane_binary_nohidden": MLPNetwork(
            InputSpec("bitplanes", 45, "uint8"), [],
            (Dense(_pm(rng, (6, 45))), OutputAffine(rng.integers(1, 3, 6), rng.integers(-50, 51, 6)))),
        "mlp_float_threshold": MLPNetwork(
            InputSpec("threshold", 50, "float32", threshold=0.25),
            [(Dense(_pm(rng, (20, 50))), _thr(rng, 20, 50))],
            (Dense(_tern(rng, (4, 20))), OutputAffine.identity(4))),
        # conv networks (kept within Cortex-M0's 16 KiB RAM: the harness keeps every intermediate): XNOR and
        # ternary conv with pad +1 and -1, pixel conv binary and ternary, OR-pool, flatten, per-pixel words
        # crossing a word (66 channels)
        "cnn_u8_pool_c66": random_cnn(rng, (6, 6, 3), ((20, 3, True), (66, 1, False)), (10,), 5,
                                      input_kind="threshold"),
        "cnn_bitplane_ternary_k5": random_cnn(rng, (4, 4, 2), ((9, 5, True), (7, 3, False)), (), 4,
                                              input_kind="bitplanes", ternary=True),
        "cnn_f32_pm1_pad_minus": random_cnn(rng, (5, 5, 1), ((8, 3, False),), (), 4, input_kind="threshold",
                                            dtype="float32", threshold=0.25, pad=-1),
        "cnn_pm1_c33": random_cnn(rng, (4, 4, 33), ((5, 3, True),), (8,), 3, input_kind="pm1"),
        "cnn_bitplane_binary": random_cnn(rng, (4, 6, 1), ((6, 3, True),), (8,), 3, input_kind="bitplanes"),
        "rbm_pm1_gibbs2": RBMNetwork(_pm(rng, (75, 33)), beta=1.3, gibbs_steps=2),
        "rbm_float_gibbs1": RBMNetwork(_pm(rng, (40, 70)), beta=0.8, gibbs_steps=1,
                                       input=InputSpec("threshold", 40, "float32", threshold=0.5)),
        # conv -> max-pool of the int32 fields -> threshold (pool "fields"), ternary ±1 conv then an OR-pool
        # layer, and a bit-plane first conv pooling its fields
        "cnn_u8_fields_ternary": random_cnn(rng, (8, 8, 2), ((12, 3, "fields"), (7, 3, "bits")), (9,), 4,
                                            input_kind="threshold", ternary=True),
        "cnn_bitplane_fields": random_cnn(rng, (4, 4, 1), ((6, 3, "fields"),), (), 3, input_kind="bitplanes"),
    }


def device_feeds(net, rows: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs with the edge cases: values exactly at the threshold, 0/255 pixels, -0.0, ±inf, NaN, extreme seeds."""
    rng = np.random.default_rng(seed)
    k = net.input.size
    spec = net.input
    if spec.kind == "pm1":
        x = _pm(rng, (rows, k))
    elif spec.dtype == "uint8":
        x = rng.integers(0, 256, (rows, k), dtype=np.uint8)
        edges = np.array([0, 255, 127, 128, 1, 254], np.uint8)
        x[rng.random((rows, k)) < 0.2] = rng.choice(edges)
    else:
        t = np.float32(spec.threshold)
        x = (t + rng.standard_normal((rows, k))).astype(np.float32)
        special = np.array([t, t, -0.0, 0.0, np.inf, -np.inf, np.nan, np.nextafter(t, np.float32(0))], np.float32)
        mask = rng.random((rows, k)) < 0.2
        x[mask] = rng.choice(special, int(mask.sum()))
    if not isinstance(net, RBMNetwork):
        return {"x": x}
    if not net.gibbs_steps:
        return {"v": x}   # no Gibbs steps: the graph takes no seeds
    seeds = rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32)
    seeds[0] = 0
    if rows > 1:
        seeds[1] = 0xFFFFFFFF
    return {"v": x, "seeds": seeds}
