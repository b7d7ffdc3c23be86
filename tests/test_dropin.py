"""The SGD parameter surface in every mode: averaging, weights, verbose, routing."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import cross_validate
from sklearn.utils import compute_class_weight

from skgd import GDClassifier, GDRegressor

MODES = ("sgd", "minibatch", "batch")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=8, n_classes=3,
                               n_informative=5, random_state=0)
    return (X - X.mean(0)) / X.std(0), y


@pytest.mark.parametrize("mode", MODES)
def test_average_is_mean_of_iterates(data, mode):
    # with averaging, coef_ is the running mean of the per-update weights:
    # averaging from update k of a fit equals averaging the last updates of
    # a fit of the same path
    X, y = data
    kw = dict(mode=mode, batch_size=10, shuffle=False, max_iter=3, tol=None,
              learning_rate="constant", eta0=0.01, loss="log_loss")
    plain = GDClassifier(**kw).fit(X, y)
    avg = GDClassifier(average=True, **kw).fit(X, y)
    assert not np.allclose(plain.coef_, avg.coef_)
    # averaging from the last update on is the last iterate itself; t counts
    # rows in every mode, so the last update starts one batch before the end
    # (batch mode counts iterations)
    rows_per_update = {"sgd": 1, "minibatch": 10, "batch": 1}[mode]
    last = int(plain.t_) - rows_per_update
    late = GDClassifier(average=last, **kw).fit(X, y)
    np.testing.assert_allclose(late.coef_, plain.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(late.intercept_, plain.intercept_, rtol=1e-10)


@pytest.mark.parametrize("mode", ["minibatch", "batch"])
def test_average_sparse_equals_dense(data, mode):
    # sgd mode follows scikit-learn's sparse intercept rule instead (tested
    # against SGDClassifier in test_modes.py)
    X, y = data
    kw = dict(mode=mode, batch_size=7, random_state=0, max_iter=3, tol=None,
              average=5, penalty="elasticnet")
    a = GDClassifier(**kw).fit(X, y)
    b = GDClassifier(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_class_weight_equals_sample_weight(data, mode):
    X, y = data
    kw = dict(mode=mode, batch_size=16, random_state=0, max_iter=5, tol=None,
              loss="log_loss")
    # one-vs-rest problems weigh their positive class only (scikit-learn's
    # convention), so compare on a binary problem
    yb = (y == 0).astype(int)
    cwb = {0: 0.5, 1: 3.0}
    by_class = GDClassifier(class_weight=cwb, **kw).fit(X, yb)
    by_sample = GDClassifier(**kw).fit(X, yb, sample_weight=np.where(yb == 1, 3.0, 0.5))
    np.testing.assert_allclose(by_class.coef_, by_sample.coef_, rtol=1e-10)


def test_balanced_class_weight_in_partial_fit(data):
    X, y = data
    keep = np.r_[np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:20]]
    X, y = X[keep], y[keep]
    clf = GDClassifier(class_weight="balanced", random_state=0)
    chunks = np.array_split(np.random.RandomState(0).permutation(len(y)), 4)
    for chunk in chunks:
        clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    # the weights of the last chunk come from the counts of the whole stream
    np.testing.assert_allclose(
        clf._expanded_class_weight,
        compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y),
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_all_zero_sample_weight_chunk_is_a_no_op(data, mode, Est):
    X, y = data
    kw = {"classes": [0, 1, 2]} if Est is GDClassifier else {}
    est = Est(mode=mode, random_state=0).partial_fit(X, y, **kw)
    coef, t = est.coef_.copy(), est.t_
    est.partial_fit(X, y, sample_weight=np.zeros(len(y)))
    np.testing.assert_array_equal(est.coef_, coef)
    assert est.t_ == t
    # also as a first call: fitted, with zero weights
    first = Est(mode=mode).partial_fit(X, y, sample_weight=np.zeros(len(y)), **kw)
    assert not np.any(first.coef_) and first.predict(X).shape == y.shape


def test_verbose_format(data, capsys):
    X, y = data
    GDClassifier(max_iter=2, tol=None, verbose=1).fit(X, y == 0)
    out = capsys.readouterr().out
    pattern = (r"-- Epoch 1\nNorm: [\d.]+, NNZs: \d+, Bias: -?[\d.]+, T: \d+, "
               r"Avg\. loss: [\d.]+, Objective: [\d.]+\nTotal training time: ")
    assert re.search(pattern, out)
    GDClassifier(max_iter=2, tol=None, verbose=1, early_stopping=True,
                 random_state=0).fit(X, y == 0)
    assert "Validation score: " in capsys.readouterr().out


def test_verbose_matches_sklearn_lines(data, capsys):
    X, y = data
    kw = dict(max_iter=3, tol=None, verbose=1, shuffle=False, random_state=0)
    SGDClassifier(**kw).fit(X, y == 0)
    theirs = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Norm")]
    GDClassifier(**kw).fit(X, y == 0)
    ours = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Norm")]
    assert ours == theirs


@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_metadata_routing_of_sample_weight(data, Est):
    X, y = data
    if Est is GDRegressor:
        y = y.astype(float)
    sw = np.random.RandomState(0).uniform(0.1, 3.0, len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        est = Est(mode="batch", random_state=0).set_fit_request(sample_weight=True)
        est = est.set_score_request(sample_weight=True)
        res = cross_validate(est, X, y, cv=3, params={"sample_weight": sw})
        unweighted = cross_validate(
            Est(mode="batch", random_state=0).set_fit_request(sample_weight=False)
            .set_score_request(sample_weight=False), X, y, cv=3,
        )
    assert not np.allclose(res["test_score"], unweighted["test_score"])
    with sklearn.config_context(enable_metadata_routing=True):
        est = Est(random_state=0).set_partial_fit_request(sample_weight=True)
        assert est.get_metadata_routing().partial_fit.requests["sample_weight"] is True


@pytest.mark.parametrize("mode", MODES)
def test_densify_sparsify_and_proba_surface(data, mode):
    X, y = data
    clf = GDClassifier(loss="log_loss", mode=mode, random_state=0).fit(X, y)
    assert hasattr(clf, "predict_proba") and hasattr(clf, "predict_log_proba")
    assert not hasattr(GDClassifier(loss="hinge", mode=mode), "predict_proba")
    before = clf.decision_function(X)
    np.testing.assert_allclose(clf.sparsify().decision_function(X), before)
    np.testing.assert_allclose(clf.densify().decision_function(X), before)
