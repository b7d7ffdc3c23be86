"""The pieces of batch mode's exact hinge solver (skgd._hinge_newton),
against plain NumPy references."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skgd._batch import _Subproblem
from skgd._hinge_newton import HingeView, line_search, newton_direction
from skgd._losses import get_loss
from skgd._penalties import get_penalty


def _smoothed(z, mu):
    """The hinge of the margin deficit ``z`` smoothed over ``mu``."""
    return np.where(z <= 0.0, 0.0, np.where(z < mu, 0.5 * z * z / mu, z - 0.5 * mu))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mu", [1.0, 1e-3, 1e-8])
def test_line_search_finds_the_minimum_along_the_direction(seed, mu):
    # phi(tau) = sum_i s_i h_mu(z_i - tau a_i) + c1 tau + c2 tau^2 / 2 is
    # convex: its minimiser is where its derivative (from its definition,
    # by central differences of phi) changes sign, checked on either side
    rng = np.random.RandomState(seed)
    n = 5000 if seed % 2 else 40  # (many breakpoints: the bracketing)
    z = rng.normal(0.0, 1.0, n) * rng.choice([mu, 1.0], n)
    a = rng.normal(0.0, 1.0, n) * (rng.rand(n) < 0.9)
    s = rng.uniform(0.1, 1.0, n) / n
    c1, c2 = -rng.uniform(0.0, 1.0), rng.uniform(0.0, 1e-3) * (seed != 0)

    def phi(tau):
        return float(s @ _smoothed(z - tau * a, mu) + c1 * tau + 0.5 * c2 * tau * tau)

    tau = line_search(z, a, s, mu, c1, c2)
    assert tau > 0.0
    h = 1e-7 * max(tau, 1e-6)
    assert phi(tau + h) >= phi(tau) - 1e-15 and phi(tau - h) >= phi(tau) - 1e-15
    grid = tau * np.linspace(0.0, 3.0, 601)
    assert phi(tau) <= min(phi(t) for t in grid) + 1e-15


def test_line_search_takes_no_step_uphill():
    z, a, s = np.array([0.5, -0.5]), np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    # phi'(0) = c1 + (0.5 * 1 * 0.5 - 0) > 0 with mu = 1
    assert line_search(z, a, s, 1.0, 0.1, 0.0) == 0.0


def _dense_newton(X, y, s, w, b, l2, mu, fit_intercept):
    """The Newton direction of the smoothed hinge from its Hessian and
    gradient, formed densely."""
    Xd = X.toarray() if sp.issparse(X) else X
    A = np.hstack([Xd, np.ones((len(y), 1))]) if fit_intercept else Xd
    z = 1.0 - y * (Xd @ w + b)
    band = (z > 0.0) & (z < mu)
    g = A.T @ (-s * y * np.clip(z / mu, 0.0, 1.0))
    g[:len(w)] += l2 * w
    H = A.T @ ((band * s / mu)[:, None] * A)
    H[np.arange(len(w)), np.arange(len(w))] += l2
    d = np.linalg.solve(H, -g)
    return d[:len(w)], (d[-1] if fit_intercept else 0.0)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shape, sparse", [((400, 20), False), ((60, 300), False),
                                           ((60, 300), True)])
def test_newton_direction_is_the_dense_newton_step(shape, sparse, fit_intercept):
    # tall data: the system of the columns; wide data: of the band's rows
    # (Woodbury's form, the intercept eliminated): both the dense solve's
    rng = np.random.RandomState(0)
    n, d = shape
    X = rng.normal(size=shape)
    if sparse:
        X = sp.csr_matrix(X * (rng.rand(*shape) < 0.1))
    y = np.where(rng.rand(n) < 0.5, 1.0, -1.0)
    s = rng.uniform(0.5, 1.5, n)
    s /= s.sum()
    w, b, l2, mu = rng.normal(0.0, 0.3, d), 0.1, 1e-3, 0.5
    sub = _Subproblem(X, y, s, get_loss("hinge", 0.1), get_penalty("l2", l2, 0.15),
                      fit_intercept)
    p = sub.predictions(w, b)
    band = np.sum((1.0 - y * p > 0.0) & (1.0 - y * p < mu))
    assert 0 < band < n
    dw, db, decrement, value = newton_direction(HingeView(sub), w, p, mu)
    ref_w, ref_b = _dense_newton(X, y, s, w, b, l2, mu, fit_intercept)
    assert_allclose(dw, ref_w, rtol=1e-8, atol=1e-10 * np.abs(ref_w).max())
    assert_allclose(db, ref_b, rtol=1e-8, atol=1e-12)
    z = 1.0 - y * p
    assert_allclose(value, s @ _smoothed(z, mu) + 0.5 * l2 * w @ w, rtol=1e-12)
    assert decrement > 0.0


@pytest.mark.parametrize("loss", ["hinge", "epsilon_insensitive"])
@pytest.mark.parametrize("sparse", [False, True])
def test_gram_blocks_are_the_rows_products(loss, sparse):
    # a system of fewer than half the data rows takes their own product; a
    # larger one makes the view keep the data rows' whole Gram matrix, whose
    # blocks later systems take (the epsilon-insensitive view's rows are
    # the data's twice: view row i + n is data row i)
    rng = np.random.RandomState(0)
    n, d = 50, 80
    X = rng.normal(size=(n, d)) * (rng.rand(n, d) < 0.2)
    X = sp.csr_matrix(X) if sparse else X
    Xd = X.toarray() if sparse else X
    y = rng.normal(size=n) if loss == "epsilon_insensitive" else np.sign(rng.normal(size=n))
    sub = _Subproblem(X, y, np.full(n, 1.0 / n), get_loss(loss, 0.1),
                      get_penalty("l2", 1e-3, 0.15), True)
    view = HingeView(sub)
    n_view = len(view.y)
    small = np.sort(rng.choice(n_view, n // 4, replace=False))
    large = np.sort(rng.choice(n_view, n, replace=False))
    for index, cached in ((small, False), (large, True), (small, True)):
        G = view.gram(index, view.rows(index))
        assert (view._gram is not None) == cached
        rows = Xd[index % n]
        assert_allclose(G, rows @ rows.T, rtol=1e-12, atol=1e-12)


def _dual_problem(n, d, twins, seed):
    """A hinge dual: the Gram matrix of ``n`` rows of ``d`` columns, its
    variables (each data row twice, with labels +1 and -1, as the
    epsilon-insensitive view has them, if ``twins``), labels, thresholds
    and bounds."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    K = X @ X.T
    if twins:
        rows = np.arange(2 * n) % n
        target = X @ rng.normal(size=d)
        y = np.concatenate([np.ones(n), -np.ones(n)])
        t = np.concatenate([target - 0.1, -(target + 0.1)])
    else:
        rows = np.arange(n)
        y = np.where(rng.rand(n) < 0.5, 1.0, -1.0)
        t = np.ones(n)
    upper = rng.uniform(0.5, 1.5, len(rows)) / n
    return K, rows, y, t, upper


@pytest.mark.parametrize("equality", [True, False])
@pytest.mark.parametrize("twins", [False, True])
@pytest.mark.parametrize("d", [60, 4])
def test_smo_solves_the_hinge_dual(d, twins, equality):
    # min 1/2 b'Qb - t'b on 0 <= b <= upper (and y'b = 0), Q = yy' K / l2:
    # the result is feasible, its kept gradient is Q b - t, and its value
    # is SciPy's SLSQP optimum of the same program (wide rows, and 4
    # columns: a Gram matrix of rank 4, many optima)
    from scipy.optimize import minimize

    from skgd._dual_fast import smo

    l2 = 1e-2
    K, rows, y, t, upper = _dual_problem(30, d, twins, seed=d)
    Q = np.outer(y, y) * K[np.ix_(rows, rows)] / l2
    beta, grad = np.zeros(len(y)), -t.copy()
    steps, violation = smo(K, rows, y, upper, 1.0 / l2, equality, beta, grad,
                           1e-10, 10**6)
    assert 0 < steps < 10**6 and violation < 1e-10
    assert np.all(beta >= 0.0) and np.all(beta <= upper)
    if equality:
        assert abs(y @ beta) <= 1e-12
    assert_allclose(grad, Q @ beta - t, rtol=0, atol=1e-9 * np.abs(t).max())

    def f(b):
        return 0.5 * b @ Q @ b - t @ b

    constraints = [{"type": "eq", "fun": lambda b: y @ b, "jac": lambda b: y}]
    ref = minimize(f, np.zeros(len(y)), jac=lambda b: Q @ b - t, method="SLSQP",
                   bounds=list(zip(np.zeros(len(y)), upper)),
                   constraints=constraints if equality else [],
                   options={"ftol": 1e-15, "maxiter": 1000})
    assert f(beta) <= ref.fun + 1e-9 * abs(ref.fun)


def test_smo_stops_after_its_steps():
    # a budget of steps, then the violation of where it stopped
    from skgd._dual_fast import smo

    K, rows, y, t, upper = _dual_problem(40, 60, False, seed=0)
    beta, grad = np.zeros(len(y)), -t.copy()
    steps, violation = smo(K, rows, y, upper, 100.0, True, beta, grad, 1e-12, 5)
    assert steps == 5 and violation > 1e-3
    assert np.count_nonzero(beta) <= 10


@pytest.mark.parametrize("loss", ["hinge", "epsilon_insensitive"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
def test_hinge_dual_finds_the_newton_routes_optimum(sparse, fit_intercept, loss):
    # wide rows: the dual's margin rows and their system give the optimum
    # that the Newton steps on the smoothed hinge find (verified by both on
    # the optimality conditions)
    from skgd._hinge_newton import hinge_dual, hinge_newton

    rng = np.random.RandomState(1)
    n, d = 80, 300
    X = rng.normal(size=(n, d)) * (rng.rand(n, d) < 0.1)
    X = sp.csr_matrix(X) if sparse else X
    scores = X @ rng.normal(size=d)
    y = scores if loss == "epsilon_insensitive" else np.sign(scores + 0.5 * rng.normal(size=n))
    s = rng.uniform(0.5, 1.5, n)
    sub = _Subproblem(X, y, s / s.sum(), get_loss(loss, 0.1), get_penalty("l2", 1e-3, 0.15),
                      fit_intercept)
    found = hinge_dual(HingeView(sub), 1e-9)
    assert found is not None
    import skgd._hinge_newton as hn

    w0 = np.zeros(d)
    saved = hn.DUAL_ROWS
    try:
        hn.DUAL_ROWS = 0  # the Newton route alone
        ref = hinge_newton(sub, w0, 0.0, 1e-9)
    finally:
        hn.DUAL_ROWS = saved
    assert ref is not None
    assert_allclose(found[0], ref[0], rtol=1e-6, atol=1e-8 * np.abs(ref[0]).max())
    assert_allclose(found[1], ref[1], rtol=1e-6, atol=1e-8)


def test_problems_of_the_same_rows_share_the_gram_matrix():
    # the one-vs-rest problems of a fit: one Gram matrix for all of them,
    # through the polish's memo; another set of weighted rows has its own
    rng = np.random.RandomState(0)
    n, d = 40, 90
    X = rng.normal(size=(n, d))
    s = np.full(n, 1.0 / n)
    memo = {}

    def view(y, s):
        return HingeView(_Subproblem(X, y, s, get_loss("hinge", 0.1),
                                     get_penalty("l2", 1e-3, 0.15), True, memo))

    G = view(np.sign(rng.normal(size=n)), s).data_gram()
    assert_allclose(G, X @ X.T, rtol=1e-12)
    assert view(np.sign(rng.normal(size=n)), s).data_gram() is G
    fewer = s.copy()
    fewer[:5] = 0.0
    G_fewer = view(np.sign(rng.normal(size=n)), fewer).data_gram()
    assert_allclose(G_fewer, X[5:] @ X[5:].T, rtol=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "epsilon_insensitive"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kink_rows_solved_in_the_columns_space(fit_intercept, loss, monkeypatch):
    # few columns: the margin rows' conditions solved for (w, b) on their
    # plane give the optimum that the Gram matrix of the rows gives
    # (the Gram route switched off for the second solve, as where the kink
    # rows are dependent)
    import skgd._hinge_newton as hn

    rng = np.random.RandomState(3)
    n, d = 300, 8
    X = rng.normal(size=(n, d))
    scores = X @ rng.normal(size=d)
    y = scores if loss == "epsilon_insensitive" else np.sign(scores + rng.normal(size=n))
    sub = _Subproblem(X, y, np.full(n, 1.0 / n), get_loss(loss, 0.1),
                      get_penalty("l2", 1e-3, 0.15), fit_intercept)
    ref = hn.hinge_newton(sub, np.zeros(d), 0.0, 1e-9)
    assert ref is not None
    # (no Gram route: no factor, and a singular system without its SVD)
    monkeypatch.setattr(hn, "_cholesky_system", lambda M, bordered: (None, True))
    monkeypatch.setattr(hn, "_svd_system", lambda M, bordered: None)
    found = hn.hinge_newton(sub, np.zeros(d), 0.0, 1e-9)
    assert found is not None
    assert_allclose(found[0], ref[0], rtol=1e-7, atol=1e-9)
    assert_allclose(found[1], ref[1], rtol=1e-7, atol=1e-9)


def test_a_failed_dual_is_not_solved_again(monkeypatch):
    # the fit's second polish attempt (the same rows, labels and weights)
    # goes to the Newton steps directly when the dual failed the first
    # time; another problem of the same rows still tries its own dual
    import skgd._hinge_newton as hn

    calls = []
    monkeypatch.setattr(hn, "hinge_dual", lambda view, rtol: calls.append(view) or None)
    rng = np.random.RandomState(0)
    n, d = 40, 100
    X = rng.normal(size=(n, d))
    y = np.sign(rng.normal(size=n))
    memo = {}

    def sub(y):
        return _Subproblem(X, y, np.full(n, 1.0 / n), get_loss("hinge", 0.1),
                           get_penalty("l2", 1e-2, 0.15), True, memo)

    assert hn.hinge_newton(sub(y), np.zeros(d), 0.0, 1e-9) is not None
    assert hn.hinge_newton(sub(y), np.zeros(d), 0.0, 1e-9) is not None
    assert len(calls) == 1
    hn.hinge_newton(sub(-y), np.zeros(d), 0.0, 1e-9)
    assert len(calls) == 2
