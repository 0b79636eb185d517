"""Sanitising what reaches C source from user input: identifiers (the prefix) and comment text (metadata).

Identifiers: ASCII letters, digits and ``_`` only, not starting with a digit, not a C99 keyword, not a reserved
name (leading ``__`` or ``_`` + capital). Comments: printable ASCII only, with every sequence that could end
or nest a block comment (``*/``, ``/*``), form a trigraph (``??x``; ``??/`` would splice lines) or continue a
line (``\\``) broken up, so user text can never escape the comment it is written into.
"""
from __future__ import annotations

import re

__all__ = ["sanitize_identifier", "sanitize_comment", "C_KEYWORDS"]

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Bool _Complex _Imaginary
""".split())

_BAD_ID = re.compile(r"[^A-Za-z0-9_]")


def sanitize_identifier(text: str, what: str = "prefix") -> str:
    """A valid, non-reserved, lower-case C identifier derived from ``text``.

    Every character outside ``[A-Za-z0-9_]`` becomes ``_``; a leading digit or underscore gets an ``m``
    prepended; a keyword gets ``_`` appended. Raises TypeError for a non-string and ValueError when nothing
    identifier-like remains (e.g. an empty string or only punctuation).
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}")
    ident = _BAD_ID.sub("_", text.strip()).lower()
    if not ident.strip("_"):
        raise ValueError(f"{what} {text!r} has no letters or digits to build a C identifier from")
    ident = re.sub(r"_{2,}", "_", ident)
    if ident[0].isdigit() or ident[0] == "_":
        ident = "m" + ident
    if ident in C_KEYWORDS:
        ident += "_"
    return ident[:48]


def sanitize_comment(text: object, max_len: int = 2000) -> str:
    """``text`` rendered safe to place inside a C block comment (one or more lines, no line over 100 chars)."""
    s = str(text)
    s = "".join(ch if " " <= ch <= "~" or ch == "\n" else "?" for ch in s)
    s = s.replace("\\", "/")
    # break "*/" and "/*" (repeat: "*/*/" needs two passes) and trigraph introducers "??"
    while "*/" in s or "/*" in s or "??" in s:
        s = s.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
    if len(s) > max_len:
        s = s[:max_len] + " ..."
    lines = []
    for line in s.split("\n"):
        while len(line) > 100:
            lines.append(line[:100])
            line = line[100:]
        lines.append(line.rstrip())
    return "\n".join(lines)
