"""Footprint and cost of a model on a device: flash/RAM from the toolchain's size tool, instructions per
inference from the emulator (qemu plugin) or callgrind (host), and the profile's energy proxy.

Definitions (stated in the returned dict too):
- MLP and CNN models are measured in their *deployed* build (``DeviceTarget.build(..., predict_only=True)``:
  the C compiled with ``MODEL_PREDICT_ONLY``, so the model object holds ``model_predict`` and the weights but
  no full forward pass, and the harness keeps no intermediate): a model whose verify harness does not fit a
  device's RAM (every layer's output kept) is still measured when its deployment fits.
- ``flash_bytes`` = the model object's code + constant data (packed weights, thresholds, tables): what a
  deployment adds to flash. ``ram_bytes`` = the model's static RAM (none: no globals) + the scratch buffers
  its minimal API needs (MLP/CNN ``predict``: ``MODEL_PREDICT_WORDS`` + ``MODEL_PREDICT_INTS``; RBM one fused
  Gibbs step plus field buffers) + the largest stack frame of its functions (GCC ``-fstack-usage``; kernels
  are inlined, so frames do not nest beyond one).
- ``image_*``: the whole program (harness, C library, semihosting) as ``size`` reports it; for bare metal
  this is what the linker fitted into the profile's flash/RAM.
- Instructions: executed by the model calls for one input row (MLP/CNN: one ``predict`` call; RBM: fields,
  MAP bits, probabilities, visible fields and every Gibbs step of the graph), averaged over ``rows`` random
  rows. Exact counts from the emulator; no cycles are claimed.
- Energy: instructions x the profile's pJ per instruction (its basis and source are returned with it).
"""
from __future__ import annotations

import os

import numpy as np

from export.network import CNNNetwork, MLPNetwork, RBMNetwork
from targets.devices.harness_io import encode_inputs, input_dtype
from targets.devices.toolchain import run_cmd, section_sizes

__all__ = ["measure", "api_scratch_bytes", "random_feeds"]


def _as_network(model):
    if isinstance(model, (MLPNetwork, CNNNetwork, RBMNetwork)):
        return model
    from export.onnx import load_artifact, network_from_onnx  # noqa: PLC0415

    if isinstance(model, (str, os.PathLike)):
        return network_from_onnx(load_artifact(model))
    return network_from_onnx(model)


def random_feeds(net: MLPNetwork | RBMNetwork, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random graph inputs of the network's dtypes (±1, pixels, floats around the threshold; RBM seeds)."""
    k = net.input.size
    dt = input_dtype(net)
    if net.input.kind == "pm1":
        x = rng.choice(np.array([-1, 1], np.int8), (rows, k))
    elif dt == np.uint8:
        x = rng.integers(0, 256, (rows, k), dtype=np.uint8)
    else:
        x = (net.input.threshold + rng.standard_normal((rows, k))).astype(np.float32)
    if not isinstance(net, RBMNetwork):
        return {"x": x}
    if not net.gibbs_steps:
        return {"v": x}
    return {"v": x, "seeds": rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32)}


def api_scratch_bytes(net: MLPNetwork | RBMNetwork, word_bits: int) -> int:
    """Bytes of caller buffers the minimal deployment API needs (see ``export.c``)."""
    nw = lambda k: -(-k // word_bits)  # noqa: E731
    wbytes = word_bits // 8
    if isinstance(net, CNNNetwork):
        from export.c.cnn import predict_scratch  # noqa: PLC0415

        words, ints = predict_scratch(net, word_bits)
        return words * wbytes + 4 * ints
    if isinstance(net, MLPNetwork):
        sizes = [(d.shape[1], d.shape[0]) for d in net.layers]
        inp = nw(net.input.size) * (8 if net.input.kind == "bitplanes" else 1)
        max_bits = max((nw(n) for _, n in sizes[:-1]), default=0)
        words = max(inp, max_bits) + max_bits
        ints = max(n for _, n in sizes) + sizes[-1][1]
        return words * wbytes + 4 * ints
    n, p = net.weight.shape
    # v, h, v_next packed; hidden and visible fields; hidden probabilities
    return (2 * nw(n) + nw(p)) * wbytes + 4 * (p + n + p)


def _group(sections: dict[str, int]) -> dict[str, int]:
    out = {"code": 0, "const": 0, "data": 0, "bss": 0}
    for name, size in sections.items():
        base = name.lstrip(".").split(".")[0]
        if base == "text":
            out["code"] += size
        elif base in ("rodata", "srodata"):
            out["const"] += size
        elif base in ("data", "sdata"):
            out["data"] += size
        elif base in ("bss", "sbss"):
            out["bss"] += size
    return out


def _berkeley(size_tool: str, exe) -> dict[str, int]:
    out = run_cmd([size_tool, str(exe)], what=f"{size_tool} {exe}").stdout.decode().splitlines()
    text, data, bss = (int(v) for v in out[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def measure(network_or_model, target, rows: int = 4, seed: int = 0) -> dict:
    """Flash, RAM, instructions per inference and energy proxy of a model on a device target.

    Parameters
    ----------
    network_or_model : MLPNetwork, RBMNetwork, onnx.ModelProto or path to an exported .onnx file
    target : device target name (e.g. ``"cortex-m4"``) or a :class:`targets.devices.DeviceTarget`
    rows : random input rows run through the counter (the mean is reported, with min/max where available)
    seed : seeds the random rows

    Returns
    -------
    dict with ``target``, ``flash_bytes``, ``ram_bytes``, ``instructions_per_inference``,
    ``instruction_source``, ``energy_nJ_per_inference`` and the details listed in the module docstring.
    Raises ``targets.base.TargetUnavailable`` when a tool is missing.
    """
    from targets.devices import DeviceTarget, device_target  # noqa: PLC0415

    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be an int >= 1, got {rows!r}")
    tgt = target if isinstance(target, DeviceTarget) else device_target(target)
    net = _as_network(network_or_model)
    build = tgt.build(net, predict_only=not isinstance(net, RBMNetwork))
    prof = tgt.profile
    size_tool = prof.compiler["size"]
    model = _group(section_sizes(size_tool, build.model_obj))
    image = _berkeley(size_tool, build.exe)
    frames = tgt.stack_frames(build)
    stack = max(frames.values(), default=0)
    scratch = api_scratch_bytes(net, prof.word_bits)
    data, b = encode_inputs(net, random_feeds(net, rows, np.random.default_rng(seed)))
    counts = tgt.count_instructions(build, data, b)
    epi = float(prof.energy["pj_per_instruction"])
    instr = counts["instructions_per_inference"]
    res = {
        "target": tgt.name, "cpu": prof.cpu, "word_bits": prof.word_bits,
        "popcount_instruction": prof.popcount_instruction, "compiler": prof.cc,
        "cflags": " ".join(tgt.cflags()),
        "flash_bytes": model["code"] + model["const"] + model["data"],
        "ram_bytes": model["data"] + model["bss"] + scratch + stack,
        "model_code_bytes": model["code"], "model_const_bytes": model["const"],
        "model_static_ram_bytes": model["data"] + model["bss"], "api_scratch_bytes": scratch,
        "max_stack_frame_bytes": stack, "stack_frames": frames,
        "image_text_bytes": image["text"], "image_data_bytes": image["data"], "image_bss_bytes": image["bss"],
        "image_flash_bytes": image["text"] + image["data"], "image_static_ram_bytes": image["data"] + image["bss"],
        "device_flash_bytes": prof.memory["flash_bytes"], "device_ram_bytes": prof.memory["ram_bytes"],
        "size_tool": size_tool,
        **counts,
        "energy_pj_per_instruction": epi, "energy_basis": prof.energy["basis"],
        "energy_source": prof.energy["source"],
        "energy_nJ_per_inference": instr * epi / 1e3,
        "build": "deployed predict() (MODEL_PREDICT_ONLY)" if not isinstance(net, RBMNetwork) else
                 "RBM calls of the graph",
        "definitions": ("flash = model code + const data (size -A of the model object); ram = model static "
                        "data + API scratch + largest stack frame; instructions = exact emulator/callgrind count "
                        "of the model calls per input row (MLP/CNN: one predict() of the deployed build), not "
                        "cycles; energy = instructions x pJ/instruction of the profile (a proxy)"),
    }
    return res
