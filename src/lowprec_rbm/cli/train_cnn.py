"""Train a convolutional classifier with ±1 (BayesBiNN, STE), ternary (variational inference) or real (Adam)
weights on images and write a posterior file (kind "cnn").

Architecture (--arch): comma-separated blocks, the output layer is added from the classes:
  cO     3x3 convolution with O output channels -> batch norm -> activation
  cOkK   K x K convolution (K odd)
  p      2x2 max-pooling after the preceding conv block's activation (conv -> BN -> sign -> pool; on ±1
         values the OR of four bits)
  pf     2x2 max-pooling of the preceding conv block's fields, before its batch norm: the published order
         conv -> pool -> BN -> sign (deployed as the max of the int32 fields, then the threshold)
  dN     dense layer of N units -> batch norm -> activation (after the conv blocks; flattens (row, col, channel))
Convolutions have no bias, stride 1 and "same" size. Padding is the deployment's from the first step: conv
layers on ±1 activations pad with +1; the first conv pads with 0 (a black pixel) for --input bitplanes/real and
with +1 for --input binary; ReLU networks pad with 0. The image shape (H, W, channels) comes from the data.

Everything else (validation split, classes, progress, checkpoints and --resume, rules and --set) works as in
`lowprec train mlp`; see its --help. ternary-vi trains through the probabilistic forward pass, with max-pooling
of ±1 units (p) by E[max] = 1 - 2 prod (1 - m_i)/2 and of Gaussian fields (pf) by Clark's moments of the max of
two Gaussians, pairwise (independent units; README "Convolutional networks").

examples:
  lowprec train cnn --data sample --arch c16,p,c32,p,d64 --input bitplanes --epochs 5 -o cnn.npz
  lowprec train cnn --data sample --arch c16,p,c32,p,d64 --rule ternary-vi --input binary -o tern_cnn.npz
  lowprec train cnn --data sample --arch c16,pf,c32,pf,d64 --input bitplanes -o published_order.npz
  lowprec train cnn --data debian --arch c32,c32,p,c64,c64,p,d256 --input bitplanes --epochs 30 -o fm_cnn.npz
  lowprec train cnn --data debian --arch c32,c32,p,c64,c64,p,d256 --rule adam --activation relu -o ref.npz
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli.common import positive_int
from lowprec_rbm.cli.train_mlp import add_common_arguments, train


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, activation="sign")
    parser.add_argument("--arch", default="c32,p,c64,p,d256",
                        help="hidden blocks: cO (3x3 conv), cOkK (KxK conv), p (2x2 max-pool after the sign), pf "
                             "(2x2 max-pool of the conv fields before the batch norm: conv -> pool -> BN -> sign), "
                             "dN (dense); default c32,p,c64,p,d256")
    parser.add_argument("--bn-calib", type=positive_int, default=5000,
                        help="training images on which the deployable network's batch-norm statistics are "
                             "recomputed every epoch (default 5000)")


def run(args: argparse.Namespace) -> int:
    from lowprec_rbm.nn import CNNClassifier
    from lowprec_rbm.nn.stack.blocks import parse_arch

    from lowprec_rbm.cli import limits

    blocks = parse_arch(args.arch, args.input, args.activation)   # a bad --arch fails before the data is loaded
    limits.check("--arch (number of layers)", len(blocks), "layers")
    limits.check("--arch", max(b["out"] for b in blocks), "hidden")

    def build(common: dict):
        return CNNClassifier(arch=args.arch, **common)

    def describe(x, n_out: int) -> str:
        shape = "x".join(str(s) for s in (tuple(x.shape[1:]) + (1,))[:3])
        return f"CNN {args.arch},d{n_out} on {shape} images"

    return train(args, build, describe)
