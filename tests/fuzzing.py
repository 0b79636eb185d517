"""Shared state of the fuzz tests: how many cases each one ran (printed at the end of every pytest run by the
terminal-summary hook in conftest.py), and the byte mutations they apply."""
from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st

COUNTS: Counter = Counter()


@st.composite
def mutated(draw, data: bytes):
    """A damaged copy of ``data``: truncated, some bytes XOR-ed with a nonzero value, a span overwritten with
    random bytes, or bytes inserted. Returns (description, bytes); the bytes always differ from ``data``."""
    n = len(data)
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert"]))
    if kind == "truncate":
        cut = draw(st.integers(0, n - 1))
        return f"truncated to {cut} bytes", data[:cut]
    if kind == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=4))
        b = bytearray(data)
        for pos, x in flips:
            b[pos] ^= x
        if bytes(b) == data:              # two flips of one byte cancelled out
            b[flips[0][0]] ^= 1
        return f"bytes XOR-ed at {sorted(p for p, _ in flips)}", bytes(b)
    if kind == "overwrite":
        pos = draw(st.integers(0, n - 1))
        junk = draw(st.binary(min_size=1, max_size=16))
        b = bytearray(data)
        b[pos:pos + len(junk)] = junk
        if bytes(b) == data:
            b[pos] ^= 0xFF
        return f"{len(junk)} bytes overwritten at {pos}", bytes(b)
    pos = draw(st.integers(0, n))
    junk = draw(st.binary(min_size=1, max_size=16))
    return f"{len(junk)} bytes inserted at {pos}", data[:pos] + junk + data[pos:]
