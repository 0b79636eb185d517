"""IDX reader, dataset discovery, embedded sample and binarisation."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from lowprec_rbm.data import DEBIAN_FASHION_MNIST, IDXError, binarize, load_dataset, load_embedded_sample, read_idx, write_idx


def test_idx_round_trip_raw_and_gzip(tmp_path):
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        arr = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
        for name in ("a.idx", "a.idx.gz"):
            write_idx(tmp_path / name, arr)
            back = read_idx(tmp_path / name)
            assert back.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(back, arr)
    assert (tmp_path / "a.idx.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_idx_wrong_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01" + b"\x00")
    with pytest.raises(IDXError, match="wrong magic number"):
        read_idx(p)


def test_idx_truncated_data_and_header(tmp_path):
    p = tmp_path / "t"
    write_idx(p, np.arange(10, dtype=np.uint8))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(IDXError, match="truncated data.*needs 10 bytes, found 7"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(p)
    g = tmp_path / "t.gz"
    g.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6])
    with pytest.raises(IDXError, match="gzip"):
        read_idx(g)


def _write_folder(folder: Path, n_train=6, n_test=4, n_labels=None):
    rng = np.random.default_rng(1)
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_labels or n_train, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test, dtype=np.uint8))


def test_folder_dataset_and_mismatched_counts(tmp_path):
    _write_folder(tmp_path / "ok")
    ds = load_dataset(tmp_path / "ok")
    assert ds.x_train.shape == (6, 28, 28) and ds.y_test.shape == (4,)
    _write_folder(tmp_path / "bad", n_labels=5)
    with pytest.raises(IDXError, match="6 images but 5 labels"):
        load_dataset(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_dataset(tmp_path / "empty")


def test_embedded_sample_is_real_fashion_mnist():
    ds = load_embedded_sample()
    assert ds.x_train.shape == (2000, 28, 28) and ds.x_test.shape == (500, 28, 28)
    assert set(np.unique(ds.y_train)) == set(range(10))
    # 16 grey levels decoded as q * 17.
    assert set(np.unique(ds.x_train) % 17) == {0}
    if DEBIAN_FASHION_MNIST.is_dir():
        full = load_dataset("debian")
        np.testing.assert_array_equal(ds.y_train, full.y_train[:2000])
        np.testing.assert_array_equal(ds.x_test >> 4, full.x_test[:500] >> 4)
        # Binarisation at half intensity is exact on the quantised sample.
        np.testing.assert_array_equal(binarize(ds.x_train), binarize(full.x_train[:2000]))


def test_binarize_threshold_and_errors():
    px = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(binarize(px), [[-1, -1, 1, 1]])
    np.testing.assert_array_equal(binarize(px.astype(np.float64) / 255.0), [[-1, -1, 1, 1]])
    np.testing.assert_array_equal(binarize(np.array([[0.5, 0.49]])), [[1, -1]])  # sign(0) = +1
    with pytest.raises(ValueError, match="NaN"):
        binarize(np.array([[np.nan, 0.2]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize(np.array([[1.5, 0.2]]))
    with pytest.raises(ValueError, match="threshold"):
        binarize(px, threshold=0.0)
    with pytest.raises(TypeError, match="dtype"):
        binarize(np.array([["a"]]))
