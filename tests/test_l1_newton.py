"""Batch mode's exact route for a smooth loss with an L1 part
(skgd._l1_newton, skgd._cd_fast), against NumPy references, scikit-learn's
Lasso / ElasticNet and SciPy's L-BFGS-B on the split-sign problem."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from sklearn.linear_model import ElasticNet, Lasso

from skgd import GDClassifier, GDRegressor
from skgd import _l1_newton
from skgd._batch import POLISH_RTOL, _Subproblem
from skgd._cd_fast import Columns, column_sweeps, gram_sweeps
from skgd._l1_newton import l1_newton
from skgd._losses import get_loss
from skgd._penalties import get_penalty


def _model_problem(seed, n=60, d=8, fit_intercept=True):
    rng = np.random.RandomState(seed)
    A = rng.normal(size=(n, d)) * (rng.rand(n, d) < 0.6)
    if fit_intercept:
        A = np.hstack([A, np.ones((n, 1))])
    c = rng.uniform(0.0, 1.0, n) / n
    g = rng.normal(0.0, 0.3, A.shape[1])
    theta0 = rng.normal(0.0, 0.5, A.shape[1]) * (rng.rand(A.shape[1]) < 0.5)
    return A, c, g, theta0


def _model_kkt(A, c, g, theta0, theta, l1, l2, d):
    """Largest violation of the model's optimality conditions at ``theta``."""
    G = g + A.T @ (c * (A @ (theta - theta0)))
    G[:d] += l2 * theta[:d]
    w = theta[:d]
    viol = np.where(w != 0.0, np.abs(G[:d] + l1 * np.sign(w)),
                    np.maximum(np.abs(G[:d]) - l1, 0.0))
    return max(viol.max(initial=0.0), np.abs(G[d:]).max(initial=0.0))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_gram_sweeps_minimise_the_model(seed, fit_intercept, l2):
    A, c, g, theta0 = _model_problem(seed, fit_intercept=fit_intercept)
    d, l1 = 8, 0.3
    H = A.T @ (c[:, None] * A)
    theta, hd = theta0.copy(), np.zeros(len(theta0))
    visits, change = gram_sweeps(H, g, theta, hd, l1, l2, d, 10**6, 1e-14)
    assert change <= 1e-14 and len(theta) <= visits < 10**6
    assert _model_kkt(A, c, g, theta0, theta, l1, l2, d) < 1e-12
    assert_allclose(hd, H @ (theta - theta0), atol=1e-13)
    assert np.any(theta[:d] == 0.0)  # (the L1 part holds some at 0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("storage", ["dense", "csc", "csr", "float32"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_column_sweeps_equal_the_gram_sweeps(seed, storage, fit_intercept):
    A, c, g, theta0 = _model_problem(seed, fit_intercept=fit_intercept)
    d, l1, l2 = 8, 0.3, 0.01
    X = A[:, :d]
    if storage == "float32":
        X = X.astype(np.float32)
        A = np.hstack([X.astype(np.float64), A[:, d:]])
    H = A.T @ (c[:, None] * A)
    ref = theta0.copy()
    gram_sweeps(H, g, ref, np.zeros(len(ref)), l1, l2, d, 10**6, 1e-15)
    stored = {"dense": X, "float32": X, "csc": sp.csc_matrix(X),
              "csr": sp.csr_matrix(X)}[storage]
    theta, e = theta0.copy(), np.zeros(len(c))
    column_sweeps(Columns(stored), c, g, theta, e, l1, l2, 10**6, 1e-15)
    assert_allclose(theta, ref, atol=1e-11)
    assert_allclose(e, A @ (theta - theta0), atol=1e-12)


@pytest.mark.parametrize("budget", [9, 20, 95])
def test_sweeps_stop_at_their_budget(budget):
    A, c, g, theta0 = _model_problem(0)
    H = A.T @ (c[:, None] * A)
    theta = theta0.copy()
    visits, change = gram_sweeps(H, g, theta, np.zeros(len(theta)), 0.0, 0.0, 8,
                                 budget, 0.0)
    assert 9 <= visits <= budget and change > 0.0


def test_the_route_stops_at_its_work_budget(monkeypatch):
    # a model solved slowly (Huber's: few rows in its quadratic band) spent
    # minutes: the route's coordinate descent is bounded by a multiple of
    # an iteration's products, then it gives up (None)
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=300, n_features=200, n_informative=5, noise=5,
                           random_state=0)
    sub = _sub(X, y, np.ones(len(y)), "huber", get_penalty("l1", 1e-4, 1.0))
    work = []
    minimise = _l1_newton._GramModel.minimise

    def counted(self, c, g, theta, tol, budget):
        found, spent = minimise(self, c, g, theta, tol, budget)
        assert spent <= budget
        work.append(spent)
        return found, spent

    monkeypatch.setattr(_l1_newton._GramModel, "minimise", counted)
    monkeypatch.setattr(_l1_newton, "WORK_ITERATIONS", 1)
    monkeypatch.setattr(_l1_newton, "MIN_WORK", 0)
    found = l1_newton(sub, np.zeros(200), 0.0, POLISH_RTOL)
    assert sum(work) <= 2 * X.size
    assert found is None or sub.residual(*found[:2], found[2], sub.loss.dloss(
        sub.y, found[2]), smooth=True) <= POLISH_RTOL


def _wide_regression(seed, n=300, d=900, sparse=True):
    """tf-idf-like rows: more columns than rows, a sparse signal."""
    rng = np.random.RandomState(seed)
    X = sp.random(n, d, density=0.03, random_state=rng, format="csr")
    X = sp.csr_matrix(X.multiply(1.0 / np.sqrt(X.multiply(X).sum(axis=1) + 1e-12)))
    w = rng.normal(size=d) * (rng.rand(d) < 0.05) * 10.0
    y = X @ w + 0.1 * rng.normal(size=n)
    return (X if sparse else X.toarray()), y


def _sub(X, y, s, loss, penalty, fit_intercept=True):
    return _Subproblem(X, y, s / s.sum(), get_loss(loss), penalty, fit_intercept)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.15)])
@pytest.mark.parametrize("weighted", [False, True])
def test_squared_error_reaches_the_lasso_optimum(sparse, penalty, l1_ratio, weighted):
    X, y = _wide_regression(0, sparse=sparse)
    n = len(y)
    s = np.random.RandomState(1).uniform(0.2, 3.0, n) if weighted else np.ones(n)
    alpha = 1e-4
    sub = _sub(X, y, s, "squared_error", get_penalty(penalty, alpha, l1_ratio))
    w, b, p = l1_newton(sub, np.zeros(X.shape[1]), 0.0, POLISH_RTOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (its own duality-gap tolerance)
        ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=100_000)
        ref.fit(X, y, sample_weight=s * n / s.sum())
    f = sub.objective(w, p)
    f_ref = sub.objective(ref.coef_, sub.predictions(ref.coef_, ref.intercept_))
    assert f <= f_ref + 1e-12 * abs(f_ref)
    assert abs(f - f_ref) <= 1e-10 * abs(f_ref)
    assert_allclose(p, sub.predictions(ref.coef_, ref.intercept_), atol=1e-6)


def _split_sign_optimum(sub, d):
    """The optimum of ``sub`` as a smooth problem with bounds: ``w = w+ -
    w-``, ``w+, w- >= 0`` (SciPy's L-BFGS-B, to its tightest tolerances)."""
    pen = sub.penalty
    l1, l2 = pen.l1_strength, pen.l2_strength

    def fg(z):
        wp, wm, b = z[:d], z[d:2 * d], z[2 * d]
        w = wp - wm
        p = sub.predictions(w, b)
        u = sub.s * sub.loss.dloss(sub.y, p)
        f = float(sub.s @ sub.loss.loss(sub.y, p)) + l1 * (wp.sum() + wm.sum()) \
            + 0.5 * l2 * w @ w
        gw = sub.rmatvec(u) + l2 * w
        return f, np.concatenate([gw + l1, -gw + l1, [u.sum()]])

    bounds = [(0, None)] * (2 * d) + [(None, None)]
    res = minimize(fg, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                   options=dict(maxiter=100_000, maxfun=200_000, ftol=1e-16,
                                gtol=1e-13, maxcor=50))
    return res.fun


@pytest.mark.parametrize("loss", ["log_loss", "modified_huber", "squared_hinge"])
@pytest.mark.parametrize("sparse", [True, False])
def test_classification_losses_reach_the_split_sign_optimum(loss, sparse):
    rng = np.random.RandomState(3)
    n, d = 200, 12
    X = rng.normal(size=(n, d)) * np.logspace(-1, 1, d)  # (unscaled columns)
    y = np.where(X[:, :3].sum(axis=1) + rng.normal(size=n) > 0, 1.0, -1.0)
    X = sp.csr_matrix(X) if sparse else X
    sub = _sub(X, y, np.ones(n), loss, get_penalty("l1", 1e-2, 1.0))
    found = l1_newton(sub, np.zeros(d), 0.0, POLISH_RTOL)
    assert found is not None
    w, b, p = found
    f = sub.objective(w, p)
    f_ref = _split_sign_optimum(sub, d)
    assert f <= f_ref + 1e-12 * abs(f_ref)
    assert abs(f - f_ref) <= 1e-8 * abs(f_ref)
    if loss == "log_loss":
        assert np.any(w == 0.0)


def test_the_route_declines_data_beyond_its_copy(monkeypatch):
    X, y = _wide_regression(0, d=2000)  # (columns beyond the Gram route's)
    sub = _sub(X, y, np.ones(len(y)), "squared_error", get_penalty("l1", 1e-4, 1.0))
    monkeypatch.setattr(_l1_newton, "COLUMN_VALUES", X.nnz - 1)
    assert l1_newton(sub, np.zeros(X.shape[1]), 0.0, POLISH_RTOL) is None


@pytest.mark.parametrize("sparse", [True, False])
def test_batch_mode_lasso_on_wide_data_reaches_the_optimum(sparse):
    # FISTA's iterates stalled 1-2% above the optimum (no warning) on
    # wide, weakly penalised data; batch mode now ends at Lasso's optimum
    X, y = _wide_regression(2, n=600, d=2000, sparse=sparse)
    alpha = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = GDRegressor(mode="batch", penalty="l1", alpha=alpha, random_state=0)
        est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)

    def objective(w, b):
        return 0.5 * np.mean((y - X @ w - b) ** 2) + alpha * np.abs(w).sum()

    f = objective(est.coef_, est.intercept_[0])
    f_ref = objective(ref.coef_, ref.intercept_)
    assert f <= f_ref * (1 + 1e-10)


def test_batch_mode_l1_log_loss_dense_equals_csr():
    rng = np.random.RandomState(4)
    X = rng.normal(size=(400, 30)) * np.logspace(-1, 1, 30)
    y = (X[:, :4].sum(axis=1) + rng.normal(size=400) > 0).astype(int)
    fits = [GDClassifier(mode="batch", loss="log_loss", penalty="l1", alpha=1e-3,
                         random_state=0).fit(data, y)
            for data in (X, sp.csr_matrix(X))]
    assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-7, atol=1e-9)
    assert np.any(fits[0].coef_ == 0.0)


def test_without_the_route_a_pure_l1_fit_stops_on_its_duality_gap(monkeypatch):
    # the route declined (data beyond its copy; also dask and multinomial
    # fits): FISTA's stall alone had stopped here 3.7e-3 above the optimum,
    # without a warning, at 56 iterations; the duality gap now decides
    from sklearn.datasets import make_regression

    monkeypatch.setattr(_l1_newton, "GRAM_COLUMNS", 0)
    monkeypatch.setattr(_l1_newton, "COLUMN_VALUES", 0)
    from sklearn.model_selection import train_test_split

    X, y = make_regression(n_samples=1000, n_features=500, n_informative=5, noise=5,
                           random_state=0)
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    alpha = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = GDRegressor(mode="batch", penalty="l1", alpha=alpha).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)

    def objective(w, b):
        return 0.5 * np.mean((y - X @ w - b) ** 2) + alpha * np.abs(w).sum()

    f_ref = objective(ref.coef_, ref.intercept_)
    assert objective(est.coef_, est.intercept_[0]) - f_ref <= 1e-4 * f_ref
