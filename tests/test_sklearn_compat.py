"""The classifiers inside scikit-learn: its own estimator checks, Pipeline, GridSearchCV and cross_val_score on
8x8 images (sklearn's digits, not 28x28) with string labels (not 0..9).

scikit-learn is an optional extra (``lowprec-rbm[sklearn]``, also in ``test``); without it this module is
skipped with the reason. The core never imports it (``test_core_does_not_import_sklearn`` runs either way).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lowprec_rbm.nn import CNNClassifier, MLPClassifier


def test_core_does_not_import_sklearn():
    """Training, saving, loading and exporting never import scikit-learn (it is an optional extra)."""
    code = ("import sys, numpy as np\n"
            "from lowprec_rbm.nn import MLPClassifier\n"
            "X = np.random.default_rng(0).integers(0, 256, (40, 6), dtype=np.uint8); y = np.arange(40) % 2\n"
            "MLPClassifier(hidden=(4,), epochs=1, batch_size=10).fit(X, y).predict(X)\n"
            "print('sklearn' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install 'lowprec-rbm[sklearn]')")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import Binarizer, FunctionTransformer, MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

# Small settings: every check fits in well under a second. The CNN sees each flat row as a 1 x D image
# (image_shape=(1, -1)), since the checks pass 2-d arrays of 1 to 20 features.
SMALL = dict(epochs=2, batch_size=4, bn_calib=50, test_samples=2)
CHECKED = [MLPClassifier(hidden=(8,), **SMALL), CNNClassifier(arch="c8,d16", image_shape=(1, -1), **SMALL)]

# Every check passes: none is listed as an expected failure.
@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------------------- 8x8 images, string labels
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def test_not_fitted_error_is_both_classes_once_sklearn_is_loaded():
    """With scikit-learn imported, predict before fit raises an error that both ``except`` clauses catch."""
    from sklearn.exceptions import NotFittedError as SkNotFitted

    from lowprec_rbm.base import NotFittedError
    for est in CHECKED:
        with pytest.raises(SkNotFitted) as info:
            clone(est).predict(np.zeros((2, 4)))
        assert isinstance(info.value, NotFittedError) and "not fitted" in str(info.value)


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits (1,797 images, 17 grey levels 0..16) as uint8 pixels 0..255, labels as words."""
    d = load_digits()
    X = np.round(d.data * (255 / 16)).astype(np.uint8)          # (1797, 64): flat 8x8 images
    return X, NAMES[d.target]


def _intensity(X):
    return np.asarray(X, dtype=np.float64) / 255.0


def test_pipeline_scaler_and_binarizer(digits):
    """A scaler step (float features, 'real' input) and a binarizer step (0/1 floats, 'binary' input) before the
    MLP; string labels come back as strings. Chance is 10 %; three epochs of a 64-32-10 network scored 0.89
    (scaled) and 0.79 (binarised) on the 797 held-out images (measured, seed 0), so 0.6 leaves a margin for
    BLAS summation order while a pipeline that scrambled features or labels would fail it."""
    X, y = digits
    train, test = slice(0, 1000), slice(1000, None)
    scaled = make_pipeline(MinMaxScaler(), MLPClassifier(hidden=(32,), epochs=3, batch_size=50, random_state=0))
    scaled.fit(X[train], y[train])
    pred = scaled.predict(X[test])
    assert pred.dtype.kind == "U" and set(pred) <= set(NAMES)
    assert scaled.score(X[test], y[test]) > 0.6
    binary = make_pipeline(FunctionTransformer(_intensity), Binarizer(threshold=0.5),
                           MLPClassifier(hidden=(32,), activation="sign", input_encoding="binary", epochs=3,
                                         batch_size=50, random_state=0))
    binary.fit(X[train], y[train])
    assert binary.score(X[test], y[test]) > 0.6
    # Binarizer's 1 where pixel/255 > 0.5 is the model's own binarisation of uint8 pixels (pixel/255 >= 0.5:
    # no integer pixel is exactly 127.5), so the pipeline trains the same network bit for bit.
    direct = MLPClassifier(hidden=(32,), activation="sign", input_encoding="binary", threshold=0.5, epochs=3,
                           batch_size=50, random_state=0).fit(X[train], y[train])
    for a, b in zip(binary[-1].params_, direct.params_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(binary.predict(X[test]), direct.predict(X[test]))


def test_grid_search_on_8x8_images(digits):
    """GridSearchCV clones the estimator per candidate (get_params/set_params/clone) and refits the best."""
    X, y = digits
    search = GridSearchCV(MLPClassifier(epochs=2, batch_size=50, random_state=0),
                          {"hidden": [(16,), (32,)], "learning_rate": [0.01, 0.1]}, cv=2)
    search.fit(X[:600], y[:600])
    assert set(search.cv_results_["params"][0]) == {"hidden", "learning_rate"}
    assert len(search.cv_results_["mean_test_score"]) == 4
    best = search.best_estimator_
    assert best.get_params()["hidden"] == search.best_params_["hidden"]
    assert best.classes_.tolist() == sorted(NAMES.tolist())
    assert best.n_features_in_ == 64
    assert search.score(X[600:900], y[600:900]) > 0.5   # chance 0.1; measured 0.84 (seed 0)


def test_cross_val_score_cnn_on_8x8_images(digits):
    """The CNN on flat rows with image_shape=(8, 8) (the shape comes from the parameter, never assumed), string
    labels, 3-fold cross-validation. Chance 0.1; the folds scored 0.58, 0.60, 0.67 (measured, seed 0), so each
    must exceed 0.4."""
    X, y = digits
    cnn = CNNClassifier(arch="c8,p,d32", image_shape=(8, 8), input_encoding="bitplanes", epochs=2, batch_size=50,
                        random_state=0)
    scores = cross_val_score(cnn, X[:900], y[:900], cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.4), scores
    fitted = clone(cnn).fit(X[:600], y[:600])
    assert fitted.arch_.image_shape == (8, 8, 1) and fitted.n_features_in_ == 64
    # the same images as a 3-d array give the same network (image_shape only says how flat rows are images)
    images = CNNClassifier(arch="c8,p,d32", input_encoding="bitplanes", epochs=2, batch_size=50,
                           random_state=0).fit(X[:600].reshape(-1, 8, 8), y[:600])
    np.testing.assert_array_equal(images.predict(X[600:700].reshape(-1, 8, 8)), fitted.predict(X[600:700]))
    for a, b in zip(images.params_, fitted.params_):
        np.testing.assert_array_equal(a, b)
