"""Sanitising what reaches C source from user input: identifiers (the prefix) and comment text (metadata).

Identifiers: ASCII letters, digits and ``_`` only, not starting with a digit, not a C99 keyword, not a reserved
name (leading ``__`` or ``_`` + capital). A prefix ``P`` names everything of a module (``P_*`` functions and
arrays, ``P_*`` upper-cased macros, files ``P.h``, ``P.c``, ``P_weights.h``), so it must also stay out of the
kernel header's own namespaces (``lowprec_*``/``LOWPREC_*`` names it defines, and everything ``lp_*``/``LP_*``)
and must not produce ``__`` when joined with ``_``. :func:`check_prefix` enforces all of this strictly (for user
input: a refused name is an error, nothing is rewritten); :func:`sanitize_identifier` rewrites any text into an
identifier that passes it. Comments: printable ASCII only, with every sequence that could end
or nest a block comment (``*/``, ``/*``), form a trigraph (``??x``; ``??/`` would splice lines) or continue a
line (``\\``) broken up, so user text can never escape the comment it is written into.
"""
from __future__ import annotations

import re

__all__ = ["sanitize_identifier", "sanitize_comment", "check_prefix", "reserved_prefix", "C_KEYWORDS",
           "MAX_PREFIX"]

MAX_PREFIX = 48

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Bool _Complex _Imaginary
""".split())

_BAD_ID = re.compile(r"[^A-Za-z0-9_]")
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*")


def _kernel_names() -> frozenset[str]:
    """Lower-cased ``lowprec*`` / ``lp_*`` names the kernel header defines (and its file name's stem)."""
    from export.c.common import kernel_source

    return frozenset(n.lower() for n in re.findall(r"\b(?:lowprec|LOWPREC|lp|LP)_[A-Za-z0-9_]*", kernel_source()))


def reserved_prefix(prefix: str) -> str | None:
    """Why ``prefix`` (already an identifier) would collide with the kernel header's names, or None."""
    p = prefix.lower()
    if p in ("lowprec", "lp") or p.startswith("lp_"):
        return f"{prefix!r} is reserved: the kernels' own names are lowprec_*/LOWPREC_* and lp_*/LP_*"
    clash = sorted(n for n in _kernel_names() if n.startswith(p + "_") or n == p)
    if clash:
        return f"{prefix!r} collides with the kernel header's name {clash[0]!r}"
    return None


def check_prefix(text: str, what: str = "C prefix") -> str:
    """``text`` as a module prefix, or ValueError saying which rule it breaks (TypeError for a non-string).

    Rules: a letter, then letters, digits and single ``_`` between them (no leading, trailing or double
    underscore: ``P_name`` must never contain ``__``), at most 48 characters, not a C99 keyword, not reserved
    by the kernel header (see :func:`reserved_prefix`). Returned lower-cased (macros are its upper case).
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}")
    if not _PREFIX.fullmatch(text):
        raise ValueError(f"{what} {text!r} is not allowed: use a letter, then letters, digits and single "
                         f"underscores between them (no leading, trailing or double '_')")
    if len(text) > MAX_PREFIX:
        raise ValueError(f"{what} {text!r} is {len(text)} characters long; at most {MAX_PREFIX}")
    p = text.lower()
    if p in C_KEYWORDS or text in C_KEYWORDS:
        raise ValueError(f"{what} {text!r} is a C keyword")
    why = reserved_prefix(p)
    if why:
        raise ValueError(f"{what} {why}")
    return p


def sanitize_identifier(text: str, what: str = "prefix") -> str:
    """A valid, non-reserved, lower-case C identifier derived from ``text`` (always passes :func:`check_prefix`
    unless it collides with the kernel header, which :func:`reserved_prefix` reports).

    Every character outside ``[A-Za-z0-9_]`` becomes ``_``; runs of ``_`` shrink to one and leading/trailing
    ones are dropped; a leading digit, or a C keyword, gets ``m_`` prepended. Raises TypeError for a
    non-string and ValueError when nothing identifier-like remains (e.g. an empty string or only punctuation).
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}")
    ident = _BAD_ID.sub("_", text.strip()).lower()
    ident = re.sub(r"_{2,}", "_", ident).strip("_")
    if not ident:
        raise ValueError(f"{what} {text!r} has no letters or digits to build a C identifier from")
    if ident[0].isdigit() or ident in C_KEYWORDS:
        ident = "m_" + ident
    return ident[:MAX_PREFIX].rstrip("_")


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
