"""The three modes through the public estimators, against oracles: each
other where the paths coincide, the NumPy reference, and scikit-learn
(LogisticRegression, Ridge, ElasticNet at the optimum; SGDClassifier and
SGDRegressor step by step)."""

import warnings

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import as_container, make_data, make_sparse_data
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import LinearConstraint, linprog, minimize
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor
from skgd._losses import get_loss
from skgd._modes import DELTA_L_GROWTH, Data, expected_smoothness

NUMPY_1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"

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
# minibatch(batch_size=1) == sgd, while the steps are below minibatch's cap
# (without intercept, whose step minibatch mode scales, and without a
# stopping rule: minibatch's tol is relative to the starting objective)


def _cap(est, k=0):
    """The step cap 1 / L_B that a fitted minibatch estimator used."""
    return est._curvature[k]["step_cap"]


@pytest.mark.parametrize("average", [False, 7])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
@pytest.mark.parametrize("loss", ["hinge", "log_loss", "squared_error", "huber"])
def test_minibatch_of_one_is_sgd(loss, penalty, average):
    # (without exact zeros for an L1 part: sgd mode's L1 step visits every
    # stored entry as scikit-learn's does, minibatch mode's the nonzero ones
    # only, so that its dense and sparse fits agree)
    X, y = _data(loss, density=0.6 if penalty == "l2" else 1.0)
    assert penalty == "l2" or np.all(X != 0)
    kw = dict(loss=loss, penalty=penalty, average=average, random_state=5, alpha=0.01,
              max_iter=30, learning_rate="invscaling", eta0=0.01, tol=None,
              fit_intercept=False)
    sgd = _estimator(loss)(mode="sgd", **kw).fit(X, y)
    mb = _estimator(loss)(mode="minibatch", batch_size=1, **kw).fit(X, y)
    assert 0.01 < _cap(mb)  # the cap 1 / L_max never binds here
    _assert_same_fit(sgd, mb)
    assert sgd.loss_curve_ == mb.loss_curve_


# ----------------------------------------------------------------------------
# minibatch steps: the sum of the rows' steps, capped at 1 / L_B


def _smoothness_oracle(X, sw, loss, alpha_l2, fit_intercept=True):
    """L, L_max and delta of f = 1/n sum s_i L_i by dense linear algebra.

    ``delta`` brings the intercept's curvature ``c mean(s)`` to the
    coefficients' (``c`` times the top eigenvalue of X' S X / n, plus the L2
    strength); the intercept's column is scaled by ``sqrt(delta)``.
    """
    c = get_loss(loss).smoothness or 1.0
    n = len(X)

    def top(delta):
        Xt = np.column_stack([X, np.full(n, np.sqrt(delta))]) if fit_intercept else X
        return np.linalg.eigvalsh(Xt.T @ (sw[:, None] * Xt) / n).max()

    delta = 1.0
    if fit_intercept:
        lam_w = np.linalg.eigvalsh(X.T @ (sw[:, None] * X) / n).max()
        delta = (lam_w + alpha_l2 / c) / sw.mean()
        # above 1: the largest of delta, delta^(1/2), delta^(1/4), 1 that
        # raises the top eigenvalue by at most DELTA_L_GROWTH
        if delta > 1.0:
            ok = [p for p in (1.0, 0.5, 0.25)
                  if top(delta ** p) <= DELTA_L_GROWTH * top(1.0)]
            delta = delta ** ok[0] if ok else 1.0
    Xt = np.column_stack([X, np.full(n, np.sqrt(delta))]) if fit_intercept else X
    L = c * top(delta) + alpha_l2
    l_max = c * np.max(sw * np.einsum("ij,ij->i", Xt, Xt)) + alpha_l2
    return L, l_max, delta


def symmetric_cases():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 17, 65, 101, 513):
        X = rng.standard_normal((max(2 * n, 8), n))
        yield f"gaussian gram {n}", X.T @ X / len(X)  # close top eigenvalues
        yield f"uncentred gram {n}", (X + 3.0).T @ (X + 3.0) / len(X)
    yield "repeated top", np.diag([3.0, 3.0, 1.0, 0.0])
    Q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    yield "rank 2", Q[:, :2] @ np.diag([5.0, 4.999]) @ Q[:, :2].T
    yield "zero", np.zeros((6, 6))
    yield "tiny", 1e-200 * np.eye(5)
    yield "large", 1e150 * np.diag([1.0, 2.0, 3.0])  # (beta^2 overflows unscaled)


@pytest.mark.parametrize("name, A", list(symmetric_cases()),
                         ids=[name for name, _ in symmetric_cases()])
def test_compiled_lanczos_finds_the_top_eigenvalue(name, A):
    """The step estimate's compiled Lanczos against LAPACK's eigenvalues, to
    rounding (relative to the largest, 1e-12)."""
    from skgd._lanczos_fast import symmetric_top_eigenvalue

    v0 = np.random.RandomState(0).uniform(0.5, 1.5, len(A))
    top = symmetric_top_eigenvalue(A, v0, 1e-13)
    expected = np.linalg.eigvalsh(A)[-1]
    assert abs(top - expected) <= 1e-12 * max(abs(expected), 1e-300)
    # the same recursion as the Python one, which the other estimates use
    from skgd._modes import lanczos_top_eigenvalue

    if expected > 1e-12:
        python = lanczos_top_eigenvalue(lambda v: A @ v, v0, len(A), rtol=1e-13)
        assert_allclose(top, python, rtol=1e-12)


def test_compiled_lanczos_reports_non_finite_products():
    from skgd._lanczos_fast import symmetric_top_eigenvalue

    A = np.diag([1.0, np.inf, 2.0])
    assert np.isnan(symmetric_top_eigenvalue(A, np.ones(3), 1e-13))
    # residuals whose squares overflow (the Python recursion raises there)
    A = 1e200 * np.diag([1.0, 2.0, 3.0])
    assert np.isnan(symmetric_top_eigenvalue(A, np.ones(3), 1e-13))
    with pytest.raises(ValueError, match="square"):
        symmetric_top_eigenvalue(np.ones((2, 3)), np.ones(2), 1e-13)


@pytest.mark.parametrize("weights", ["varied", "equal"])
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.05])
@pytest.mark.parametrize("loss", ["log_loss", "hinge", "squared_error"])
def test_minibatch_smoothness_estimate(loss, scale, wide, weights):
    """scale=0.05: the intercept's column dominates, delta < 1 balances it.
    wide: more columns than rows (sparse), estimated in the row space.
    Equal sample weights take a shorter path (no scaled copy of the rows)."""
    X, y = _data(loss, n=200)
    if wide:
        X = sp.random(200, 500, density=0.03, format="csr", random_state=1)
    X = X * scale
    sw = np.random.RandomState(0).uniform(0.5, 2.0, 200)
    if weights == "equal":
        sw = np.full(200, 1.7)
    est = _estimator(loss)(loss=loss, mode="minibatch", alpha=0.01, max_iter=1,
                           tol=None).fit(X, y, sample_weight=sw)
    L, l_max, delta = est._curvature[0]["minibatch"]
    X = X.toarray() if wide else X
    L_ref, l_max_ref, delta_ref = _smoothness_oracle(X, sw, loss, 0.01)
    assert (delta_ref < 0.1) == (scale < 1)
    if wide:
        # Lanczos in the row space: a lower bound, close to the top eigenvalue
        assert delta_ref * (1 - 1e-3) <= delta <= delta_ref * (1 + 1e-12)
        assert L_ref * (1 - 1e-3) <= L <= L_ref * (1 + 1e-3)
    else:
        # few columns: from the Gram matrix, exact
        assert_allclose(delta, delta_ref, rtol=1e-10)
        assert_allclose(L, L_ref, rtol=1e-10)
    assert_allclose(l_max, l_max_ref, rtol=1e-3)
    # Gower et al.'s expected smoothness: L_max for one row, L for all rows
    assert expected_smoothness(L, l_max, 200, 1) == l_max
    assert_allclose(expected_smoothness(L, l_max, 200, 200), L)
    mid = expected_smoothness(L, l_max, 200, 32)
    assert L < mid < l_max


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_one_vs_rest_problems_share_the_step_estimate(monkeypatch, container):
    # the estimate reads the rows and weights, not the targets: the ten
    # one-vs-rest problems of digits make one (ten made 40% of the fit), and
    # the model is the one of ten estimates, bit for bit
    import skgd._modes as modes
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = as_container(StandardScaler().fit_transform(X), container)
    real = modes.estimate_minibatch_smoothness
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(modes, "estimate_minibatch_smoothness", counting)
    shared = GDClassifier(mode="minibatch", random_state=0).fit(X, y)
    assert len(calls) == 1
    # class weights give each problem weights of its own: one estimate each
    calls.clear()
    GDClassifier(mode="minibatch", class_weight="balanced", random_state=0).fit(X, y)
    assert len(calls) == 10
    # without the memo
    monkeypatch.setattr(modes, "minibatch_smoothness", real)
    import skgd._base as base
    monkeypatch.setattr(base, "minibatch_smoothness", real)
    own = GDClassifier(mode="minibatch", random_state=0).fit(X, y)
    assert_array_equal(shared.coef_, own.coef_)
    assert_array_equal(shared.intercept_, own.intercept_)


@pytest.mark.parametrize("scale", [1.0, 0.05, 20.0])
def test_minibatch_smoothness_estimate_of_many_columns(scale):
    """More columns than EXACT_GRAM_COLUMNS (and fewer than rows): Lanczos
    on the sample's Gram operator, a lower bound; delta < 1, and delta > 1
    limited by DELTA_L_GROWTH (scale 20, uncentred rows).  Gaussian rows have
    no gap at the top of their spectrum, where 20 Lanczos steps end 0.14%
    low (measured; 20 power-iteration steps, used before, ended 1.9% low):
    within 1%, which is all a step cap needs."""
    from skgd._modes import EXACT_GRAM_COLUMNS

    rng = np.random.RandomState(0)
    d = EXACT_GRAM_COLUMNS + 40
    X = scale * (rng.randn(d + 200, d) + (0.5 if scale > 1 else 0.0))
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    sw = rng.uniform(0.5, 2.0, len(y))
    est = GDClassifier(loss="log_loss", mode="minibatch", alpha=0.01, max_iter=1,
                       tol=None).fit(X, y, sample_weight=sw)
    L, l_max, delta = est._curvature[0]["minibatch"]
    L_ref, l_max_ref, delta_ref = _smoothness_oracle(X, sw, "log_loss", 0.01)
    assert delta_ref * (1 - 1e-2) <= delta <= delta_ref * (1 + 1e-12)
    assert L_ref * (1 - 1e-2) <= L <= L_ref * (1 + 1e-12)
    assert_allclose(l_max, l_max_ref, rtol=1e-3)


def test_minibatch_intercept_step_is_scaled_by_delta():
    """One update of a batch of all rows from zero, learning_rate constant
    below the cap: the intercept moves delta times the gradient step."""
    X, y = _data("squared_error", n=50)
    X = X * 0.05
    est = GDRegressor(mode="minibatch", batch_size=50, learning_rate="constant",
                      eta0=1e-4, alpha=0.0, max_iter=1, tol=None,
                      shuffle=False).fit(X, y)
    delta = est._curvature[0]["minibatch"][2]
    assert delta < 0.1
    eta = 50 * 1e-4  # the sum of the rows' steps
    assert_allclose(est.coef_, eta * X.T @ y / 50, rtol=1e-12)
    assert_allclose(est.intercept_, [delta * eta * y.mean()], rtol=1e-12)


@pytest.mark.parametrize("batch_size", [4, 13])
@pytest.mark.parametrize("eta0", [0.01, 10.0])
@pytest.mark.parametrize("schedule", ["invscaling", "optimal", "constant"])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
def test_minibatch_estimator_matches_reference_epochs(penalty, schedule, eta0,
                                                      batch_size):
    """shuffle=False, 3 epochs: the step of a batch is the sum of the
    schedule's steps of its rows (t counts rows, across epochs), capped at
    1 / L_B; t_ = 1 + rows."""
    n = 13
    X, y = make_sparse_data("regression", n=n)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, n)
    kw = dict(penalty=penalty, alpha=0.05, learning_rate=schedule, eta0=eta0,
              power_t=0.4, max_iter=3, tol=None, mode="minibatch",
              batch_size=batch_size, shuffle=False)
    est = GDRegressor(**kw).fit(X, y, sample_weight=sw)
    cap = _cap(est)
    sched = est._schedule(get_loss("squared_error"))
    st = ref.ReferenceState(np.zeros(X.shape[1]), 0.0)
    order = np.arange(n)
    capped = 0
    for _ in range(3):
        row_etas = sched.steps(st.t, n)
        sums = np.add.reduceat(row_etas, np.arange(0, n, batch_size))
        capped += np.sum(sums > cap)
        ref.run_epoch(st, X, y, sw, order, batch_size, np.minimum(sums, cap),
                      get_loss("squared_error"), penalty, 0.05,
                      intercept_step=est._curvature[0]["minibatch"][2])
    assert_allclose(est.coef_, st.w, rtol=1e-10, atol=1e-13)
    assert_allclose(est.intercept_, [st.b], rtol=1e-10, atol=1e-13)
    assert est.t_ == st.t == 1 + 3 * n
    # the large eta0 is capped, the small one (invscaling, constant) is not
    if schedule != "optimal":
        assert (capped > 0) == (eta0 > 1)


def test_minibatch_epoch_progress_does_not_depend_on_batch_size():
    """Linear scaling: with a fixed eta0 below the cap, one epoch moves the
    model about as far whatever the batch size (not batch_size times less)."""
    X, y = _data("squared_error", n=400)
    kw = dict(learning_rate="constant", eta0=0.001, max_iter=1, tol=None,
              shuffle=False, mode="minibatch", alpha=0.0)
    norms = [np.linalg.norm(GDRegressor(batch_size=b, **kw).fit(X, y).coef_)
             for b in (1, 8, 64)]
    assert_allclose(norms, norms[0], rtol=0.05)


@pytest.mark.parametrize("mode", ["minibatch", "sgd"])
def test_constant_large_eta0_is_caught_or_capped(mode):
    """eta0=1e3 on unscaled data: sgd stops with the divergence error;
    minibatch's cap keeps it finite and fitting."""
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
    X = X * 100
    reg = GDRegressor(mode=mode, learning_rate="constant", eta0=1e3, random_state=0)
    if mode == "sgd":
        with pytest.raises(ValueError, match="diverged|overflow"):
            with np.errstate(all="ignore"):
                reg.fit(X, y)
    else:
        reg.fit(X, y)
        assert reg.score(X, y) > 0.99


# ----------------------------------------------------------------------------
# minibatch(batch_size >= n) == full-gradient step


def _full_gradient_path(X, y, sw, loss, penalty, alpha, etas, coef0=None,
                        intercept_step=1.0):
    w = np.zeros(X.shape[1]) if coef0 is None else np.array(coef0, dtype=float)
    b = 0.0
    for eta in etas:
        w, b = ref.full_gradient_step(X, y, sw, w, b, eta, get_loss(loss), penalty,
                                      alpha, intercept_step=intercept_step)
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
    F by the sum of the n rows' steps (below the cap 1 / L here); sample
    weights of mean 1 make the minibatch mean (divides by m) and F's
    weighted mean (divides by sum s) the same.  batch_size > n with
    shuffling: the order only changes rounding."""
    X, y = _data(loss)
    n = X.shape[0]
    sw = np.random.RandomState(0).uniform(0.2, 1.8, n)
    sw /= sw.mean()
    alpha, eta0 = 0.05, 0.004
    rows = np.arange(1, n * n_epochs + 1, dtype=float).reshape(n_epochs, n)
    etas = (np.full(n_epochs, n * eta0) if schedule == "constant"
            else (eta0 / rows**0.5).sum(axis=1))
    kw = dict(loss=loss, penalty=penalty, alpha=alpha, learning_rate=schedule,
              eta0=eta0, power_t=0.5, max_iter=n_epochs, tol=None, mode="minibatch")
    est = _estimator(loss)(batch_size=n + extra_rows, shuffle=shuffle,
                           random_state=1, **kw).fit(X, y, sample_weight=sw)
    # the intercept steps delta times the coefficients (checked against
    # dense linear algebra in test_minibatch_smoothness_estimate)
    delta = est._curvature[0]["minibatch"][2]
    w, b = _full_gradient_path(X, y, sw, loss, penalty, alpha, etas,
                               intercept_step=delta)
    assert np.max(etas) < _cap(est)
    assert_allclose(est.coef_.ravel(), w, rtol=1e-10, atol=1e-13)
    assert_allclose(est.intercept_, [b], rtol=1e-10, atol=1e-13)
    assert est.t_ == 1 + n_epochs * n


# ----------------------------------------------------------------------------
# batch mode on non-smooth losses: smoothing with continuation, LP oracles


def _hinge_l1_lp(X, y, sw, alpha):
    """min sum s xi / sum s + alpha ||w||_1, xi >= 1 - y (x.w + b), xi >= 0."""
    n, d = X.shape
    yy = np.where(y == np.max(y), 1.0, -1.0)
    c = np.r_[alpha * np.ones(2 * d), 0.0, 0.0, sw / sw.sum()]
    Y = yy[:, None]
    A = np.hstack([-Y * X, Y * X, -Y, Y, -np.eye(n)])
    res = linprog(c, A_ub=A, b_ub=-np.ones(n), bounds=[(0, None)] * len(c),
                  method="highs")
    assert res.status == 0
    return res.fun


def _epsilon_insensitive_l1_lp(X, y, sw, alpha, epsilon):
    """min sum s xi / sum s + alpha ||w||_1, xi >= |y - x.w - b| - epsilon."""
    n, d = X.shape
    c = np.r_[alpha * np.ones(2 * d), 0.0, 0.0, sw / sw.sum()]
    M = np.hstack([X, -X, np.ones((n, 1)), -np.ones((n, 1))])
    A = np.vstack([np.hstack([M, -np.eye(n)]), np.hstack([-M, -np.eye(n)])])
    res = linprog(c, A_ub=A, b_ub=np.r_[y + epsilon, epsilon - y],
                  bounds=[(0, None)] * len(c), method="highs")
    assert res.status == 0
    return res.fun


def _objective(est, X, y, sw, loss, alpha, penalty="l1"):
    lo = get_loss(loss, est.epsilon)
    yy = np.where(y == np.max(y), 1.0, -1.0) if lo.classification else y
    return ref.objective(X, yy, sw, est.coef_.ravel(), float(est.intercept_[0]), lo,
                         penalty, alpha)


def _nonsmooth_qp(X, y, sw, alpha, l1_ratio, loss, epsilon):
    """The exact QP (SLSQP): min s.xi + alpha (l1_ratio |w|_1 + (1 - l1_ratio)
    / 2 |w|^2) over w = w+ - w- (>= 0), b, xi >= 0 with xi >= the loss of
    each row (hinge: 1 - y p; epsilon-insensitive: |y - p| - epsilon)."""
    n, d = X.shape
    s = sw / sw.sum()
    lam1, lam2 = alpha * l1_ratio, alpha * (1 - l1_ratio)

    def f(z):
        w = z[:d] - z[d:2 * d]
        return s @ z[2 * d + 1:] + lam1 * z[:2 * d].sum() + 0.5 * lam2 * w @ w

    def grad(z):
        gw = lam2 * (z[:d] - z[d:2 * d])
        return np.r_[lam1 + gw, lam1 - gw, 0.0, s]

    M = np.hstack([X, -X, np.ones((n, 1))])
    if loss == "hinge":
        yy = np.where(y == np.max(y), 1.0, -1.0)
        cons = [LinearConstraint(np.hstack([yy[:, None] * M, np.eye(n)]), 1.0, np.inf)]
    else:
        cons = [LinearConstraint(np.hstack([-M, np.eye(n)]), -y - epsilon, np.inf),
                LinearConstraint(np.hstack([M, np.eye(n)]), y - epsilon, np.inf)]
    bounds = [(0, None)] * (2 * d) + [(None, None)] + [(0, None)] * n
    z0 = np.r_[np.zeros(2 * d + 1), 1.0 + np.abs(y)]
    res = minimize(f, z0, jac=grad, bounds=bounds, constraints=cons, method="SLSQP",
                   options=dict(ftol=1e-15, maxiter=2000))
    assert res.status in (0, 8)  # 8: converged to rounding
    return res.fun


def _nonsmooth_data(loss, source, n):
    """Standardised rows: generated (seed 0 or 1) or a bundled data set."""
    classify = loss == "hinge"
    if source == "bundled":
        X, y = load_breast_cancer(return_X_y=True) if classify else load_diabetes(
            return_X_y=True)
        X, y = StandardScaler().fit_transform(X[:n]), y[:n]
        return X, (y if classify else (y - y.mean()) / y.std())
    seed = int(source[-1])
    return _classification(seed, n=n) if classify else _regression(seed, n=n)


def _nonsmooth_cases():
    for loss in ("hinge", "epsilon_insensitive"):
        for penalty in ("l1", "l2", "elasticnet"):
            for alpha in (1e-4, 1e-2):
                for source in ("generated0", "generated1", "bundled"):
                    yield pytest.param(loss, penalty, alpha, source)


@pytest.mark.parametrize("loss, penalty, alpha, source", list(_nonsmooth_cases()))
def test_batch_nonsmooth_reaches_the_optimum_at_default_tol(loss, penalty, alpha,
                                                             source):
    """Default tol: within 1e-4 relative of the optimum.  Oracles: the LP
    (HiGHS) for the L1 penalty, the QP (SLSQP, on fewer rows) otherwise."""
    classify = loss == "hinge"
    X, y = _nonsmooth_data(loss, source, 200 if penalty == "l1" else 60)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    Est = GDClassifier if classify else GDRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = Est(loss=loss, penalty=penalty, alpha=alpha, mode="batch").fit(
            X, y, sample_weight=sw)
    F = _objective(est, X, y, sw, loss, alpha, penalty)
    if penalty == "l1":
        F_star = (_hinge_l1_lp(X, y, sw, alpha) if classify
                  else _epsilon_insensitive_l1_lp(X, y, sw, alpha, est.epsilon))
    else:
        l1_ratio = est.l1_ratio if penalty == "elasticnet" else 0.0
        F_star = _nonsmooth_qp(X, y, sw, alpha, l1_ratio, loss, est.epsilon)
    assert F_star - 1e-9 <= F <= F_star * (1 + 1e-4)
    assert_allclose(est.loss_curve_[-1], F, rtol=1e-8)


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_batch_nonsmooth_dense_equals_csr_at_the_lp_optimum(container):
    """The polish solves on dense columns of CSR input as well."""
    X, y = _classification(0)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    est = GDClassifier(penalty="l1", mode="batch").fit(as_container(X, container), y,
                                                       sample_weight=sw)
    F = _objective(est, X, y, sw, "hinge", 1e-4)
    F_star = _hinge_l1_lp(X, y, sw, 1e-4)
    assert F_star - 1e-9 <= F <= F_star * (1 + 1e-9)


@pytest.mark.parametrize("loss", ["hinge", "epsilon_insensitive"])
def test_batch_nonsmooth_default_is_close_to_optimum_and_not_the_start(loss):
    """With defaults: far from w = 0 and within 1e-3 of the optimum (a long
    run at tol=1e-9); the default-loss case that used to predict one class."""
    classify = loss == "hinge"
    X, y = (_classification(1) if classify else _regression(1, noise=30.0))
    Est = GDClassifier if classify else GDRegressor
    default = Est(loss=loss, mode="batch").fit(X, y)
    tight = Est(loss=loss, mode="batch", tol=1e-9, max_iter=5000).fit(X, y)
    F, F_tight = default.loss_curve_[-1], min(tight.loss_curve_)
    assert F <= F_tight * (1 + 1e-3)
    lo = get_loss(loss, default.epsilon)
    F_zero = np.mean(lo.loss(np.where(y == 1, 1.0, -1.0) if classify else y, 0.0))
    assert F < 0.9 * F_zero
    if classify:
        sgd = GDClassifier(random_state=0).fit(X, y)
        assert default.score(X, y) >= sgd.score(X, y) - 0.02


def test_batch_perceptron_warns():
    X, y = _classification(0)
    with pytest.warns(UserWarning, match="perceptron.*mode='sgd'"):
        GDClassifier(loss="perceptron", mode="batch").fit(X, y)


@pytest.mark.parametrize("mu", [1.0, 0.01])
@pytest.mark.parametrize("loss", ["hinge", "perceptron", "epsilon_insensitive"])
def test_smoothed_losses(loss, mu):
    """Within mu / 2 below the loss; derivative by finite differences; the
    compiled twin equals the NumPy reference."""
    lo = get_loss(loss, 0.1)
    sm = lo.smoothed(mu)
    rng = np.random.RandomState(0)
    y = np.sign(rng.randn(500)) if lo.classification else rng.randn(500)
    p = 3 * rng.randn(500)
    gap = lo.loss(y, p) - sm.loss(y, p)
    assert np.all(gap >= -1e-15) and np.all(gap <= mu / 2 + 1e-15)
    h = 1e-6
    fd = (sm.loss(y, p + h) - sm.loss(y, p - h)) / (2 * h)
    assert_allclose(sm.dloss(y, p), fd, atol=1e-5)
    cy = sm.compiled()
    assert_allclose(cy.py_loss(y, p), sm.loss(y, p), rtol=1e-14, atol=1e-15)
    assert_allclose(cy.py_dloss(y, p), sm.dloss(y, p), rtol=1e-14, atol=1e-15)
    assert sm.smoothness == 1.0 / mu


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
    # sgd mode follows scikit-learn on sparse input (its intercept rule):
    # test_sgd_on_sparse_input_matches_sklearn
    for mode in ("minibatch", "batch"):
        for penalty in (None, "l2", "l1", "elasticnet"):
            for loss in ("hinge", "log_loss", "squared_error"):
                marks = ()
                if (mode, penalty, loss) == ("batch", None, "hinge") and NUMPY_1:
                    # the two objectives agree to 1.7e-6 with NumPy 1.25's
                    # products (rounding, see the test); to 1e-6 with NumPy 2
                    marks = pytest.mark.xfail(
                        reason="NumPy 1.x rounds the products differently",
                        strict=False)
                cases.append(pytest.param(mode, penalty, loss, marks=marks))
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
    if mode == "batch" and penalty is None and loss == "hinge":
        # no unique optimum (a flat direction of the hinge without a
        # penalty): rounding of the products steers the two fits to points
        # of the same objective
        assert_allclose(dense.loss_curve_[-1], csr.loss_curve_[-1], rtol=1e-6)
        return
    _assert_same_fit(dense, csr, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------
# batch mode at the optimum: scikit-learn's exact solvers


def _classification(seed, n=200, d=8):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=d // 2,
                               flip_y=0.1, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _regression(seed, n=200, d=8, noise=5.0):
    X, y = make_regression(n_samples=n, n_features=d, n_informative=d - 3,
                           noise=noise, random_state=seed)
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


@pytest.mark.parametrize("c2", [0.9, 0.1])
@pytest.mark.parametrize("scale", [1.0, 1e-6, 1e6])
def test_wolfe_line_search_meets_the_strong_wolfe_conditions(scale, c2):
    # phi(a) = F(w + a d) for a convex F (log-sum-exp plus a quadratic):
    # the step meets both conditions, found from a unit first step whether
    # the minimiser is near 1, far below or far above it
    from skgd._modes import wolfe_line_search

    rng = np.random.RandomState(0)
    A, w, d = rng.normal(size=(50, 5)), rng.normal(size=5), -rng.normal(size=5) * scale

    def F(v):
        z = A @ v
        return np.logaddexp(0.0, z).mean() + 0.05 * v @ v

    def grad(v):
        return A.T @ (0.5 * (1.0 + np.tanh(0.5 * (A @ v)))) / len(A) + 0.1 * v

    if grad(w) @ d > 0:
        d = -d
    f0, d0 = F(w), grad(w) @ d
    a = wolfe_line_search(lambda a: (F(w + a * d), grad(w + a * d) @ d), f0, d0,
                          c2=c2)
    assert a > 0.0
    assert F(w + a * d) <= f0 + 1e-4 * a * d0
    assert abs(grad(w + a * d) @ d) <= -c2 * d0


def test_wolfe_line_search_stops_at_rounding():
    # at the optimum to rounding (a slope of 1e-15 of the value), trials
    # cannot tell a decrease from rounding: the search gives up after the
    # first instead of halving 40 times
    from skgd._modes import wolfe_line_search

    calls = []

    def phi(a):
        calls.append(a)
        return 0.5 + 1e-16, 0.0  # (the value rounded up)

    assert wolfe_line_search(phi, 0.5, -5e-16) == 0.0
    assert len(calls) == 1


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("container", ["dense", "csr", "float32", "csr float32"])
def test_weighted_gram_is_the_weighted_rows_product(container, fit_intercept,
                                                    monkeypatch):
    # A' diag(c) A, A the rows (and a column of ones): dense rows by blocks
    # (a few rows a block here), CSR rows by their entries in any order
    import skgd._modes
    from skgd._modes import weighted_gram

    monkeypatch.setattr(skgd._modes, "GRAM_BLOCK_VALUES", 50)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 12)) * (rng.rand(60, 12) < 0.4)
    c = rng.uniform(0.0, 2.0, 60) * (rng.rand(60) < 0.8)
    dtype = np.float32 if "float32" in container else np.float64
    X = X.astype(dtype)
    if "csr" in container:
        Xc = sp.csr_matrix(X)
        # (unsorted indices: each row's entries reversed)
        for i in range(60):
            a, b = Xc.indptr[i], Xc.indptr[i + 1]
            Xc.indices[a:b], Xc.data[a:b] = Xc.indices[a:b][::-1], Xc.data[a:b][::-1]
        Xc.has_sorted_indices = False
        Xin = Xc
    else:
        Xin = X
    A = X.astype(np.float64)
    if fit_intercept:
        A = np.hstack([A, np.ones((60, 1))])
    assert_allclose(weighted_gram(Xin, c, fit_intercept), A.T @ (c[:, None] * A),
                    rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge", "modified_huber",
                                  "squared_error", "huber"])
def test_batch_newton_direction_solves_the_hessian_system(loss, container,
                                                          fit_intercept):
    # the direction d of a Newton step: H d = -g, with H the Hessian of the
    # objective at the iterate by central differences of its gradient
    # (exact for the piecewise-quadratic losses away from their joints)
    from skgd._losses import get_loss
    from skgd._modes import BatchRunner, Data
    from skgd._penalties import get_penalty

    classification = loss not in ("squared_error", "huber")
    X, y = (_classification(0, n=120, d=6) if classification
            else _regression(0, n=120, d=6))
    X = X * np.logspace(-2, 2, 6)  # (unscaled: the case Newton is for)
    yy = np.where(y == 1, 1.0, -1.0) if classification else y
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    problem = Data(as_container(X, container)).problem(
        yy, sw, get_loss(loss, 0.3), get_penalty("l2", 1e-3, 0.15), fit_intercept)
    w0 = np.random.RandomState(2).normal(0.0, 0.05, 6)
    runner = BatchRunner(problem, w0, 0.1 * fit_intercept, None, 0)

    def gradient(theta):
        w, b = theta[:-1], theta[-1] if fit_intercept else 0.0
        gw, gb, _ = runner._gradient(w, problem.data.matvec(w, b))
        return np.append(gw, gb)

    theta = np.append(runner.w, runner.b)
    g = gradient(theta)
    direction = runner._newton_direction(g)
    q = 7 if fit_intercept else 6
    h = 1e-6
    H = np.column_stack([(gradient(theta + h * e) - gradient(theta - h * e)) / (2 * h)
                         for e in np.eye(7)[:q]])[:q]
    assert_allclose(H @ direction[:q], -g[:q], rtol=1e-5, atol=1e-7 * np.abs(g).max())
    if not fit_intercept:
        assert direction[-1] == 0.0


def _newton_decrement(X, y, w, b, loss, alpha):
    """``g' H^-1 g`` of the L2-penalised mean loss at ``(w, b)`` (the
    intercept unpenalised), from NumPy's formulas: about twice ``F - F*``
    near the optimum, whatever the columns' scales."""
    A = np.hstack([X, np.ones((len(y), 1))])
    z = y * (A @ np.append(w, b))
    if loss == "log_loss":
        sig = 1.0 / (1.0 + np.exp(z))  # sigma(-z)
        d1, d2 = -sig, sig * (1.0 - sig)
    elif loss == "squared_hinge":
        d1, d2 = -2.0 * np.maximum(0.0, 1.0 - z), 2.0 * (z < 1.0)
    else:  # modified_huber
        d1 = np.where(z >= 1.0, 0.0, np.where(z >= -1.0, -2.0 * (1.0 - z), -4.0))
        d2 = 2.0 * ((z >= -1.0) & (z < 1.0))
    n, d = X.shape
    g = A.T @ (d1 * y) / n
    g[:d] += alpha * w
    H = A.T @ ((d2 / n)[:, None] * A)
    H[np.arange(d), np.arange(d)] += alpha
    return float(g @ np.linalg.lstsq(H, g, rcond=None)[0])


@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge", "modified_huber"])
def test_batch_reaches_the_optimum_on_unscaled_columns(loss):
    # unscaled breast cancer (columns from 1e-3 to 4e3): L-BFGS took 1,000
    # iterations and stopped 5-30% above the optimum with a warning (as
    # scikit-learn's lbfgs solver does); Newton steps once it has cost a few
    # Hessians reach it.  Oracles: the Newton decrement from NumPy's
    # formulas, and scikit-learn's newton-cholesky solver for the log loss
    X, y = load_breast_cancer(return_X_y=True)
    yy = np.where(y == 1, 1.0, -1.0)
    alpha = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDClassifier(mode="batch", loss=loss).fit(X, y)
    assert est.n_iter_ < 100
    w, b = est.coef_[0], est.intercept_[0]
    F = est.loss_curve_[-1]
    assert _newton_decrement(X, yy, w, b, loss, alpha) <= 1e-9 * F
    if loss == "log_loss":
        lr = LogisticRegression(C=1.0 / (len(y) * alpha), solver="newton-cholesky",
                                tol=1e-12, max_iter=100).fit(X, y)
        F_lr = (np.mean(np.logaddexp(0.0, -yy * (X @ lr.coef_[0] + lr.intercept_[0])))
                + 0.5 * alpha * lr.coef_[0] @ lr.coef_[0])
        assert F <= F_lr * (1 + 1e-9)


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


def _lasso_oracle(X, y, sw, alpha, epsilon=None):
    """``(coef, intercept)`` of ``sum_i s_i L(y_i, p_i) + alpha ||w||_1``
    (``s`` the weights normalised) by scikit-learn's Lasso at tol=1e-16.

    The squared error is Lasso's objective; the Huber loss of width
    ``epsilon`` is ``min_z (r - z)^2 / 2 + epsilon |z|``, so with a slack
    column per (weighted) row, scaled so that Lasso's ``alpha`` penalises
    its slack by ``s_i epsilon``, it is a lasso as well.
    """
    keep = sw > 0
    X, y, sw = X[keep], y[keep], sw[keep].astype(np.float64)
    d = X.shape[1]
    if epsilon is not None:
        X = np.hstack([X, np.diag(alpha * sw.sum() / (epsilon * sw))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lasso = Lasso(alpha=alpha, tol=1e-16, max_iter=10**6).fit(X, y, sample_weight=sw)
    return lasso.coef_[:d], lasso.intercept_


def _wide_cases():
    for Est in (GDRegressor, GDClassifier):
        for loss in ("squared_error", "huber"):
            for seed, container in ((0, "dense"), (1, "csr"), (42, "dense")):
                yield pytest.param(Est, loss, seed, container,
                                   id=f"{Est.__name__}-{loss}-{seed}-{container}")


@pytest.mark.parametrize("Est, loss, seed, container", list(_wide_cases()))
def test_batch_l1_on_more_columns_than_rows_is_the_exact_lasso(Est, loss, seed,
                                                               container):
    """The shape of scikit-learn's sample-weight checks (15 rows, 30 columns,
    integer weights with zeros, alpha=1e-4): the polish's homotopy ends at
    the lasso optimum (at most as many nonzero coefficients as weighted
    rows); oracle: Lasso at tol=1e-16 (on the +-1 targets for the
    classifier)."""
    rng = np.random.RandomState(seed)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3 if Est is GDRegressor else 2, 15).astype(np.float64)
    sw = rng.randint(0, 5, 15)
    gd = Est(mode="batch", loss=loss, penalty="l1").fit(as_container(X, container), y,
                                                        sample_weight=sw)
    target = y if Est is GDRegressor else np.where(y == 1, 1.0, -1.0)
    coef, intercept = _lasso_oracle(X, target, sw, gd.alpha,
                                    gd.epsilon if loss == "huber" else None)
    assert_allclose(gd.coef_.ravel(), coef, rtol=0, atol=1e-11)
    assert_allclose(gd.intercept_[0], intercept, rtol=0, atol=1e-11)
    assert_array_equal(gd.coef_.ravel() == 0.0, coef == 0.0)
    assert np.count_nonzero(gd.coef_) < np.count_nonzero(sw)


@pytest.mark.parametrize("seed", [0, 1, 42])
@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge", "modified_huber",
                                  "squared_epsilon_insensitive"])
def test_batch_l1_on_more_columns_than_rows_meets_the_optimality_conditions(loss,
                                                                            seed):
    """The other smooth losses with L1 on 15 x 30 (integer weights with
    zeros): the polish's proximal Newton steps, each model solved by the
    lasso homotopy, end where the optimality conditions hold (computed here
    from the fitted model): ``X' S u = -alpha sign(w)`` on the nonzero
    coefficients, ``|X' S u| <= alpha`` on the others, ``sum(S u) = 0``."""
    rng = np.random.RandomState(seed)
    X = rng.rand(15, 30)
    y = rng.randint(0, 2, 15)
    sw = rng.randint(0, 5, 15)
    gd = GDClassifier(mode="batch", loss=loss, penalty="l1").fit(X, y, sample_weight=sw)
    s = sw / sw.sum()
    u = get_loss(loss, gd.epsilon).dloss(np.where(y == 1, 1.0, -1.0),
                                         gd.decision_function(X))
    g, w = X.T @ (s * u), gd.coef_.ravel()
    on = w != 0.0
    assert 0 < on.sum() < np.count_nonzero(sw)
    assert_allclose(g[on], -gd.alpha * np.sign(w[on]), rtol=0, atol=1e-9)
    assert np.all(np.abs(g[~on]) <= gd.alpha * (1 + 1e-9))
    assert abs(np.dot(s, u)) <= 1e-9


@pytest.mark.parametrize("alpha", [1e-4, 1e-2])
@pytest.mark.parametrize("seed, container", [(0, "dense"), (1, "csr")])
def test_batch_huber_l1_with_outliers_is_the_exact_optimum(alpha, seed, container):
    """Huber + L1 where many weighted rows are outside the quadratic zone
    (a piecewise-quadratic problem, not the squared error in disguise):
    the polish's homotopy on the slack formulation gives the optimum to
    rounding; oracle: Lasso at tol=1e-16 on the slack columns."""
    rng = np.random.RandomState(seed)
    X = rng.randn(30, 10)
    y = X[:, :4] @ rng.randn(4) + 0.05 * rng.randn(30)
    y[:5] += rng.choice([-3.0, 3.0], 5)
    sw = rng.randint(0, 4, 30)
    gd = GDRegressor(mode="batch", loss="huber", penalty="l1", alpha=alpha).fit(
        as_container(X, container), y, sample_weight=sw)
    outside = (np.abs(y - gd.predict(X)) > gd.epsilon) & (sw > 0)
    assert outside.sum() >= 5
    coef, intercept = _lasso_oracle(X, y, sw, alpha, gd.epsilon)
    assert_allclose(gd.coef_, coef, rtol=0, atol=1e-11)
    assert_allclose(gd.intercept_[0], intercept, rtol=0, atol=1e-11)
    assert_array_equal(gd.coef_ == 0.0, coef == 0.0)


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
    sk = SkEst(**kw).fit(X, y)
    try:
        gd = Est(**kw).fit(X, y)
    except ValueError as exc:
        # skgd stops with its divergence error where scikit-learn blew up
        assert "diverged" in str(exc)
        assert np.abs(sk.coef_).max() > 1e6
        return
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


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
@pytest.mark.parametrize("Est, SkEst, loss", [
    (GDClassifier, SGDClassifier, "hinge"),
    (GDClassifier, SGDClassifier, "log_loss"),
    (GDClassifier, SGDClassifier, "modified_huber"),
    (GDRegressor, SGDRegressor, "squared_error"),
    (GDRegressor, SGDRegressor, "huber"),
])
def test_sgd_on_sparse_input_matches_sklearn(Est, SkEst, loss, penalty, average):
    """Defaults (shuffle=True, the default tol) on CSR input: the same random
    streams, intercept rule and stopping objective as scikit-learn, so the
    same model and n_iter_."""
    X, y = make_sparse_data("binary" if Est is GDClassifier else "regression",
                            n=200, d=30)
    X = sp.csr_matrix(X)
    kw = dict(loss=loss, penalty=penalty, average=average, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkEst(**kw).fit(X, y)
        gd = Est(**kw).fit(X, y)
    assert gd.n_iter_ == sk.n_iter_ and gd.t_ == sk.t_
    assert_allclose(gd.coef_, sk.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", ["binary", "multiclass"])
def test_sgd_shuffled_matches_sklearn(target):
    """shuffle=True: the orderings are drawn from random_state as
    scikit-learn draws them (same model, same n_iter_)."""
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3,
                               n_classes=2 if target == "binary" else 3,
                               random_state=0)
    X = StandardScaler().fit_transform(X)
    kw = dict(loss="log_loss", alpha=1e-3, random_state=42, n_iter_no_change=3)
    sk = SGDClassifier(**kw).fit(X, y)
    gd = GDClassifier(**kw).fit(X, y)
    assert gd.n_iter_ == sk.n_iter_
    assert_allclose(gd.coef_, sk.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(gd.intercept_, sk.intercept_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("Est, SkEst", [(GDClassifier, SGDClassifier),
                                        (GDRegressor, SGDRegressor)])
def test_early_stopping_split_is_sklearns(Est, SkEst):
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3,
                               n_classes=3, random_state=0)
    sw = np.ones(len(y))
    kw = dict(early_stopping=True, validation_fraction=0.2, random_state=7)
    ours = Est(**kw)._validation_split(y, sw)
    theirs = SkEst(**kw)._make_validation_split(y, sample_mask=sw > 0)
    assert_array_equal(ours, theirs)


@pytest.mark.parametrize("batch_size", [32, 256])
@pytest.mark.parametrize("alpha", [1e-2, 1e-4])
def test_minibatch_defaults_reach_the_logistic_optimum(alpha, batch_size):
    """Defaults (tol=1e-3): the capped constant step levels off in a noise
    ball; the plateau rule divides the step until it no longer pays, which
    brings the objective to 1e-4 relative of LogisticRegression's optimum
    (measured: 6e-6 to 7e-5).  Without it the fit stops at 1e-4 to 4e-2."""
    X, y = make_classification(n_samples=5000, n_features=20, flip_y=0.05,
                               random_state=0)
    X = StandardScaler().fit_transform(X)
    n, ys = len(y), np.where(y == 1, 1.0, -1.0)

    def objective(coef, intercept):
        coef = np.ravel(coef)
        return (np.mean(np.logaddexp(0.0, -ys * (X @ coef + intercept[0])))
                + 0.5 * alpha * coef @ coef)

    opt = LogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=10000).fit(X, y)
    f_star = objective(opt.coef_, opt.intercept_)
    est = GDClassifier(loss="log_loss", alpha=alpha, mode="minibatch",
                       batch_size=batch_size, random_state=0).fit(X, y)
    assert est.n_iter_ < 100
    assert objective(est.coef_, est.intercept_) - f_star <= 1e-4 * f_star


# ----------------------------------------------------------------------------
# the runner protocol's stopping rules
def test_objective_rule_counts_epochs_without_improvement():
    from skgd._schedules import Adaptive, Constant
    from skgd._stopping import EpochResult, ObjectiveRule

    rule = ObjectiveRule(0.1, 2, Constant(0.1))
    values = [5.0, 4.0, 3.95, 3.99]  # improvements by more than tol: 1
    stops = [rule.should_stop(EpochResult(v)) for v in values]
    assert stops == [False, False, False, True]
    assert not any(ObjectiveRule(None, 1, Constant(0.1)).should_stop(EpochResult(v))
                   for v in [1.0, 1.0, 1.0])
    # 'adaptive' divides its step at a plateau instead of stopping
    schedule = Adaptive(0.1)
    rule = ObjectiveRule(0.1, 1, schedule)
    assert not rule.should_stop(EpochResult(1.0))
    assert not rule.should_stop(EpochResult(1.0)) and schedule.eta == 0.1 / 5


def test_runners_name_their_stopping_rules():
    """The epoch loop asks the runner for its rule: each mode has its own."""
    from skgd._modes import Data, Problem
    from skgd._stopping import ConvergedRule, ObjectiveRule, PlateauRule

    X, y = _data("squared_error", n=40)
    rules = {}
    for mode in ("sgd", "minibatch", "batch"):
        est = GDRegressor(mode=mode, max_iter=2, tol=None).fit(X, y)
        loss = est._loss()
        problem = Problem(Data(X), y, np.ones(40), loss, est._penalty(), True,
                          np.arange(40))
        schedule = est._schedule(loss)
        runner = est._make_runner(problem, schedule, 0, 0, False)
        rules[mode] = type(runner.stopping_rule(1e-3, 5, schedule, 1.0, True))
    assert rules == {"sgd": ObjectiveRule, "minibatch": PlateauRule,
                     "batch": ConvergedRule}


# ----------------------------------------------------------------------
# threads
@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize(
    "params",
    [dict(), dict(optimizer="adam"), dict(penalty="elasticnet", average=True),
     dict(optimizer="momentum", penalty="l1")],
    ids=["plain", "adam", "elasticnet-averaged", "momentum-l1"],
)
def test_minibatch_one_and_two_threads_give_the_same_model(container, params):
    # batches of 128 rows of 40 (CSR) or 80 (dense) entries: large enough
    # for the threaded pass of an optimizer (asserted);
    # the weights do not depend on the thread count, and neither do the
    # epochs the stopping rule runs here
    from threadpoolctl import threadpool_limits

    from skgd._compat import effective_n_threads

    rng = np.random.RandomState(0)
    X = rng.randn(3000, 80) * (rng.rand(3000, 80) < 0.5)
    y = (X @ rng.randn(80) + rng.randn(3000) > 0).astype(int)
    X = as_container(X, container)
    fits = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="openmp"):
            assert effective_n_threads() <= n_threads
            assert (Data(X).pass_parts(128) is None) == (n_threads == 1)
            est = GDClassifier(mode="minibatch", batch_size=128, random_state=0,
                               **params).fit(X, y)
        fits.append(est)
    if container == "dense" and "optimizer" not in params:
        # plain steps on dense rows: the threads take fixed chunks of rows,
        # whose sums are added in chunk order: bit for bit
        assert_array_equal(fits[0].coef_, fits[1].coef_)
        assert_array_equal(fits[0].intercept_, fits[1].intercept_)
    # the threads' parts of x.w are added in part order: rounding only
    assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(fits[0].intercept_, fits[1].intercept_, rtol=1e-10, atol=1e-12)
    assert fits[0].n_iter_ == fits[1].n_iter_
    assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-12)


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [m["num_threads"] for m in threadpool_info() if m["user_api"] == "blas"]


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_stochastic_modes_run_blas_on_one_thread(mode, monkeypatch):
    # an OpenBLAS call on several threads leaves them spinning after it, on
    # the cores the minibatch pass's own threads need: the stochastic modes'
    # few BLAS calls (step estimate, validation scores) run on one thread;
    # batch mode's dense products keep every thread.  The previous limits
    # come back after the fit, after a failed fit, and after fits running
    # in several threads at once (the limit is counted, not nested blindly)
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    import skgd._base as base

    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        if not before or max(before) < 2:
            pytest.skip("no BLAS library on two threads")
        seen = []
        run = base.BaseGD._run_problem

        def spy(self, *args, **kwargs):
            seen.append(_blas_threads())
            return run(self, *args, **kwargs)

        monkeypatch.setattr(base.BaseGD, "_run_problem", spy)
        # (from MIN_PARALLEL_VALUES values: below, no thread pays)
        X, y = make_classification(n_samples=5000, n_features=20, random_state=0)
        GDClassifier(mode=mode, random_state=0, early_stopping=True).fit(X, y)
        expected = before if mode == "batch" else [1] * len(before)
        assert seen == [expected]
        seen.clear()
        GDClassifier(mode=mode, random_state=0).fit(X[:100], y[:100])
        assert seen == [before]
        assert _blas_threads() == before
        with pytest.raises(ValueError):
            GDClassifier(mode=mode).fit(X, np.where(y > 0, 1.0, np.nan))
        assert _blas_threads() == before
        Xm, ym = make_classification(n_samples=5000, n_features=20, n_informative=6,
                                     n_classes=4, random_state=0)
        with ThreadPoolExecutor(4) as pool:
            fits = [pool.submit(GDClassifier(mode=mode, random_state=i, n_jobs=2).fit,
                                Xm, ym) for i in range(6)]
            for f in fits:
                f.result()
        assert _blas_threads() == before


def test_one_vs_rest_problems_on_threads_share_the_cores(monkeypatch):
    # problems fitted side by side on joblib threads (n_jobs) divide the
    # OpenMP threads between them: with two problems at a time on two
    # threads, each pass runs on one (oversubscribed, they took 1.8 times
    # as long as one problem after the other); the models do not change
    from skgd._compat import effective_n_threads

    if effective_n_threads() < 2:
        pytest.skip("one OpenMP thread")
    seen = []
    pass_parts = Data.pass_parts

    def spy(self, batch_size):
        parts = pass_parts(self, batch_size)
        seen.append(None if parts is None else len(parts) - 1)
        return parts

    monkeypatch.setattr(Data, "pass_parts", spy)
    X, y = make_classification(n_samples=2000, n_features=40, n_informative=10,
                               n_classes=3, random_state=0)
    fits = {}
    for n_jobs in (None, 2):
        seen.clear()
        fits[n_jobs] = GDClassifier(mode="minibatch", batch_size=128, max_iter=3,
                                    tol=None, random_state=0, n_jobs=n_jobs).fit(X, y)
        threads = min(effective_n_threads() // (n_jobs or 1), 40)
        assert set(seen) == {threads if threads > 1 else None}
    assert_array_equal(fits[None].coef_, fits[2].coef_)


def test_one_vs_rest_batch_problems_on_threads_share_the_products(monkeypatch):
    # batch mode's CSR products, called by one-vs-rest problems side by side
    # on joblib threads, divide the OpenMP threads as the stochastic passes
    # do (each on all of them oversubscribed the cores); the models do not
    # change (the products' sums do not depend on their threads)
    from skgd._compat import effective_n_threads
    from skgd._products import MIN_PARALLEL_WORK, Products

    if effective_n_threads() < 2:
        pytest.skip("one OpenMP thread")
    seen = []
    n_threads = Products.n_threads

    def spy(self):
        seen.append(n_threads(self))
        return seen[-1]

    monkeypatch.setattr(Products, "n_threads", spy)
    rng = np.random.RandomState(0)
    X = sp.random(3000, 200, density=0.2, format="csr", random_state=rng)
    assert X.nnz >= MIN_PARALLEL_WORK
    y = rng.randint(0, 3, X.shape[0])
    fits = {}
    for n_jobs in (None, 2):
        seen.clear()
        fits[n_jobs] = GDClassifier(mode="batch", max_iter=3, tol=None,
                                    random_state=0, n_jobs=n_jobs).fit(X, y)
        assert set(seen) == {max(1, effective_n_threads() // (n_jobs or 1))}
    assert_array_equal(fits[None].coef_, fits[2].coef_)


@pytest.mark.parametrize("train, expected", [
    ([0, 1, 2, 3, 4], True), ([0, 1, 1, 3, 4], False), ([1, 2, 3, 4], False),
    ([0, 2, 1, 3, 4], False), ([0, 1, 2, 3, 5], False), ([], False)])
def test_problem_knows_when_every_row_trains(train, expected):
    from skgd._modes import Problem
    from skgd._penalties import get_penalty

    X, y = make_data("regression", n=5)
    pb = Problem(Data(X), y, np.ones(5), get_loss("squared_error"),
                 get_penalty("l2", 1e-4, 0.0), True, np.array(train, dtype=np.intp))
    assert pb.all_rows is expected


def test_lbfgs_direction_when_the_gradient_change_underflows():
    # a curvature pair kept (s.y > 0) whose y.y underflows to 0, near an
    # optimum: the direction stays finite and a descent direction, without
    # NumPy's divide-by-zero warning (seen in scikit-learn's sample-weight
    # check, batch mode, log loss without penalty)
    from skgd._modes import lbfgs_direction

    s, y = np.array([1.0, 0.0]), np.array([1e-170, 0.0])
    assert s @ y > 0 and y @ y == 0.0
    g = np.array([1.0, -2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        d = lbfgs_direction([(s, y, 1.0 / (s @ y))], g)
    assert np.all(np.isfinite(d)) and d @ g < 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("loss", ["log_loss", "squared_error", "huber", "hinge"])
def test_sgd_dense_rows_equal_csr_rows_storing_every_entry(loss, average, dtype):
    """sgd mode on dense rows sums a row's x.w while adding the row before
    it (log loss, squared error, Huber: every row steps), on CSR rows by
    itself: the same numbers, so the same model bit for bit (without an
    intercept, which scikit-learn's rule damps on sparse input), averaged
    or not, with sample weights."""
    Est = GDClassifier if get_loss(loss).classification else GDRegressor
    X, y = make_data("regression" if Est is GDRegressor else "binary", n=300)
    sw = np.random.RandomState(3).uniform(0.2, 2.0, len(y))
    kw = dict(mode="sgd", loss=loss, fit_intercept=False, average=average,
              max_iter=7, tol=None, random_state=0)
    dense = Est(**kw).fit(as_container(X, "dense", dtype), y, sample_weight=sw)
    csr = Est(**kw).fit(as_container(X, "csr_all", dtype), y, sample_weight=sw)
    assert np.all(X != 0)
    assert_array_equal(dense.coef_, csr.coef_)
    assert dense.n_iter_ == csr.n_iter_


# ----------------------------------------------------------------------------
# batch mode on the stored columns of CSR data (ColumnSubsetRunner)


def _text_with_unused_columns(n=300, d=4000, used=250, seed=0):
    rng = np.random.RandomState(seed)
    cols = np.sort(rng.choice(d, used, replace=False))
    rows = np.repeat(np.arange(n), 8)
    X = sp.csr_matrix((rng.rand(n * 8), (rows, rng.choice(cols, n * 8))), shape=(n, d))
    X.sum_duplicates()
    w = np.zeros(d)
    w[cols] = rng.randn(used)
    margin = X @ w
    return X, np.digitize(margin, np.quantile(margin, [1 / 3, 2 / 3])), margin


@pytest.mark.parametrize(
    "Est, loss, params",
    [(GDClassifier, "log_loss", {}), (GDClassifier, "hinge", {}),
     (GDClassifier, "log_loss", {"penalty": "elasticnet"}),
     (GDClassifier, "log_loss", {"average": True}),
     (GDClassifier, "log_loss", {"multi_class": "multinomial"}),
     (GDClassifier, "log_loss", {"multi_class": "multinomial", "penalty": "l1"}),
     (GDRegressor, "squared_error", {}), (GDRegressor, "huber", {})],
)
def test_batch_runs_on_the_stored_columns_of_csr_data(Est, loss, params, monkeypatch):
    # the model is that of a fit on the stored columns alone, bit for bit,
    # with zeros elsewhere; the problems of a one-vs-rest fit share the
    # renumbered data
    X, y3, margin = _text_with_unused_columns()
    y = y3 if Est is GDClassifier else margin
    stored = np.flatnonzero(np.bincount(X.indices, minlength=X.shape[1]))
    assert len(stored) <= 0.5 * X.shape[1]
    calls = []
    original = Data.on_columns

    def counted(self):
        calls.append(self._on_columns is None)
        return original(self)

    monkeypatch.setattr(Data, "on_columns", counted)
    est = Est(mode="batch", loss=loss, random_state=0, **params).fit(X, y)
    assert calls and sum(calls) == 1  # renumbered once, for every problem
    sub = Est(mode="batch", loss=loss, random_state=0, **params).fit(
        X[:, stored], y)
    coef = np.atleast_2d(est.coef_)
    assert_array_equal(coef[:, stored], np.atleast_2d(sub.coef_))
    assert not np.any(np.delete(coef, stored, axis=1))
    assert_array_equal(est.intercept_, sub.intercept_)
    assert est.n_iter_ == sub.n_iter_
    assert_array_equal(est.predict(X), sub.predict(X[:, stored]))


def test_stored_columns_stop_counting_past_their_limit():
    # the columns holding a stored entry, sorted, or None past ``at_most``
    # (the pass stops there; nothing partial is kept)
    from skgd._modes import Data

    X = sp.random(50, 40, density=0.05, format="csr", random_state=0)
    X.indices[:] = X.indices[::-1].copy()  # (rows' indices in any order)
    X.has_sorted_indices = False
    expected = np.unique(X.indices)
    k = len(expected)
    assert Data(X).stored_columns(at_most=k - 1) is None
    data = Data(X)
    assert data.stored_columns(at_most=k - 1) is None
    assert_array_equal(data.stored_columns(), expected)
    assert_array_equal(data.stored_columns(at_most=k), expected)
    assert data.stored_columns(at_most=k - 1) is None
    assert Data(X.toarray()).stored_columns() is None


def test_batch_keeps_all_columns_where_the_start_is_not_zero_on_them():
    # a start with weights on columns without entries: only the penalty
    # acts there, so the full problem is solved (they go to their optimum,
    # 0; on the stored columns alone they would have stayed at 1)
    X, y3, _ = _text_with_unused_columns()
    y = (y3 == 2).astype(int)
    empty = np.flatnonzero(np.bincount(X.indices, minlength=X.shape[1]) == 0)[:5]
    coef = np.zeros((1, X.shape[1]))
    coef[0, empty] = 1.0
    est = GDClassifier(mode="batch", loss="log_loss", alpha=1e-2, max_iter=50,
                       tol=None).fit(X, y, coef_init=coef)
    assert np.all(np.abs(est.coef_[0, empty]) < 1e-6)


def _dual_residual(A, target, lo, hi, scale):
    """``min ||A u - target||`` over ``lo <= u <= hi`` (SciPy's bounded
    least squares), relative to ``scale``: 0 where the dual values that
    the optimality conditions ask for exist."""
    from scipy.optimize import lsq_linear

    free = lo < hi
    rest = target - A[:, ~free] @ lo[~free]
    if free.any():
        rest = rest - A[:, free] @ lsq_linear(A[:, free], rest,
                                              bounds=(lo[free], hi[free]),
                                              tol=1e-14).x
    return np.linalg.norm(rest) / scale


def _hinge_kkt_residual(X, y, s, w, b, l2, fit_intercept):
    """How far ``(w, b)`` is from the optimality conditions of the hinge
    with an L2 penalty, ``sum_i s_i max(0, 1 - y_i p_i) + l2 / 2 ||w||^2``
    (``s`` summing to 1), relative to ``l2 ||w||``: the dual values ``a``
    (1 on rows inside the margin, 0 beyond it, in [0, 1] on it) of
    ``l2 w = X' S Y a`` and ``(S Y a).sum() = 0``."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
    margin = y * (Xd @ w + b)
    on = np.abs(margin - 1.0) <= 1e-7
    lo = np.where(margin < 1.0, 1.0, 0.0)
    hi = np.where(on, 1.0, lo)
    lo[on] = 0.0
    A = (Xd * (s * y)[:, None]).T
    target = l2 * w
    if fit_intercept:
        A = np.vstack([A, s * y])
        target = np.append(target, 0.0)
    return _dual_residual(A, target, lo, hi, l2 * np.linalg.norm(w))


def _hinge_cases():
    X, y = load_breast_cancer(return_X_y=True)
    Xs = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(0)
    digits_X, digits_y = load_digits(return_X_y=True)
    pair = (digits_y == 3) | (digits_y == 8)
    Xg, yg = make_classification(300, 40, n_informative=5, n_redundant=10,
                                 flip_y=0.05, random_state=0)
    Xt = sp.random(200, 1000, density=0.02, format="csr", random_state=1)
    scores = Xt @ rng.normal(size=1000) + rng.normal(0, 0.1, 200)
    yt = scores > np.median(scores)
    # more columns than rows, two thirds of them on the margin: the Newton
    # steps took 3.7 s and stopped short (their systems are of the band's
    # rows, which grows by a few dozen rows a step); the dual finds them
    Xw, yw = make_classification(400, 1500, n_informative=20, random_state=0)
    # columns of scale 1e3: w of 1e-3, and w = -(c + X_K' v) / l2 from the
    # kink rows' duals cancelled to residuals of 7e-8 (a warning, 3.6%
    # above the optimum); solved in the columns' space
    Xk, yk = make_classification(2000, 20, random_state=0)
    # binary rows, repeated (1 in 5 entries set, 20 columns), with weights:
    # more rows on the margin than columns, so that their duals are not
    # unique and the minimum-norm ones left their bounds (a9a with
    # sample_weight: a warning, 2e-5 above the optimum)
    rb = np.random.RandomState(0)
    Xb = (rb.rand(4000, 20) < 0.2).astype(float)
    yb = (Xb @ rb.normal(size=20) + 0.8 * rb.normal(size=4000) > 0).astype(int)
    sb = rb.uniform(0.2, 3.0, 4000)
    return {
        "breast cancer, standardised": (Xs, y, None, True),
        "breast cancer as shipped": (X, y, None, True),
        "digits 3 against 8": (StandardScaler().fit_transform(digits_X[pair]),
                               digits_y[pair], None, True),
        "redundant columns, weighted": (Xg, yg, rng.uniform(0.2, 2.0, 300), True),
        "no intercept": (Xs, y, None, False),
        "wide CSR": (Xt, yt.astype(int), None, True),
        "wide dense, weighted": (Xw, yw, rng.uniform(0.2, 2.0, 400), True),
        "wide dense, no intercept": (Xw, yw, None, False),
        "columns of scale 1e3": (Xk * 1e3, yk, None, True),
        "repeated binary rows, weighted": (Xb, yb, sb, True),
    }


@pytest.mark.parametrize("case", list(_hinge_cases()))
def test_batch_hinge_reaches_the_optimum_at_the_defaults(case):
    # the classifier's default loss and penalty in batch mode: the
    # smoothing continuation alone stopped 0.2-10% above the optimum (1.2%
    # on standardised breast cancer, with a warning); Newton steps on the
    # smoothed hinge and the margin rows' linear system find it exactly.
    # Oracles: the optimality conditions, with the dual values found by
    # SciPy's bounded least squares; libsvm's objective (SVC, tol 1e-10)
    X, y, sw, fit_intercept = _hinge_cases()[case]
    alpha = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDClassifier(mode="batch", fit_intercept=fit_intercept,
                           random_state=0).fit(X, y, sample_weight=sw)
    s = np.ones(len(y)) if sw is None else sw
    s = s / s.sum()
    yy = np.where(y == est.classes_[1], 1.0, -1.0)
    w, b = est.coef_[0], est.intercept_[0]
    assert _hinge_kkt_residual(X, yy, s, w, b, alpha, fit_intercept) <= 1e-7
    if fit_intercept and case not in ("breast cancer as shipped",
                                      "columns of scale 1e3"):
        # (libsvm does not converge on the unscaled columns)
        from sklearn.svm import SVC

        def F(w, b):
            return s @ np.maximum(0.0, 1.0 - yy * (X @ w + b)) + 0.5 * alpha * w @ w

        svc = SVC(kernel="linear", C=1.0 / alpha, tol=1e-10).fit(X, yy, sample_weight=s)
        w_svc = svc.coef_.toarray() if sp.issparse(svc.coef_) else svc.coef_
        assert F(w, b) <= F(w_svc.ravel(), svc.intercept_[0]) * (1 + 1e-9)


def test_batch_hinge_optimum_of_float32_data():
    # float32 stays float32, and the polish verifies its optimum in float64
    # (float32 predictions cannot meet its tolerance: the fit warned): the
    # model is that of the same numbers in float64, rounded to float32
    X, y = load_breast_cancer(return_X_y=True)
    X32 = StandardScaler().fit_transform(X).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est32 = GDClassifier(mode="batch").fit(X32, y)
        est64 = GDClassifier(mode="batch").fit(X32.astype(np.float64), y)
    assert est32.coef_.dtype == np.float32
    assert_allclose(est32.coef_, est64.coef_, rtol=1e-6,
                    atol=1e-6 * np.abs(est64.coef_).max())
    assert_allclose(est32.intercept_, est64.intercept_, rtol=1e-6)


def _epsilon_insensitive_kkt_residual(X, y, s, w, b, l2, epsilon, fit_intercept):
    """:func:`_hinge_kkt_residual` for ``sum_i s_i max(0, |y_i - p_i| -
    epsilon) + l2 / 2 ||w||^2``: the derivatives ``u`` (-1 above the tube,
    1 below, 0 inside, between on its edges) of ``l2 w = -X' S u`` and
    ``(S u).sum() = 0``."""
    r = y - (X @ w + b)
    edge = 1e-7
    lo = np.where(r > epsilon - edge, -1.0, 0.0)
    hi = np.where(r < -epsilon + edge, 1.0, 0.0)
    lo[r < -epsilon - edge] = 1.0
    hi[r > epsilon + edge] = -1.0
    A = -(X * s[:, None]).T
    target = l2 * w
    if fit_intercept:
        A = np.vstack([A, -s])
        target = np.append(target, 0.0)
    return _dual_residual(A, target, lo, hi, l2 * np.linalg.norm(w))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("case", ["500 x 20", "500 x 20, bias 100", "300 x 1000"])
def test_batch_epsilon_insensitive_reaches_the_optimum(case, fit_intercept):
    # the epsilon-insensitive loss with an L2 penalty is the hinge on each
    # row twice: the same route solves it (the continuation alone stopped
    # above the optimum, with a warning, on these data).  With more columns
    # than rows, the Newton steps' systems are of the band's rows, and they
    # stopped short of tol too (300 x 1000: 0.9 s and a warning; 800 x
    # 2000: 8.4 s): the dual (each row a pair of hinges) finds the rows on
    # the tube's edges.  Oracle: the optimality conditions, the derivatives
    # found by SciPy's bounded least squares
    if case == "300 x 1000":
        X, y = make_regression(300, 1000, n_informative=20, noise=1.0, random_state=0)
    else:
        X, y = make_regression(500, 20, noise=1.0, bias=100.0 * ("bias" in case),
                               random_state=0)
    y = y / y.std()
    sw = np.random.RandomState(0).uniform(0.2, 2.0, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDRegressor(mode="batch", loss="epsilon_insensitive",
                          fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    b = est.intercept_[0] if fit_intercept else 0.0
    assert _epsilon_insensitive_kkt_residual(X, y, sw / sw.sum(), est.coef_, b,
                                             1e-4, 0.1, fit_intercept) <= 1e-7


def test_batch_nonsmooth_warns_where_it_stops_short_of_tol(monkeypatch):
    # without the exact polish (its Newton steps given no budget), the
    # continuation stops about 1% above the optimum on breast cancer: the
    # fit says so, with a bound of the gap that holds (oracle: libsvm's
    # dual solution, SVC)
    import re

    from sklearn.svm import SVC

    import skgd._hinge_newton

    monkeypatch.setattr(skgd._hinge_newton, "MAX_ITER", 0)
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    yy = np.where(y == 1, 1.0, -1.0)
    alpha = 1e-4

    def F(w, b):
        return (np.maximum(0.0, 1.0 - yy * (X @ w + b)).mean()
                + 0.5 * alpha * w @ w)

    svc = SVC(kernel="linear", C=1.0 / (len(y) * alpha), tol=1e-10).fit(X, y)
    F_star = F(svc.coef_[0], svc.intercept_[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = GDClassifier(mode="batch", alpha=alpha).fit(X, y)
    F_fit = F(est.coef_[0], est.intercept_[0])
    assert F_fit > F_star * (1 + 1e-4)  # (the case this test is about)
    messages = [str(w.message) for w in caught
                if issubclass(w.category, ConvergenceWarning)]
    found = [re.search(r"at most ([0-9.e+-]+)% above the optimum", m)
             for m in messages]
    bounds = [float(m.group(1)) / 100 for m in found if m]
    assert len(bounds) == 1 and "'hinge'" in messages[0]
    assert F_fit - F_star <= bounds[0] * F_fit
    # a smooth loss is solved to tol: no such warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GDClassifier(mode="batch", loss="squared_hinge", alpha=alpha).fit(X, y)
