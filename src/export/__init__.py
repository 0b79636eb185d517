"""Deployment side of lowprec-rbm: bit layout v1, packing, ONNX graphs and C sources.

This package never imports ``lowprec_rbm`` (training) nor ``targets`` (runtimes). It consumes a neutral
description of a deployable network that any trainer can fill.
"""
