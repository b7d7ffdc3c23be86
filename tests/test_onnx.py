"""ONNX export (skgd.onnx): onnxruntime's outputs against the model's own.

The graphs compute in float32, so the oracle is the model's float64
prediction within float32 rounding of the decision values: a bound on the
rounding of ``X @ w + b`` derived from ``|X| @ |w| + |b|``.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
skgd_onnx = pytest.importorskip("skgd.onnx")

MODES = ["sgd", "minibatch", "batch"]
EPS32 = np.finfo(np.float32).eps
# float32 rounding of X, of each product and of the sums (pairwise in
# practice, n_features terms at worst would be far looser): this many eps
# times |X| @ |w| + |b|
ROUNDING_EPS = 8
# probabilities are in [0, 1]: float32 rounding of their own arithmetic
PROBA_ATOL = 1e-5


def _classification(n_classes, shift):
    X, y = make_classification(n_samples=120, n_features=8, n_informative=5,
                               n_classes=n_classes, random_state=0)
    # off-centre and unscaled where a StandardScaler goes in front
    return 10.0 * X + 3.0 if shift else X, y


def _run(model, X, **options):
    onx = skl2onnx.to_onnx(model, X[:1].astype(np.float32), options=options or None)
    sess = ort.InferenceSession(onx.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})


def _rounding_bound(model, X):
    """Per-row bound on the float32 error of the decision values."""
    est = model[-1] if hasattr(model, "steps") else model
    Xt = model[:-1].transform(X) if hasattr(model, "steps") else X
    coef = np.atleast_2d(est.coef_)
    scale = np.abs(Xt) @ np.abs(coef).T + np.abs(est.intercept_)
    if hasattr(model, "steps"):  # the scaler's own float32 rounding
        scale = scale * 2
    return ROUNDING_EPS * EPS32 * scale.max(axis=1)


def _check_labels(model, X, labels):
    """Labels equal predict's, except where two classes' decision values are
    within float32 rounding of each other."""
    d = model.decision_function(X)
    est = model[-1] if hasattr(model, "steps") else model
    if d.ndim == 1:
        d = np.column_stack([-d, d])
    col = {c: j for j, c in enumerate(est.classes_)}
    got = d[np.arange(len(X)), [col[c] for c in labels]]
    best = d.max(axis=1)
    bound = 2 * _rounding_bound(model, X)
    np.testing.assert_array_less(best - got, bound + 1e-300)
    # on this data no two classes are that close: the labels are all equal
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("pipeline", [False, True], ids=["bare", "pipeline"])
@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "ovr"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
def test_classifier_labels_and_probabilities(loss, mode, n_classes, pipeline):
    X, y = _classification(n_classes, shift=pipeline)
    clf = GDClassifier(loss=loss, mode=mode, random_state=0)
    model = make_pipeline(StandardScaler(), clf) if pipeline else clf
    model.fit(X, y)
    labels, proba = _run(model, X, zipmap=False)
    _check_labels(model, X, labels)
    expected = model.predict_proba(X)
    assert proba.shape == expected.shape
    # a probability moves by at most n_classes times the decision values'
    # error (slopes: 1/4 for the sigmoid, 1/2 for the clip, and at most 1 for
    # the one-vs-rest normalisation in each decision value)
    bound = n_classes * _rounding_bound(model, X)[:, None] + PROBA_ATOL
    np.testing.assert_array_less(np.abs(proba - expected),
                                 np.broadcast_to(bound, expected.shape))


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "ovr"])
@pytest.mark.parametrize("mode", MODES)
def test_classifier_without_probabilities_outputs_decision_function(mode, n_classes):
    X, y = _classification(n_classes, shift=False)
    clf = GDClassifier(loss="hinge", mode=mode, random_state=0).fit(X, y)
    labels, scores = _run(clf, X, zipmap=False)
    _check_labels(clf, X, labels)
    d = clf.decision_function(X)
    expected = np.column_stack([-d, d]) if n_classes == 2 else d
    bound = np.broadcast_to(_rounding_bound(clf, X)[:, None], expected.shape)
    np.testing.assert_array_less(np.abs(scores - expected), bound)


@pytest.mark.parametrize("pipeline", [False, True], ids=["bare", "pipeline"])
@pytest.mark.parametrize("mode", MODES)
def test_regressor_predictions(mode, pipeline):
    X, y = make_regression(n_samples=120, n_features=8, noise=1.0, random_state=0)
    y = y / y.std()
    if pipeline:
        X = 10.0 * X + 3.0
    reg = GDRegressor(mode=mode, random_state=0)
    model = make_pipeline(StandardScaler(), reg) if pipeline else reg
    model.fit(X, y)
    (pred,) = _run(model, X)
    assert pred.shape == (len(X), 1)
    np.testing.assert_array_less(np.abs(pred[:, 0] - model.predict(X)),
                                 _rounding_bound(model, X))


def test_modified_huber_labels_follow_the_decision_function():
    # every row has two classes with d >= 1: their probabilities tie at 1 after
    # the clip, and only the decision function tells which one predict returns
    X, y = _classification(3, shift=False)
    clf = GDClassifier(loss="modified_huber", mode="batch").fit(X, y)
    clf.coef_ = np.zeros_like(clf.coef_)
    clf.coef_[:, 0] = [0.0, 1.0, 2.0]
    clf.intercept_ = np.array([-5.0, 5.0, 5.0])
    Xp = np.abs(X) + 1.0  # d_1 = x0 + 5 < d_2 = 2 x0 + 5, both above 1
    labels, proba = _run(clf, Xp, zipmap=False)
    assert np.all(clf.predict(Xp) == clf.classes_[2])
    np.testing.assert_array_equal(labels, clf.predict(Xp))
    np.testing.assert_allclose(proba, clf.predict_proba(Xp), atol=4 * EPS32)


def test_string_labels_and_float32_model():
    X, y = _classification(3, shift=False)
    names = np.array(["ant", "bee", "cat"])[y]
    X32 = X.astype(np.float32)
    clf = GDClassifier(loss="log_loss", mode="batch").fit(X32, names)
    assert clf.coef_.dtype == np.float32
    labels, proba = _run(clf, X32, zipmap=False)
    np.testing.assert_array_equal(labels, clf.predict(X32))
    np.testing.assert_allclose(proba, clf.predict_proba(X32), atol=PROBA_ATOL)


def test_zipmap_output_is_a_dict_per_row():
    X, y = _classification(3, shift=False)
    clf = GDClassifier(loss="log_loss", mode="batch").fit(X, y)
    _, proba = _run(clf, X)
    assert len(proba) == len(X)
    np.testing.assert_allclose([proba[0][c] for c in clf.classes_],
                               clf.predict_proba(X[:1])[0], atol=PROBA_ATOL)


def test_sparse_coef_is_refused_with_the_remedy():
    X, y = _classification(2, shift=False)
    clf = GDClassifier(mode="batch").fit(X, y).sparsify()
    with pytest.raises(ValueError, match="densify"):
        _run(clf, X)


def test_register_is_idempotent():
    skgd_onnx.register()
    X, y = _classification(2, shift=False)
    clf = GDClassifier(mode="batch").fit(X, y)
    labels, _ = _run(clf, X, zipmap=False)
    np.testing.assert_array_equal(labels, clf.predict(X))


@pytest.mark.parametrize("mode", MODES)
def test_multinomial_probabilities_are_the_softmax(mode):
    X, y = _classification(3, shift=False)
    clf = GDClassifier(loss="log_loss", multi_class="multinomial", mode=mode,
                       random_state=0).fit(X, y)
    labels, proba = _run(clf, X, zipmap=False)
    _check_labels(clf, X, labels)
    expected = clf.predict_proba(X)
    # the softmax's slope is at most 1/2 in each decision value
    bound = 3 * _rounding_bound(clf, X)[:, None] + PROBA_ATOL
    np.testing.assert_array_less(np.abs(proba - expected),
                                 np.broadcast_to(bound, expected.shape))
