"""C99 source emitter: packed weights as const arrays, portable XNOR-popcount kernels, no malloc.

``emit_c(network, out_dir, word_bits, prefix)`` writes the module; ``c_module`` returns the text only.
The kernels are static package data (``export/csrc/lowprec_kernels.h``); this package only writes the
model-specific text around them.
"""
from export.c.emit import CModule, WORD_BITS_CHOICES, c_module, emit_c
from export.c.names import sanitize_comment, sanitize_identifier

__all__ = ["CModule", "WORD_BITS_CHOICES", "c_module", "emit_c", "sanitize_comment", "sanitize_identifier"]
