"""Block specifications (the posterior file's ``layers`` list) and the layer sequence they build.

A network is a list of blocks, each a JSON object with a ``kind``; the last block is dense (the class scores,
no activation). Kinds (each a module of this package with ``block``, ``weight_shape``, ``out_shape``,
``check`` and ``token``; add a kind by adding a module and a row in :data:`BLOCK_KINDS`):

- ``{"kind": "conv", "out": O, "k": k, "pad": p, "pool": bool}``: ``[dropout] conv(k x k, pad value p) -> BN
  -> activation [-> 2x2 max-pool]`` (:mod:`.conv2d`); with ``"pool_before_bn": true`` (only then present, and
  only with ``pool``) the published order ``[dropout] conv -> 2x2 max-pool -> BN -> activation``;
- ``{"kind": "dense", "out": n}``: ``[flatten] [dropout] dense -> BN [-> activation]`` (:mod:`.dense`).

Block ``i`` owns the weights ``layer{i}.*`` and the batch norm ``bn{i}.*``. Dropout: ``input_dropout`` before
block 0, ``dropout`` before the others.

Architecture strings (``lowprec train cnn --arch``): comma-separated tokens ``cO`` (3x3 conv with O channels),
``cOkK`` (K x K conv, K odd), ``p`` (2x2 max-pool after the preceding conv block's activation: conv -> BN ->
sign -> pool, on ±1 values the OR of four bits), ``pf`` (2x2 max-pool of the preceding conv block's fields,
before its batch norm: the published order conv -> pool -> BN -> sign), ``dN`` (dense hidden layer of N units).
The output dense block is appended from the data's classes. Example ``c32,c32,p,c64,c64,p,d256``, or in the
published order ``c32,c32,pf,c64,c64,pf,d256``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lowprec_rbm.nn.stack import conv2d, dense
from lowprec_rbm.nn.stack.dropout import Dropout
from lowprec_rbm.nn.stack.relu import ReLU
from lowprec_rbm.nn.stack.sign import Sign

__all__ = ["BLOCK_KINDS", "Options", "parse_arch", "first_pad", "check_blocks", "shapes", "build_layers",
           "arch_string"]

BLOCK_KINDS = {"conv": conv2d, "dense": dense}


@dataclass(frozen=True)
class Options:
    """Per-network settings the blocks need (from :class:`~lowprec_rbm.nn.network.Architecture`)."""

    activation: str = "sign"
    ste_window: float = 1.0
    bn_eps: float = 1e-4
    bn_momentum: float = 0.15
    dropout: float = 0.0
    input_dropout: float = 0.0


def activation_layer(opts: Options):
    return Sign(opts.ste_window) if opts.activation == "sign" else ReLU()


def dropout_layers(opts: Options, index: int) -> list:
    rate = opts.input_dropout if index == 0 else opts.dropout
    return [Dropout(rate)] if rate > 0 else []


def check_keys(spec: dict, keys: set, where: str) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: a block must be a JSON object, got {spec!r}")
    missing, extra = sorted(keys - set(spec)), sorted(set(spec) - keys)
    if missing or extra:
        raise ValueError(f"{where}: block {spec!r} must have exactly the keys {sorted(keys)}"
                         + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))


def positive_int(spec: dict, key: str, where: str) -> None:
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{where}: {key} must be a positive integer, got {v!r}")


def first_pad(input_mode: str) -> int:
    """Pad value of a conv reading the pixels: +1 for ±1 pixels (``binary``), 0 (black) otherwise."""
    return 1 if input_mode == "binary" else 0


def parse_arch(text: str, input_mode: str, activation: str) -> list[dict]:
    """An architecture string (see the module docstring) -> the hidden blocks, pad values filled in."""
    if not isinstance(text, str):
        raise TypeError(f"arch must be a string like 'c32,p,c64,p,d256', got {type(text).__name__}")
    blocks: list[dict] = []
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens:
        raise ValueError("arch is empty: give blocks like 'c32,p,c64,p,d256'")
    for t in tokens:
        if t in ("p", "pf"):
            if not blocks or blocks[-1]["kind"] != "conv" or blocks[-1]["pool"]:
                raise ValueError(f"arch {text!r}: {t!r} (2x2 max-pool) must follow a conv block, once")
            blocks[-1]["pool"] = True
            if t == "pf":
                blocks[-1]["pool_before_bn"] = True
            continue
        for kind in BLOCK_KINDS.values():
            spec = kind.token(t)
            if spec is not None:
                break
        else:
            raise ValueError(f"arch {text!r}: unknown block {t!r}; expected cO (3x3 conv, O channels), cOkK "
                             "(K x K conv), p (2x2 max-pool after the sign), pf (2x2 max-pool of the conv fields, before "
                             "the batch norm), dN (dense, N units)")
        if spec["kind"] == "conv":
            if blocks and blocks[-1]["kind"] != "conv":
                raise ValueError(f"arch {text!r}: conv blocks must come before dense blocks")
            spec["pad"] = first_pad(input_mode) if not blocks else (1 if activation == "sign" else 0)
        blocks.append(spec)
    for b in blocks:
        BLOCK_KINDS[b["kind"]].check(b, f"arch {text!r}")
    return blocks


def arch_string(blocks: Sequence[dict]) -> str:
    """The hidden part of ``blocks`` (all but the output block) as an architecture string."""
    out = []
    for b in list(blocks)[:-1]:
        if b["kind"] == "conv":
            out.append(f"c{b['out']}" + ("" if b["k"] == 3 else f"k{b['k']}"))
            if b["pool"]:
                out.append("pf" if b.get("pool_before_bn", False) else "p")
        else:
            out.append(f"d{b['out']}")
    return ",".join(out)


def check_blocks(blocks: Sequence[dict], in_shape: tuple, where: str = "layers") -> None:
    """ValueError unless ``blocks`` is a valid block list for inputs of ``in_shape`` ending in a dense block."""
    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise ValueError(f"{where}: expected a non-empty list of blocks, got {blocks!r}")
    for i, b in enumerate(blocks):
        kind = b.get("kind") if isinstance(b, dict) else None
        if kind not in BLOCK_KINDS:
            raise ValueError(f"{where}[{i}]: unknown block kind {kind!r}; expected one of {sorted(BLOCK_KINDS)}")
        BLOCK_KINDS[kind].check(b, f"{where}[{i}]")
    if blocks[-1]["kind"] != "dense":
        raise ValueError(f"{where}: the last block must be dense (the class scores), got {blocks[-1]['kind']!r}")
    shapes(blocks, in_shape)


def shapes(blocks: Sequence[dict], in_shape: tuple) -> tuple[list[tuple], list[tuple]]:
    """Weight shape of every block and the activation shape after each (per example)."""
    ws, outs = [], []
    shape = tuple(int(s) for s in in_shape)
    for b in blocks:
        kind = BLOCK_KINDS[b["kind"]]
        ws.append(kind.weight_shape(b, shape))
        shape = kind.out_shape(b, shape)
        outs.append(shape)
    return ws, outs


def build_layers(blocks: Sequence[dict], in_shape: tuple, opts: Options) -> list:
    """The layer sequence of ``blocks`` on per-example inputs of ``in_shape``."""
    layers: list = []
    shape = tuple(int(s) for s in in_shape)
    for i, b in enumerate(blocks):
        new, shape = BLOCK_KINDS[b["kind"]].block(b, shape, i, opts, i == len(blocks) - 1)
        layers += new
    return layers
