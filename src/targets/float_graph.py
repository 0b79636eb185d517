"""The float32 ONNX graph a user would otherwise ship: the same MLP with its ±1 (or ternary) weights as float
MatMuls, for speed baselines (``lowprec bench``, ``bench/``). Not a verification target: its scores are float32.

Layer i: ``y = h W_i^T`` (float32 MatMul), hidden ``h = where(s * y >= t, 1, -1)``; output ``scores = scale * y +
offset``, ``label = argmax``. The first layer reads the raw input as the exported graph does: ±1 pixels at the
threshold, ±1 int8 values, or the pixel values themselves (bit-plane models).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.network import MLPNetwork

__all__ = ["float_mlp_model"]

_IN_TYPES = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8, "float32": TensorProto.FLOAT}


def float_mlp_model(net: MLPNetwork, opset: int = 21, intermediates: bool = False) -> onnx.ModelProto:
    """``net`` as a plain float32 graph with input ``x`` (the exported model's dtype) and outputs ``scores``,
    ``label`` (and, with ``intermediates``, every layer's ``y{i}`` and hidden ``h{i}`` before them)."""
    if not isinstance(net, MLPNetwork):
        raise TypeError(f"expected an MLPNetwork, got {type(net).__name__}")
    nodes, inits = [], []

    def init(name: str, a) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(a), name))
        return name

    one, mone = init("one", np.array(1, np.float32)), init("mone", np.array(-1, np.float32))
    nodes.append(helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
    if net.input.kind == "threshold":
        nodes += [helper.make_node("GreaterOrEqual", ["xf", init("thr", np.array(net.input.threshold, np.float32))],
                                   ["xb"]),
                  helper.make_node("Where", ["xb", one, mone], ["a0"])]
        cur = "a0"
    else:  # ±1 values, or pixel values for a bit-plane first layer
        cur = "xf"
    for i, (d, thr) in enumerate(net.hidden):
        nodes += [helper.make_node("MatMul", [cur, init(f"W{i}", d.weight.T.astype(np.float32))], [f"y{i}"]),
                  helper.make_node("Mul", [f"y{i}", init(f"s{i}", thr.s.astype(np.float32))], [f"sy{i}"]),
                  helper.make_node("GreaterOrEqual", [f"sy{i}", init(f"t{i}", thr.t.astype(np.float32))], [f"b{i}"]),
                  helper.make_node("Where", [f"b{i}", one, mone], [f"h{i}"])]
        cur = f"h{i}"
    d, aff = net.output
    last = f"y{len(net.hidden)}"
    nodes += [helper.make_node("MatMul", [cur, init("Wout", d.weight.T.astype(np.float32))], [last]),
              helper.make_node("Mul", [last, init("scale", aff.scale.astype(np.float32))], ["scaled"]),
              helper.make_node("Add", ["scaled", init("offset", aff.offset.astype(np.float32))], ["scores"]),
              helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0)]
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", d.shape[0]]),
               helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])]
    if intermediates:
        inner = [(f"{v}{i}", dd.shape[0]) for i, (dd, _) in enumerate(net.hidden) for v in ("y", "h")]
        outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", w])
                   for n, w in inner + [(last, d.shape[0])]] + outputs
    graph = helper.make_graph(nodes, "float_mlp", [helper.make_tensor_value_info(
        "x", _IN_TYPES[net.input.dtype], ["batch", net.input.size])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    return model
