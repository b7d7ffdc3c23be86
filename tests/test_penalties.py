"""Penalties: values, strengths, soft thresholding, and the lazy (cumulative)
L1 penalty of the compiled pass against the eager NumPy reference."""

import _reference as ref
import numpy as np
import pytest
from conftest import (
    COEF0,
    N_SAMPLES,
    as_container,
    compiled_epochs,
    make_data,
    make_sparse_data,
    reference_epochs,
)
from numpy.testing import assert_allclose, assert_array_equal
from skgd._gd_fast import PenaltyKind

from skgd._losses import get_loss
from skgd._penalties import get_penalty

W = np.array([1.5, -2.0, 0.0, 0.25, -0.1])
SQ = 1.5**2 + 2.0**2 + 0.25**2 + 0.1**2  # ||W||^2 = 6.3225
L1 = 1.5 + 2.0 + 0.25 + 0.1  # ||W||_1 = 3.85


@pytest.mark.parametrize(
    "penalty, l1_ratio, kind, value",
    [
        (None, 0.15, PenaltyKind.PENALTY_NONE, 0.0),
        ("l2", 0.15, PenaltyKind.PENALTY_L2, 0.3 * 0.5 * SQ),
        ("l1", 0.15, PenaltyKind.PENALTY_L1, 0.3 * L1),
        ("elasticnet", 0.15, PenaltyKind.PENALTY_ELASTICNET,
         0.3 * (0.85 * 0.5 * SQ + 0.15 * L1)),
        ("elasticnet", 1.0, PenaltyKind.PENALTY_ELASTICNET, 0.3 * L1),
        ("elasticnet", 0.0, PenaltyKind.PENALTY_ELASTICNET, 0.3 * 0.5 * SQ),
    ],
)
def test_values_and_kinds(penalty, l1_ratio, kind, value):
    pen = get_penalty(penalty, 0.3, l1_ratio)
    assert pen.kind == kind
    assert_allclose(pen.value(W), value, rtol=1e-14)
    assert_allclose(pen.value(W), ref.penalty_value(W, penalty, 0.3, l1_ratio),
                    rtol=1e-14)
    assert_allclose(pen.value(np.zeros(5)), 0.0)


@pytest.mark.parametrize(
    "penalty, l1_ratio, l2_strength, l1_strength",
    [(None, 0.15, 0.0, 0.0), ("l2", 0.15, 0.3, 0.0), ("l1", 0.15, 0.0, 0.3),
     ("elasticnet", 0.25, 0.3 * 0.75, 0.3 * 0.25)],
)
def test_strengths_and_smooth_gradient(penalty, l1_ratio, l2_strength, l1_strength):
    pen = get_penalty(penalty, 0.3, l1_ratio)
    assert_allclose(pen.l2_strength, l2_strength, rtol=1e-15)
    assert_allclose(pen.l1_strength, l1_strength, rtol=1e-15)
    assert_allclose(pen.gradient_smooth(W), l2_strength * W, rtol=1e-15)
    # the gradient of the smooth part is the finite difference of its value
    h = 1e-6
    smooth = get_penalty("l2" if penalty else None, l2_strength, 0.0)
    fd = np.array([(smooth.value(W + h * e) - smooth.value(W - h * e)) / (2 * h)
                   for e in np.eye(len(W))])
    assert_allclose(pen.gradient_smooth(W), fd, rtol=1e-7, atol=1e-9)


def test_unknown_penalty():
    with pytest.raises(ValueError, match="unknown penalty"):
        get_penalty("l3", 0.1, 0.15)


@pytest.mark.parametrize(
    "eta, expected",
    [
        (1.0, [1.2, -1.7, 0.0, 0.0, 0.0]),  # threshold 0.3
        (0.5, [1.35, -1.85, 0.0, 0.1, 0.0]),  # threshold 0.15
        (10.0, [0.0, 0.0, 0.0, 0.0, 0.0]),  # threshold 3
    ],
)
def test_prox_l1_soft_thresholding(eta, expected):
    pen = get_penalty("l1", 0.3, 0.15)
    out = pen.prox_l1(W, eta)
    assert_allclose(out, expected, rtol=1e-14, atol=1e-15)
    assert_allclose(out, ref.soft_threshold(W, eta * 0.3), rtol=1e-14, atol=1e-15)


def test_prox_l1_is_the_proximal_operator():
    """prox(w) minimises 0.5 ||z - w||^2 + thr ||z||_1 (checked on a grid)."""
    pen = get_penalty("elasticnet", 0.4, 0.5)
    thr = 0.7 * 0.4 * 0.5
    out = pen.prox_l1(W, 0.7)
    grid = np.linspace(-3, 3, 60001)
    for wj, zj in zip(W, out):
        f = 0.5 * (grid - wj) ** 2 + thr * np.abs(grid)
        assert abs(grid[np.argmin(f)] - zj) <= 1e-4


@pytest.mark.parametrize("penalty", [None, "l2"])
def test_prox_without_l1_part_is_identity(penalty):
    pen = get_penalty(penalty, 0.3, 0.15)
    assert_array_equal(pen.prox_l1(W, 1.0), W)


# ----------------------------------------------------------------------------
# the L1 part of the compiled pass


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
@pytest.mark.parametrize("batch_size", [1, 3, N_SAMPLES])
@pytest.mark.parametrize("container", ["dense", "csr"])
def test_lazy_l1_equals_eager_reference(container, batch_size, penalty):
    """The compiled pass (weight scale, cumulative penalty applied lazily in
    O(nnz), norms tracked incrementally) equals the reference that keeps w
    explicitly and applies the cumulative penalty eagerly to every touched
    coordinate; alpha is strong so that weights get clipped at zero."""
    X, y = make_sparse_data("binary")
    Xc = as_container(X, container)
    sw = np.random.RandomState(3).uniform(0.5, 1.5, N_SAMPLES)
    kw = dict(batch_size=batch_size, alpha=0.3, l1_ratio=0.6, n_epochs=6)
    state, outs = compiled_epochs(Xc, y, sw, "modified_huber", penalty, **kw)
    rstate, routs = reference_epochs(Xc, y, sw, "modified_huber", penalty, **kw)
    assert_allclose(state.coef(), rstate.w, rtol=1e-10, atol=1e-12)
    assert_allclose(state.intercept, rstate.b, rtol=1e-10, atol=1e-12)
    assert_allclose(np.asarray(state.q), rstate.q, rtol=1e-10, atol=1e-12)
    assert_allclose(state.u, rstate.u, rtol=1e-12)
    assert_allclose(np.array(outs), np.array(routs), rtol=1e-10, atol=1e-12)
    # some weights are exactly zero (the point of the L1 part)
    assert np.any(state.coef() == 0.0)
    assert_array_equal(state.coef() == 0.0, rstate.w == 0.0)
    assert_allclose(state.penalty_value(),
                    ref.penalty_value(rstate.w, penalty, 0.3, 0.6), rtol=1e-10)


@pytest.mark.parametrize("container", ["dense", "csr_all"])
def test_cumulative_penalty_total_is_u(container):
    """u accumulates sum_t eta_t alpha; a weight whose column is zero (dense,
    or explicit zeros in CSR) is not touched and keeps its value, so dense and
    CSR give the same model."""
    X = np.zeros((5, 2))
    X[:, 0] = 1.0  # column 1: zeros (dense / stored explicitly): never touched
    Xc = as_container(X, container)
    y = np.ones(5)
    etas = lambda t: 0.1 * np.ones(len(t))  # noqa: E731
    kw = dict(alpha=0.2, coef0=np.array([0.0, 5.0]), n_epochs=2, etas=etas,
              fit_intercept=False)
    state, _ = compiled_epochs(Xc, y, np.ones(5), "squared_error", "l1", **kw)
    assert_allclose(state.u, 10 * 0.1 * 0.2, rtol=1e-14)
    assert state.coef()[1] == 5.0
    assert state.q[1] == 0.0


def test_pure_l1_first_step_is_soft_thresholding():
    """With q = 0 the first cumulative step is the proximal step of batch mode."""
    X, y = make_data("binary")
    n = X.shape[0]
    kw = dict(batch_size=n, n_epochs=1, alpha=0.1, etas=lambda t: np.full(len(t), 0.5))
    state, _ = compiled_epochs(X, y, np.ones(n), "hinge", "l1", **kw)
    w, b = ref.full_gradient_step(X, y, np.ones(n), COEF0, 0.1, 0.5,
                                  get_loss("hinge"), "l1", 0.1)
    assert_allclose(state.coef(), w, rtol=1e-12, atol=1e-14)
    assert_allclose(state.intercept, b, rtol=1e-12)
