"""Everything that runs an exported artifact: the bit-exact reference simulator, onnxruntime,
``onnx.reference``, native C and cross-compiled devices; target profiles; verify and measure logic.

This package may import ``export`` (for the bit layout and artifact metadata) but never ``lowprec_rbm``.
"""
