"""The three modes through the public estimators, against oracles: each
other where the paths coincide, the NumPy reference, and scikit-learn
(LogisticRegression, Ridge, ElasticNet at the optimum; SGDClassifier and
SGDRegressor step by step)."""

import warnings

import _reference as ref
import numpy as np
import pytest
from conftest import as_container, make_data, make_sparse_data
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    ElasticNet,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor
from skgd._losses import get_loss

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _estimator(loss):
    return GDClassifier if get_loss(loss).classification else GDRegressor


def _data(loss, n=30, **kw):
    task = "binary" if get_loss(loss).classification else "regression"
    return make_data(task, n=n, **kw)


def _assert_same_fit(a, b, rtol=0.0, atol=0.0):
    assert_allclose(a.coef_, b.coef_, rtol=rtol, atol=atol)
    assert_allclose(a.intercept_, b.intercept_, rtol=rtol, atol=atol)
    assert a.n_iter_ == b.n_iter_
    assert a.t_ == b.t_


# ----------------------------------------------------------------------------
# minibatch(batch_size=1) == sgd


@pytest.mark.parametrize("average", [False, 7])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
@pytest.mark.parametrize("loss", ["hinge", "log_loss", "squared_error", "huber"])
def test_minibatch_of_one_is_sgd(loss, penalty, average):
    X, y = _data(loss, density=0.6)
    kw = dict(loss=loss, penalty=penalty, average=average, random_state=5, alpha=0.01,
              max_iter=30, learning_rate="invscaling", eta0=0.1)
    sgd = _estimator(loss)(mode="sgd", **kw).fit(X, y)
    mb = _estimator(loss)(mode="minibatch", batch_size=1, **kw).fit(X, y)
    _assert_same_fit(sgd, mb)
    assert sgd.loss_curve_ == mb.loss_curve_


# ----------------------------------------------------------------------------
# minibatch(batch_size >= n) == full-gradient step; batch mode


def _full_gradient_path(X, y, sw, loss, penalty, alpha, etas, coef0=None):
    w = np.zeros(X.shape[1]) if coef0 is None else np.array(coef0, dtype=float)
    b = 0.0
    for eta in etas:
        w, b = ref.full_gradient_step(X, y, sw, w, b, eta, get_loss(loss), penalty,
                                      alpha)
    return w, b


# with an L1 part the cumulative penalty (minibatch) and the proximal step
# (reference, batch mode) coincide on the first update only (q = 0), so
# those penalties are checked over one epoch
FULL_CASES = [(p, k) for p in (None, "l2") for k in (1, 8)] + [
    ("l1", 1), ("elasticnet", 1)
]


@pytest.mark.parametrize("extra_rows, shuffle", [(0, False), (17, True)])
@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
@pytest.mark.parametrize("penalty, n_epochs", FULL_CASES)
@pytest.mark.parametrize("loss", ["log_loss", "hinge", "squared_error", "huber"])
def test_minibatch_of_all_rows_is_full_gradient(loss, penalty, n_epochs, schedule,
                                                extra_rows, shuffle):
    """batch_size >= n: one update per epoch, the step of the full gradient of
    F at a fixed eta; sample weights of mean 1 make the minibatch mean
    (divides by m) and F's weighted mean (divides by sum s) the same.
    batch_size > n with shuffling: the order only changes rounding."""
    X, y = _data(loss)
    n = X.shape[0]
    sw = np.random.RandomState(0).uniform(0.2, 1.8, n)
    sw /= sw.mean()
    alpha, eta0 = 0.05, 0.2
    etas = [eta0 if schedule == "constant" else eta0 / t**0.5
            for t in range(1, n_epochs + 1)]
    w, b = _full_gradient_path(X, y, sw, loss, penalty, alpha, etas)
    kw = dict(loss=loss, penalty=penalty, alpha=alpha, learning_rate=schedule,
              eta0=eta0, power_t=0.5, max_iter=n_epochs, tol=None, mode="minibatch")
    est = _estimator(loss)(batch_size=n + extra_rows, shuffle=shuffle,
                           random_state=1, **kw).fit(X, y, sample_weight=sw)
    assert_allclose(est.coef_.ravel(), w, rtol=1e-10, atol=1e-13)
    assert_allclose(est.intercept_, [b], rtol=1e-10, atol=1e-13)
    assert est.t_ == n_epochs + 1


def _best_iterate(X, y, sw, loss, penalty, alpha, etas):
    """The reference proximal (sub)gradient path from 0, and the first of its
    iterates (the start included) with the smallest objective F."""
    lo = get_loss(loss)
    w, b = np.zeros(X.shape[1]), 0.0
    path = [(w, b)]
    for eta in etas:
        w, b = ref.full_gradient_step(X, y, sw, w, b, eta, lo, penalty, alpha)
        path.append((w, b))
    objs = [ref.objective(X, y, sw, w, b, lo, penalty, alpha) for w, b in path]
    return path, objs, int(np.argmin(objs))


NONSMOOTH_PENALTIES = [None, "l2", "l1", "elasticnet"]


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "optimal"])
@pytest.mark.parametrize("penalty", NONSMOOTH_PENALTIES)
@pytest.mark.parametrize("loss", ["hinge", "epsilon_insensitive"])
def test_batch_mode_nonsmooth_is_best_proximal_subgradient_iterate(loss, penalty,
                                                                   schedule):
    """On a non-smooth loss batch mode takes proximal subgradient steps along
    the schedule (t = 1, 2, ...) and returns the iterate, start included,
    with the smallest objective F; with sample weights."""
    X, y = _data(loss)
    sw = np.random.RandomState(0).uniform(0.2, 3.0, X.shape[0])
    alpha, eta0, k = 0.05, 0.3, 12
    est = _estimator(loss)(mode="batch", loss=loss, penalty=penalty, alpha=alpha,
                           learning_rate=schedule, eta0=eta0, power_t=0.5,
                           max_iter=k, tol=None).fit(X, y, sample_weight=sw)
    sched = est._schedule(get_loss(loss))
    path, objs, best = _best_iterate(X, y, sw, loss, penalty, alpha,
                                     sched.etas(np.arange(1, k + 1)))
    # the objective curve is F along the whole path, the model its best point
    assert_allclose(est.loss_curve_, objs[1:], rtol=1e-10)
    assert_allclose(est.coef_.ravel(), path[best][0], rtol=1e-10, atol=1e-13)
    assert_allclose(est.intercept_, [path[best][1]], rtol=1e-10, atol=1e-13)
    assert est.n_iter_ == k and est.t_ == k + 1


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "optimal"])
@pytest.mark.parametrize("penalty", [None, "l2"])
@pytest.mark.parametrize("loss", ["hinge", "perceptron", "epsilon_insensitive"])
def test_batch_mode_nonsmooth_walks_the_minibatch_of_all_rows_path(loss, penalty,
                                                                   schedule):
    """Batch mode (non-smooth loss) and minibatch with batch_size = n take the
    same steps: the objective after step e (batch) is the running objective
    of epoch e + 1 (minibatch, weights before the step), and the batch model
    is the minibatch model stopped at the best epoch."""
    X, y = _data(loss)
    k = 12
    kw = dict(loss=loss, penalty=penalty, alpha=0.05, learning_rate=schedule,
              eta0=0.3, tol=None)
    Est = _estimator(loss)
    batch = Est(mode="batch", max_iter=k, **kw).fit(X, y)
    mb = dict(mode="minibatch", batch_size=X.shape[0], shuffle=False, **kw)
    mb_k = Est(max_iter=k + 1, **mb).fit(X, y)
    assert_allclose(batch.loss_curve_, mb_k.loss_curve_[1:], rtol=1e-10)
    curve = mb_k.loss_curve_  # F(w_0), ..., F(w_k)
    best = int(np.argmin(curve))
    if best == 0:
        # e.g. the perceptron loss is 0 at w = 0: batch mode keeps the start
        assert_array_equal(batch.coef_, 0.0)
        assert_array_equal(batch.intercept_, 0.0)
    else:
        mb_best = Est(max_iter=best, **mb).fit(X, y)
        assert_allclose(batch.coef_, mb_best.coef_, rtol=1e-10, atol=1e-13)
        assert_allclose(batch.intercept_, mb_best.intercept_, rtol=1e-10, atol=1e-13)
    assert batch.t_ == k + 1


# ----------------------------------------------------------------------------
# minibatch through the estimator == reference epochs (schedule plumbing)


@pytest.mark.parametrize("schedule", ["invscaling", "optimal"])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
def test_minibatch_estimator_matches_reference_epochs(penalty, schedule):
    """shuffle=False, 3 epochs of batches of 4 (the last one of 1): the step
    of update t is eta(t), t running on across epochs; t_ = 1 + updates."""
    X, y = make_sparse_data("regression", n=13)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, 13)
    kw = dict(penalty=penalty, alpha=0.05, learning_rate=schedule, eta0=0.2,
              power_t=0.4, max_iter=3, tol=None, mode="minibatch", batch_size=4,
              shuffle=False)
    est = GDRegressor(**kw).fit(X, y, sample_weight=sw)
    sched = est._schedule(get_loss("squared_error"))
    st = ref.ReferenceState(np.zeros(X.shape[1]), 0.0)
    order = np.arange(13)
    for _ in range(3):
        ref.run_epoch(st, X, y, sw, order, 4, sched.etas(st.t + np.arange(4)),
                      get_loss("squared_error"), penalty, 0.05)
    assert_allclose(est.coef_, st.w, rtol=1e-10, atol=1e-13)
    assert_allclose(est.intercept_, [st.b], rtol=1e-10, atol=1e-13)
    assert est.t_ == st.t == 13
    if schedule == "invscaling":
        assert_allclose(sched.etas([1, 12]), [0.2, 0.2 / 12**0.4], rtol=1e-15)


@pytest.mark.parametrize("penalty", [None, "l2", "l1", "elasticnet"])
@pytest.mark.parametrize("mode", ["sgd", "minibatch"])
def test_average_over_the_last_update_is_the_last_iterate(mode, penalty):
    """average=k averages the updates t >= k; with k the last update the
    average is that update's iterate, i.e. the non-averaged fit."""
    X, y = make_data("regression")
    kw = dict(penalty=penalty, alpha=0.05, shuffle=False, max_iter=2, tol=None,
              learning_rate="constant", eta0=0.1, mode=mode, batch_size=4)
    plain = GDRegressor(**kw).fit(X, y)
    last = int(plain.t_) - 1
    averaged = GDRegressor(average=last, **kw).fit(X, y)
    assert_allclose(averaged.coef_, plain.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(averaged.intercept_, plain.intercept_, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------
# dense == CSR

def _dense_csr_cases():
    cases = []
    for mode in ("sgd", "minibatch", "batch"):
        for penalty in (None, "l2", "l1", "elasticnet"):
            for loss in ("hinge", "log_loss", "squared_error"):
                cases.append(pytest.param(mode, penalty, loss))
    return cases


@pytest.mark.parametrize("mode, penalty, loss", _dense_csr_cases())
def test_dense_equals_csr(mode, penalty, loss):
    """Data with 50% zeros and all-zero rows, default stopping rule."""
    X, y = make_sparse_data(
        "binary" if get_loss(loss).classification else "regression", n=40
    )
    kw = dict(loss=loss, penalty=penalty, mode=mode, batch_size=7, random_state=0,
              alpha=0.01, average=False)
    Est = GDClassifier if loss != "squared_error" else GDRegressor
    if Est is GDRegressor:
        kw.pop("loss")
    dense = Est(**kw).fit(X, y)
    csr = Est(**kw).fit(as_container(X, "csr"), y)
    _assert_same_fit(dense, csr, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------
# batch mode at the optimum: scikit-learn's exact solvers


def _classification(seed, n=200, d=8):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=d // 2,
                               flip_y=0.1, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _regression(seed, n=200, d=8):
    X, y = make_regression(n_samples=n, n_features=d, n_informative=d - 3, noise=5.0,
                           random_state=seed)
    return StandardScaler().fit_transform(X), y / y.std()


def _rel(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b))


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_log_loss_l2_is_logistic_regression(seed, weighted, fit_intercept,
                                                  container):
    """Default skgd parameters (alpha=1e-4, tol=1e-3, max_iter=1000): F is
    LogisticRegression's objective divided by C sum(s), C = 1 / (alpha sum s)."""
    X, y = _classification(seed)
    n = X.shape[0]
    sw = (np.random.RandomState(seed).uniform(0.3, 3.0, n) if weighted
          else np.ones(n))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gd = GDClassifier(loss="log_loss", mode="batch", fit_intercept=fit_intercept)
        gd.fit(as_container(X, container), y, sample_weight=sw)
    lr = LogisticRegression(C=1.0 / (1e-4 * sw.sum()), tol=1e-10, max_iter=10000,
                            fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    assert _rel(gd.coef_, lr.coef_) < 1e-4
    if fit_intercept:
        assert abs(gd.intercept_[0] - lr.intercept_[0]) < 1e-4 * np.abs(lr.coef_).max()


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_squared_error_l2_is_ridge(seed, container):
    X, y = _regression(seed)
    n = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gd = GDRegressor(mode="batch").fit(as_container(X, container), y)
    rd = Ridge(alpha=n * 1e-4, tol=1e-12).fit(X, y)
    assert _rel(gd.coef_, rd.coef_) < 1e-4
    assert abs(gd.intercept_[0] - rd.intercept_) < 1e-4 * np.abs(rd.coef_).max()


@pytest.mark.parametrize("alpha", [1e-4, 1e-2])
@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.3)])
def test_batch_squared_error_l1_is_elastic_net(penalty, l1_ratio, alpha):
    """F = ||y - Xw - b||^2 / (2n) + alpha (l1_ratio ||w||_1 + (1 - l1_ratio) / 2
    ||w||^2) is exactly ElasticNet's objective (proximal steps for the L1 part)."""
    X, y = _regression(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gd = GDRegressor(mode="batch", penalty=penalty, l1_ratio=l1_ratio,
                         alpha=alpha).fit(X, y)
    en = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-12, max_iter=100000)
    en.fit(X, y)
    assert _rel(gd.coef_, en.coef_) < 1e-4
    assert_array_equal(gd.coef_ == 0.0, en.coef_ == 0.0)


# ----------------------------------------------------------------------------
# sgd mode, shuffle=False == scikit-learn's SGD, step by step

CLF_LOSSES = ["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"]
REG_LOSSES = ["squared_error", "huber", "epsilon_insensitive",
              "squared_epsilon_insensitive"]
SCHEDULES = ["optimal", "constant", "invscaling", "adaptive"]
PENALTIES = [None, "l2", "l1", "elasticnet"]


def _sklearn_cases():
    cases = [(GDClassifier, SGDClassifier, loss, p, s, False)
             for loss in CLF_LOSSES for p in PENALTIES for s in SCHEDULES]
    # 'optimal' starts with eta_1 = alpha^(-1/4): the unbounded regression
    # losses blow up to ~1e13 before they recover, both libraries agree only to
    # rounding there and the epoch at which tol fires becomes chaotic
    cases += [(GDRegressor, SGDRegressor, loss, p, s, False)
              for loss in REG_LOSSES for p in PENALTIES for s in SCHEDULES
              if s != "optimal" or loss in ("huber", "epsilon_insensitive")]
    # classifiers on regression losses
    cases += [(GDClassifier, SGDClassifier, "huber", "elasticnet", "invscaling", False),
              (GDClassifier, SGDClassifier, "squared_epsilon_insensitive", "l2",
               "constant", False)]
    # averaging (with an L1 part: scikit-learn's truncation of the average)
    cases += [(GDClassifier, SGDClassifier, "hinge", "l1", "constant", True),
              (GDClassifier, SGDClassifier, "log_loss", "elasticnet", "optimal", 10),
              (GDClassifier, SGDClassifier, "modified_huber", "l2", "invscaling", 7),
              (GDRegressor, SGDRegressor, "squared_error", "elasticnet", "invscaling",
               True),
              (GDRegressor, SGDRegressor, "huber", "l1", "optimal", 50)]
    return [pytest.param(*c, id=f"{c[0].__name__}-{c[2]}-{c[3]}-{c[4]}-avg{c[5]}")
            for c in cases]


@pytest.fixture(scope="module")
def sgd_data():
    Xc, yc = _classification(0, n=60, d=5)
    Xr, yr = _regression(0, n=60, d=5)
    return {GDClassifier: (Xc, yc), GDRegressor: (Xr, yr)}


@pytest.mark.parametrize("Est, SkEst, loss, penalty, learning_rate, average",
                         _sklearn_cases())
def test_sgd_matches_sklearn(sgd_data, Est, SkEst, loss, penalty, learning_rate,
                             average):
    X, y = sgd_data[Est]
    kw = dict(loss=loss, penalty=penalty, learning_rate=learning_rate,
              shuffle=False, random_state=0, alpha=1e-3, eta0=0.01, max_iter=200,
              average=average)
    gd = Est(**kw).fit(X, y)
    sk = SkEst(**kw).fit(X, y)
    assert gd.n_iter_ == sk.n_iter_
    assert gd.t_ == sk.t_
    assert_allclose(gd.coef_, sk.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("penalty", [None, "l2"])
@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
@pytest.mark.parametrize("Est, SkEst, loss", [
    (GDClassifier, SGDClassifier, "hinge"),
    (GDRegressor, SGDRegressor, "epsilon_insensitive"),
])
def test_sgd_passive_aggressive_matches_sklearn(sgd_data, Est, SkEst, loss,
                                                learning_rate, penalty):
    X, y = sgd_data[Est]
    kw = dict(loss=loss, penalty=penalty, learning_rate=learning_rate,
              shuffle=False, eta0=0.5, max_iter=50)
    gd, sk = Est(**kw).fit(X, y), SkEst(**kw).fit(X, y)
    assert gd.n_iter_ == sk.n_iter_ and gd.t_ == sk.t_
    assert_allclose(gd.coef_, sk.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("Est, SkEst, loss", [
    (GDClassifier, SGDClassifier, "hinge"),
    (GDClassifier, SGDClassifier, "log_loss"),
    (GDRegressor, SGDRegressor, "squared_error"),
])
def test_sgd_early_stopping_matches_sklearn(sgd_data, Est, SkEst, loss):
    """Same (stratified) split, same validation score and stopping rule.
    (t_ differs on purpose: scikit-learn also counts the held-out rows.)"""
    X, y = sgd_data[Est]
    kw = dict(loss=loss, shuffle=False, early_stopping=True, random_state=0,
              alpha=1e-3, learning_rate="constant", eta0=0.01)
    gd, sk = Est(**kw).fit(X, y), SkEst(**kw).fit(X, y)
    assert gd.n_iter_ == sk.n_iter_
    assert gd.t_ == 1 + gd.n_iter_ * (X.shape[0] - round(0.1 * X.shape[0]))
    assert_allclose(gd.coef_, sk.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-8, atol=1e-12)


def test_sgd_multiclass_matches_sklearn():
    X, y = make_classification(n_samples=60, n_features=5, n_informative=3,
                               n_classes=3, flip_y=0.1, random_state=0)
    X = StandardScaler().fit_transform(X)
    kw = dict(loss="log_loss", penalty="l2", shuffle=False, alpha=1e-3, max_iter=200)
    gd, sk = GDClassifier(**kw).fit(X, y), SGDClassifier(**kw).fit(X, y)
    assert gd.n_iter_ == sk.n_iter_ and gd.t_ == sk.t_
    assert_allclose(gd.coef_, sk.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-8, atol=1e-12)
