"""The byte formats between Python and the device harness (``targets/csrc/lowprec_harness.c``).

Input: ``b"LPIN"``, uint32 B, then per row [uint32 seed (RBM)] [N input elements, little-endian].
Output: per row, every graph output in ``export.onnx.output_names`` order, raw little-endian: int32
fields, int64 class scores, packed bits as uint64 words (a row of n bits is ceil(n/64) words whatever word width the device
computed in), uint32 thresholds, float32 probabilities, int64 label; then ``b"LPOK"``, uint32 B.
The deployed predict-only build (``MODEL_PREDICT_ONLY``, MLP and CNN) writes per row only what ``predict()``
exposes (:func:`predict_layout`): the output layer's int32 fields and the int64 label.
"""
from __future__ import annotations

import numpy as np

from export.network import CNNNetwork, MLPNetwork, RBMNetwork

__all__ = ["output_layout", "predict_layout", "input_dtype", "encode_inputs", "decode_outputs", "MAGIC_IN",
           "MAGIC_OK"]

MAGIC_IN = b"LPIN"
MAGIC_OK = b"LPOK"


def _w64(n: int) -> int:
    return -(-n // 64)


def output_layout(net: MLPNetwork | RBMNetwork) -> list[tuple[str, np.dtype, tuple[int, ...]]]:
    """(name, dtype, per-row shape) of every graph output, in the order the harness writes them."""
    i32, u32, u64 = np.dtype("<i4"), np.dtype("<u4"), np.dtype("<u8")
    out: list[tuple[str, np.dtype, tuple[int, ...]]] = []
    if isinstance(net, MLPNetwork):
        if net.input.kind != "bitplanes":
            out.append(("xp", u64, (_w64(net.input.size),)))
        for i, d in enumerate(net.layers):
            out.append((f"y{i}", i32, (d.shape[0],)))
            if i < len(net.hidden):
                out.append((f"h{i}", u64, (_w64(d.shape[0]),)))
        n_cls = net.layers[-1].shape[0]
        out += [("scores", np.dtype("<i8"), (n_cls,)), ("label", np.dtype("<i8"), ())]
        return out
    if isinstance(net, CNNNetwork):
        # per-pixel packed activations: H x W pixels of ceil(C/64) words each (the ONNX [B, H, W, Wc] outputs)
        shapes = net.feature_shapes()
        h, w, c = shapes[0]
        if net.input.kind != "bitplanes":
            out.append(("xp", u64, (h, w, _w64(c))))
        for i, (conv, _, pool) in enumerate(net.features):
            h, w, _ = shapes[i]
            o = conv.out_channels
            out.append((f"y{i}", i32, (h, w, o)))
            if pool == "fields":    # pooled int32 fields, then the bits at the pooled size
                out += [(f"m{i}", i32, (h // 2, w // 2, o)), (f"h{i}", u64, (h // 2, w // 2, _w64(o)))]
                continue
            out.append((f"h{i}", u64, (h, w, _w64(o))))
            if pool:
                out.append((f"p{i}", u64, (h // 2, w // 2, _w64(o))))
        h, w, c = shapes[-1]
        out.append(("flat", u64, (_w64(h * w * c),)))
        n_conv = len(net.features)
        dense = [d for d, _ in net.hidden] + [net.output[0]]
        for j, d in enumerate(dense, start=n_conv):
            out.append((f"y{j}", i32, (d.shape[0],)))
            if j < n_conv + len(net.hidden):
                out.append((f"h{j}", u64, (_w64(d.shape[0]),)))
        out += [("scores", np.dtype("<i8"), (dense[-1].shape[0],)), ("label", np.dtype("<i8"), ())]
        return out
    if isinstance(net, RBMNetwork):
        n, p = net.weight.shape
        out += [("vp", u64, (_w64(n),)), ("hidden_field", i32, (p,)), ("hidden_bits", u64, (_w64(p),)),
                ("hidden_prob", np.dtype("<f4"), (p,)), ("visible_field", i32, (n,))]
        for t in range(net.gibbs_steps):
            if t:
                out.append((f"gibbs_hfield_{t}", i32, (p,)))
            out += [(f"gibbs_hthr_{t}", u32, (p,)), (f"gibbs_h_{t}", u64, (_w64(p),)),
                    (f"gibbs_vfield_{t}", i32, (n,)), (f"gibbs_vthr_{t}", u32, (n,)),
                    (f"gibbs_v_{t + 1}", u64, (_w64(n),))]
        return out
    raise TypeError(f"expected MLPNetwork, CNNNetwork or RBMNetwork, got {type(net).__name__}")


def predict_layout(net: MLPNetwork | CNNNetwork) -> list[tuple[str, np.dtype, tuple[int, ...]]]:
    """(name, dtype, per-row shape) of what the predict-only harness writes: the output layer's int32 fields
    (the last ``y`` output of :func:`output_layout`, which ``predict()`` leaves in its int32 scratch) and the
    label, named as the graph outputs they equal."""
    if not isinstance(net, (MLPNetwork, CNNNetwork)):
        raise TypeError(f"predict builds are for MLPNetwork and CNNNetwork, got {type(net).__name__}")
    full = output_layout(net)
    fields = [o for o in full if o[0].startswith("y")][-1]
    return [fields, next(o for o in full if o[0] == "label")]


def input_dtype(net: MLPNetwork | RBMNetwork) -> np.dtype:
    """numpy dtype of the raw input rows (``x`` of an MLP, ``v`` of an RBM)."""
    return np.dtype({"int8": "i1", "uint8": "u1", "float32": "<f4"}[net.input.dtype])


def encode_inputs(net: MLPNetwork | RBMNetwork, feeds: dict[str, np.ndarray]) -> tuple[bytes, int]:
    """Harness input bytes and the batch size B from graph feeds (``x``; or ``v`` and, with Gibbs steps, ``seeds``)."""
    if not isinstance(feeds, dict):
        raise TypeError(f"feeds must be a dict of graph input name -> array, got {type(feeds).__name__}")
    name = "v" if isinstance(net, RBMNetwork) else "x"
    if name not in feeds:
        raise ValueError(f"feeds must contain the graph input {name!r}; got {sorted(feeds)}")
    x = np.asarray(feeds[name])
    want = input_dtype(net)
    if x.dtype != want.newbyteorder("=") and x.dtype != want:
        raise TypeError(f"input {name!r} must have dtype {want.name} for this model, got {x.dtype}")
    if x.ndim != 2 or x.shape[1] != net.input.size:
        raise ValueError(f"input {name!r} must have shape (B, {net.input.size}), got {x.shape}")
    b = x.shape[0]
    rows = np.ascontiguousarray(x.astype(want, copy=False)).view(np.uint8).reshape(b, -1)
    if isinstance(net, RBMNetwork):
        if "seeds" not in feeds and net.gibbs_steps:
            raise ValueError("an RBM with Gibbs steps needs the graph input 'seeds' (uint32, one per row)")
        # without Gibbs steps the graph has no seeds input and the harness reads (and ignores) zero seeds
        seeds = np.asarray(feeds["seeds"]) if net.gibbs_steps else np.zeros(b, np.uint32)
        if seeds.dtype != np.uint32 or seeds.shape != (b,):
            raise TypeError(f"seeds must be uint32 of shape ({b},), got {seeds.dtype} {seeds.shape}")
        rows = np.concatenate([seeds.astype("<u4").view(np.uint8).reshape(b, 4), rows], axis=1)
    header = MAGIC_IN + np.uint32(b).astype("<u4").tobytes()
    return header + rows.tobytes(), b


def decode_outputs(net: MLPNetwork | RBMNetwork, data: bytes, b: int, where: str = "device",
                   predict_only: bool = False) -> dict[str, np.ndarray]:
    """Parse the harness output of ``b`` rows into arrays (B, ...) named as the ONNX outputs (``predict_only``:
    the deployed build's output, :func:`predict_layout`)."""
    layout = predict_layout(net) if predict_only else output_layout(net)
    dt = np.dtype([(name, dtype, shape) for name, dtype, shape in layout])
    body = b * dt.itemsize
    if len(data) != body + 8 or data[body:body + 4] != MAGIC_OK:
        raise RuntimeError(f"{where}: expected {body} bytes of outputs for {b} rows plus the LPOK trailer, "
                           f"got {len(data)} bytes")
    if int(np.frombuffer(data, "<u4", 1, body + 4)[0]) != b:
        raise RuntimeError(f"{where}: trailer row count differs from the {b} rows sent")
    rec = np.frombuffer(data, dt, b)
    out = {}
    for name, dtype, _ in layout:
        arr = np.ascontiguousarray(rec[name]).astype(dtype.newbyteorder("="), copy=False)
        out[name] = arr.reshape((b,) + arr.shape[1:])
    return out
