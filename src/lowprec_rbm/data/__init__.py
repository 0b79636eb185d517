"""Data: the IDX reader, the four-file MNIST-format dataset, the embedded Fashion-MNIST sample, binarisation."""
from lowprec_rbm.data.idx import IDXError, read_idx, write_idx
from lowprec_rbm.data.datasets import (
    DEBIAN_FASHION_MNIST,
    Dataset,
    binarize,
    declared_classes,
    load_dataset,
    load_embedded_sample,
)

__all__ = [
    "IDXError",
    "read_idx",
    "write_idx",
    "Dataset",
    "DEBIAN_FASHION_MNIST",
    "binarize",
    "declared_classes",
    "load_dataset",
    "load_embedded_sample",
]
