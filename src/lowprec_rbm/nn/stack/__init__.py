"""The network engine: layer objects run in sequence (:mod:`.base` the protocol, :mod:`.network` the runner,
:mod:`.blocks` the block specifications of posterior files). One module per layer kind: :mod:`.dense`,
:mod:`.conv2d`, :mod:`.maxpool`, :mod:`.flatten`, :mod:`.batchnorm`, :mod:`.sign`, :mod:`.relu`, :mod:`.dropout`.
"""
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass
from lowprec_rbm.nn.stack.blocks import Options, build_layers, parse_arch, shapes
from lowprec_rbm.nn.stack.network import Network

__all__ = ["Layer", "Moments", "Pass", "Network", "Options", "build_layers", "parse_arch", "shapes", "network"]


def network(blocks, in_shape, opts: Options) -> Network:
    """Build the :class:`Network` of ``blocks`` on per-example inputs of ``in_shape``."""
    import numpy as np

    ws, outs = shapes(blocks, in_shape)
    units = int(np.prod(in_shape))
    shape = tuple(in_shape)
    for w, o in zip(ws, outs):
        # a conv's im2col holds H*W*k*k*C numbers per example; its output H*W*O (before pooling)
        units = max(units, int(np.prod(w[1:])) * (int(np.prod(shape[:2])) if len(shape) == 3 else 1),
                    int(np.prod(o)) * (4 if len(shape) == 3 and o[:2] != shape[:2] else 1), int(w[0]))
        shape = o
    return Network(build_layers(blocks, in_shape, opts), in_shape, units)
