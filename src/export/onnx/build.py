"""Graph builder: MLPNetwork / CNNNetwork / RBMNetwork -> onnx.ModelProto (docs/ops.md).

Mode ``custom``: ``lowprec`` nodes plus their model-local FunctionProtos. Mode ``standard``: the same bodies
inlined into the main graph (``onnx.inliner``), no custom domain. Weights are packed uint64 initializers;
every intermediate is a named graph output (``export.onnx.names``); ``metadata_props`` carry bit layout v1,
the producer, the model kind, the config (JSON), the export mode, the network digest and, last, the seal
(``export.digest``: content digest, optional HMAC signature) checked on load.
"""
from __future__ import annotations

import dataclasses
import json
from importlib import metadata as _md

import numpy as np
import onnx
import onnx.inliner
from onnx import TensorProto, helper, numpy_helper

from export.digest import DIGEST_KEY, NETWORK_DIGEST_KEY, network_digest, seal
from export.layout import METADATA, pack_pm1, pack_ternary
from export.network import CNNNetwork, MLPNetwork, RBMNetwork, pool_to_json, rbm_compact_tables, rbm_tables

from . import ops
from .names import PRODUCER, output_names

__all__ = ["build_model", "IR_VERSION", "MODES", "DIGEST_KEY", "accumulator_for"]

IR_VERSION = 10
MODES = ("custom", "standard")
_F32_EXACT = 2**24  # every integer of magnitude <= 2^24 is exact in float32

_INPUT_DTYPES = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "float32": TensorProto.FLOAT}


def _version() -> str:
    try:
        return _md.version("lowprec-rbm")
    except _md.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def accumulator_for(bounds) -> str:
    """``"float32"`` when every gemm partial-sum bound is <= 2^24 (exact), else ``"float64"``."""
    return "float32" if max(bounds) <= _F32_EXACT else "float64"


def _gemm_bound(k: int, bitplanes: bool) -> int:
    # packed gemm body: Σ_k x_k w_k over ±1 values, |partial sums| <= K; bit-plane body: Σ pixel * w, pixels <= 255.
    return 255 * k if bitplanes else k


class _Graph:
    """Accumulates nodes, initializers and (output name, dtype, shape) of one main graph."""

    def __init__(self) -> None:
        self.nodes, self.inits, self.outputs, self.used = [], [], [], []

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def lowprec(self, op: str, inputs, output: str, dtype: int, shape, **attrs) -> str:
        self.nodes.append(ops.make_node(op, inputs, [output], **attrs))
        if op not in self.used:
            self.used.append(op)
        self.outputs.append(helper.make_tensor_value_info(output, dtype, shape))
        return output

    def std(self, op: str, inputs, output: str, dtype: int | None, shape, **attrs) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        if dtype is not None:
            self.outputs.append(helper.make_tensor_value_info(output, dtype, shape))
        return output


def _words(n: int) -> int:
    return -(-n // 64)


def _gemm(g: _Graph, x: str, dense, name: str, k: int, out: str, bitplanes: bool) -> str:
    """Add one binary/ternary gemm node with its packed weight initializer(s) ``name``/``name_sign, _mask``."""
    n = dense.shape[0]
    if dense.ternary:
        sign, mask = pack_ternary(dense.weight)
        ins = [x, g.init(f"{name}_sign", sign), g.init(f"{name}_mask", mask)]
        op = "TernaryBitplaneGemm" if bitplanes else "TernaryPopcountGemm"
    else:
        ins = [x, g.init(name, pack_pm1(dense.weight))]
        op = "BitplaneGemm" if bitplanes else "XnorPopcountGemm"
    return g.lowprec(op, ins, out, TensorProto.INT32, ["batch", n], K=k)


def _input_threshold(spec) -> float:
    return 0.0 if spec.kind == "pm1" else float(spec.threshold)


def _build_mlp(net: MLPNetwork, g: _Graph) -> tuple[list, dict]:
    spec = net.input
    x_info = helper.make_tensor_value_info("x", _INPUT_DTYPES[spec.dtype], ["batch", spec.size])
    bitplanes = spec.kind == "bitplanes"
    cur, k = "x", spec.size
    if not bitplanes:
        cur = g.lowprec("BinarizePack", ["x"], "xp", TensorProto.UINT64, ["batch", _words(k)],
                        K=k, threshold=_input_threshold(spec))
    layers, bounds = [], []
    for i, (dense, thr) in enumerate(net.hidden):
        first_bp = bitplanes and i == 0
        y = _gemm(g, cur, dense, f"w{i}", k, f"y{i}", first_bp)
        n = dense.shape[0]
        cur = g.lowprec("ThresholdSign", [y, g.init(f"s{i}", thr.s), g.init(f"t{i}", thr.t)], f"h{i}",
                        TensorProto.UINT64, ["batch", _words(n)], N=n)
        layers.append({"in": k, "out": n, "ternary": dense.ternary})
        bounds.append(_gemm_bound(k, first_bp))
        k = n
    dense, aff = net.output
    last = len(net.hidden)
    first_bp = bitplanes and last == 0
    y = _gemm(g, cur, dense, f"w{last}", k, f"y{last}", first_bp)
    layers.append({"in": k, "out": dense.shape[0], "ternary": dense.ternary})
    bounds.append(_gemm_bound(k, first_bp))
    c = dense.shape[0]
    _scores_and_label(g, y, aff, c)
    config = {"input": dataclasses.asdict(spec), "layers": layers, "n_classes": c,
              "classes": list(net.class_labels), "accumulator": accumulator_for(bounds),
              "output_frac_bits": aff.frac_bits,
              "real_bn": None if net.real_bn is None else [r.to_json() for r in net.real_bn]}
    return [x_info], config


def _scores_and_label(g: _Graph, y: str, aff, c: int) -> None:
    """``scores`` = int64(y) * out_scale + out_offset and ``label`` = its first argmax."""
    # Scores in int64: |scale| |y| + |offset| <= 2^53 (export.network.fold_output_batchnorm).
    # CastLike to the int64 scale, not Cast(to=INT64): tract 0.23.9 types a Cast to int64 as a shape
    # dimension (TDim) and then cannot type the ArgMax over it; CastLike is the same widening in both runtimes.
    scale = g.init("out_scale", aff.scale)
    y64 = g.std("CastLike", [y, scale], "_y64", None, None)
    scaled = g.std("Mul", [y64, scale], "_scaled", None, None)
    scores = g.std("Add", [scaled, g.init("out_offset", aff.offset)], "scores", TensorProto.INT64, ["batch", c])
    g.std("ArgMax", [scores], "label", TensorProto.INT64, ["batch"], axis=1, keepdims=0, select_last_index=0)


def _conv(g: _Graph, x: str, conv, name: str, hwc: tuple[int, int, int], out: str, pixels: bool) -> str:
    """One conv node with its packed weight initializer(s) (O, k, k, ceil(C/64)) words per (o, di, dj)."""
    h, w, c = hwc
    shape = ["batch", h, w, conv.out_channels]
    attrs = {"C": c, "kernel": conv.kernel, "pad": conv.pad}
    if pixels:
        attrs.update(H=h, W=w)
    if conv.ternary:
        sign, mask = pack_ternary(conv.weight)
        ins = [x, g.init(f"{name}_sign", sign), g.init(f"{name}_mask", mask)]
        op = "TernaryBitplaneConv" if pixels else "TernaryPopcountConv"
    else:
        ins = [x, g.init(name, pack_pm1(conv.weight))]
        op = "BitplaneConv" if pixels else "XnorPopcountConv"
    return g.lowprec(op, ins, out, TensorProto.INT32, shape, **attrs)


def _build_cnn(net: CNNNetwork, g: _Graph) -> tuple[list, dict]:
    """x [B, H*W*C] -> PackPixels (or a bit-plane first conv) -> per conv block: conv ``y{i}``,
    ThresholdSignPixels ``h{i}``, MaxPoolBits ``p{i}`` (pool "bits"), or conv ``y{i}``, MaxPoolFields ``m{i}``,
    ThresholdSignPixels ``h{i}`` (pool "fields") -> FlattenBits ``flat`` -> dense layers as in an MLP."""
    spec = net.input
    bounds = net.conv_field_bounds()
    if max(bounds) > _F32_EXACT:
        i = int(np.argmax(bounds))
        raise ValueError(f"conv layer {i} fields can reach {bounds[i]}, beyond 2^24: the ONNX Conv in its "
                         f"function body runs in float32 and would not be exact (use fewer input channels)")
    x_info = helper.make_tensor_value_info("x", _INPUT_DTYPES[spec.dtype], ["batch", spec.size])
    pixels = spec.kind == "bitplanes"
    h, w, c = net.image_shape
    cur = "x"
    if not pixels:
        cur = g.lowprec("PackPixels", ["x"], "xp", TensorProto.UINT64, ["batch", h, w, _words(c)],
                        H=h, W=w, C=c, threshold=_input_threshold(spec))
    features = []
    for i, (conv, thr, pool) in enumerate(net.features):
        y = _conv(g, cur, conv, f"w{i}", (h, w, c), f"y{i}", pixels and i == 0)
        o = conv.out_channels
        if pool == "fields":    # conv -> max-pool -> BN -> sign: pool the int32 fields, then threshold
            h, w = h // 2, w // 2
            y = g.lowprec("MaxPoolFields", [y], f"m{i}", TensorProto.INT32, ["batch", h, w, o])
        cur = g.lowprec("ThresholdSignPixels", [y, g.init(f"s{i}", thr.s), g.init(f"t{i}", thr.t)], f"h{i}",
                        TensorProto.UINT64, ["batch", h, w, _words(o)], N=o)
        features.append({"in": c, "out": o, "k": conv.kernel, "pad": conv.pad, "pool": pool_to_json(pool),
                         "ternary": conv.ternary})
        if pool == "bits":
            h, w = h // 2, w // 2
            cur = g.lowprec("MaxPoolBits", [cur], f"p{i}", TensorProto.UINT64, ["batch", h, w, _words(o)])
        c = o
    k = h * w * c
    cur = g.lowprec("FlattenBits", [cur], "flat", TensorProto.UINT64, ["batch", _words(k)], C=c, K=k)
    layers, dense_bounds = [], []
    n_conv = len(net.features)
    for j, (dense, thr) in enumerate(net.hidden, start=n_conv):
        n = dense.shape[0]
        y = _gemm(g, cur, dense, f"w{j}", k, f"y{j}", False)
        cur = g.lowprec("ThresholdSign", [y, g.init(f"s{j}", thr.s), g.init(f"t{j}", thr.t)], f"h{j}",
                        TensorProto.UINT64, ["batch", _words(n)], N=n)
        layers.append({"in": k, "out": n, "ternary": dense.ternary})
        dense_bounds.append(k)
        k = n
    dense, aff = net.output
    last = n_conv + len(net.hidden)
    y = _gemm(g, cur, dense, f"w{last}", k, f"y{last}", False)
    layers.append({"in": k, "out": dense.shape[0], "ternary": dense.ternary})
    dense_bounds.append(k)
    _scores_and_label(g, y, aff, dense.shape[0])
    config = {"input": dataclasses.asdict(spec), "image_shape": list(net.image_shape), "features": features,
              "layers": layers, "n_classes": dense.shape[0], "classes": list(net.class_labels),
              "accumulator": accumulator_for(dense_bounds), "output_frac_bits": aff.frac_bits,
              "real_bn": None if net.real_bn is None else [r.to_json() for r in net.real_bn]}
    return [x_info], config


def _build_rbm(net: RBMNetwork, g: _Graph) -> tuple[list, dict]:
    spec = net.input
    n, p = net.n_visible, net.n_hidden
    inputs = [helper.make_tensor_value_info("v", _INPUT_DTYPES[spec.dtype], ["batch", n])]
    if net.gibbs_steps:  # the PRNG seeds feed the Gibbs steps only; a MAP-only graph takes no seeds
        inputs.append(helper.make_tensor_value_info("seeds", TensorProto.UINT32, ["batch"]))
    tables = rbm_tables(net)
    xi_t = g.init("xi_T", pack_pm1(net.weight.T))   # (P, ceil(N/64)): hidden fields X = σ ξ
    xi = g.init("xi", pack_pm1(net.weight))         # (N, ceil(P/64)): visible fields Y = ξ h
    U64, I32 = TensorProto.UINT64, TensorProto.INT32
    vp = g.lowprec("BinarizePack", ["v"], "vp", U64, ["batch", _words(n)], K=n, threshold=_input_threshold(spec))
    hf = g.lowprec("XnorPopcountGemm", [vp, xi_t], "hidden_field", I32, ["batch", p], K=n)
    # Hidden fields c fold into the MAP thresholds (export.network.RBMNetwork.map_thresholds); a side with fields
    # has one table row per unit, stored compactly (export.network.rbm_compact_tables) and read by
    # UnitFieldTableCompact, or whole and read by UnitFieldTable (net.unit_tables == "full": files from before
    # compact tables); the other side keeps FieldTable and its shared table.
    compact = net.unit_tables == "compact"
    unit_op = "UnitFieldTableCompact" if compact else "UnitFieldTable"
    h_op = unit_op if net.hidden_field is not None else "FieldTable"
    v_op = unit_op if net.visible_field is not None else "FieldTable"
    if net.has_fields and max(p * (n + 1), n * (p + 1)) >= 2**31:
        raise ValueError(f"per-unit RBM tables of {p} x {n + 1} / {n} x {p + 1} entries exceed int32 indexing")
    small = rbm_compact_tables(net) if compact else {}

    def table(name: str) -> list[str]:
        """The table operands of ``name``, each initializer made once: every Gibbs step reads the same ones."""
        if name not in small:
            return [g.init(name, tables[name])]
        ct = small[name]
        return [g.init(name, ct.values)] + [g.init(f"{name}_{part}", getattr(ct, part)) for part in ("lo", "hi", "off")]

    hb = g.lowprec("ThresholdSign", [hf, g.init("map_s", np.ones(p, np.int8)), g.init("map_t", net.map_thresholds)],
                   "hidden_bits", U64, ["batch", _words(p)], N=p)
    g.lowprec(h_op, [hf] + table("p_hidden"), "hidden_prob", TensorProto.FLOAT, ["batch", p], K=n)
    g.lowprec("XnorPopcountGemm", [hb, xi], "visible_field", I32, ["batch", n], K=p)
    t_hidden = table("t_hidden") if net.gibbs_steps else []
    t_visible = table("t_visible") if net.gibbs_steps else []
    v = vp
    for t in range(net.gibbs_steps):
        f = hf if t == 0 else g.lowprec("XnorPopcountGemm", [v, xi_t], f"gibbs_hfield_{t}", I32, ["batch", p], K=n)
        thr = g.lowprec(h_op, [f] + t_hidden, f"gibbs_hthr_{t}", TensorProto.UINT32, ["batch", p], K=n)
        h = g.lowprec("BernoulliSample", [thr, "seeds"], f"gibbs_h_{t}", U64, ["batch", _words(p)], N=p, stream=2 * t)
        f = g.lowprec("XnorPopcountGemm", [h, xi], f"gibbs_vfield_{t}", I32, ["batch", n], K=p)
        thr = g.lowprec(v_op, [f] + t_visible, f"gibbs_vthr_{t}", TensorProto.UINT32, ["batch", n], K=p)
        v = g.lowprec("BernoulliSample", [thr, "seeds"], f"gibbs_v_{t + 1}", U64, ["batch", _words(n)],
                      N=n, stream=2 * t + 1)
    config = {"input": dataclasses.asdict(spec), "n_visible": n, "n_hidden": p, "beta": float(net.beta),
              "gibbs_steps": int(net.gibbs_steps), "accumulator": accumulator_for([_gemm_bound(max(n, p), False)])}
    # The real fields define the tables and thresholds; JSON keeps float64 exactly (repr round trip). Written
    # only when present, so a fieldless artifact is byte-identical to one from before fields existed.
    for key in ("visible_field", "hidden_field"):
        if getattr(net, key) is not None:
            config[key] = [float(x) for x in getattr(net, key)]
    if net.has_fields and compact:   # absent: the full per-unit tables of files from before compact tables
        config["unit_tables"] = "compact"
    return inputs, config


def build_model(network: MLPNetwork | CNNNetwork | RBMNetwork, mode: str = "custom", *,
                sign_key: bytes | None = None) -> onnx.ModelProto:
    """Build the ONNX model of ``network``.

    Parameters
    ----------
    network : MLPNetwork, CNNNetwork or RBMNetwork
    mode : {"custom", "standard"}
        ``custom``: ``lowprec`` v1 nodes with model-local function bodies; ``standard``: bodies inlined,
        plain standard ops only.
    sign_key : bytes, optional
        Also record a keyed signature (``lowprec.hmac``, HMAC-SHA256; at least ``export.digest.MIN_KEY_BYTES``
        bytes, e.g. from ``export.digest.read_key_file``). The content digest is always recorded.

    Returns
    -------
    onnx.ModelProto
        IR version 10, opset 21; passes ``onnx.checker.check_model(full_check=True)``; sealed
        (``export.digest.seal``). Inputs and outputs: :mod:`export.onnx` (an MLP reads ``x`` of shape
        (batch, K) and gives, among others, ``label`` int64 (batch,)).

    Examples
    --------
    >>> import numpy as np
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine
    >>> w = np.where(np.arange(48).reshape(3, 16) % 5 < 2, 1, -1)      # 3 classes x 16 inputs, ±1
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=(), output=(Dense(w), OutputAffine.identity(3)))
    >>> from export import build_model
    >>> model = build_model(net)
    >>> [i.name for i in model.graph.input], model.graph.output[-1].name
    (['x'], 'label')
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    g = _Graph()
    if isinstance(network, MLPNetwork):
        inputs, config = _build_mlp(network, g)
        kind = "mlp"
    elif isinstance(network, CNNNetwork):
        inputs, config = _build_cnn(network, g)
        kind = "cnn"
    elif isinstance(network, RBMNetwork):
        inputs, config = _build_rbm(network, g)
        kind = "rbm"
    else:
        raise TypeError(f"expected MLPNetwork, CNNNetwork or RBMNetwork, got {type(network).__name__}")
    config["meta"] = network.meta
    try:
        config_json = json.dumps(config, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"network.meta must be JSON-serialisable: {exc}") from None
    assert [o.name for o in g.outputs] == output_names(network)
    acc = TensorProto.FLOAT if config["accumulator"] == "float32" else TensorProto.DOUBLE
    graph = helper.make_graph(g.nodes, f"lowprec_{kind}", inputs, g.outputs, g.inits,
                              doc_string=f"lowprec {kind} network, bit layout v1 (docs/ops.md)")
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ops.OPSET), helper.make_opsetid(ops.DOMAIN, ops.DOMAIN_VERSION)],
        functions=[ops.function(name, acc) for name in g.used],
        producer_name=PRODUCER, producer_version=_version())
    model.ir_version = IR_VERSION
    if mode == "standard":
        model = onnx.inliner.inline_local_functions(model)
        del model.functions[:]
        keep = [o for o in model.opset_import if o.domain != ops.DOMAIN]
        del model.opset_import[:]
        model.opset_import.extend(keep)
        model.ir_version = IR_VERSION
    props = dict(METADATA)
    props.update({"lowprec.producer": f"{PRODUCER} {_version()}", "lowprec.model_kind": kind,
                  "lowprec.config": config_json, "lowprec.export_mode": mode,
                  "lowprec.domain_version": str(ops.DOMAIN_VERSION), NETWORK_DIGEST_KEY: network_digest(network)})
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return seal(model, sign_key)
