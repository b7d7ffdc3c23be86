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
