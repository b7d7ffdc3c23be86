"""Losses: known values, derivative = finite difference of the value, and the
compiled twins (``loss.compiled().py_loss / py_dloss``) equal to the NumPy
reference methods."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgd._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, get_loss

EPSILON = 0.25  # exactly representable, so kink points are exact
ALL_LOSSES = sorted(set(CLASSIFICATION_LOSSES) | set(REGRESSION_LOSSES))
MARGIN_LOSSES = sorted(set(CLASSIFICATION_LOSSES) - set(REGRESSION_LOSSES))

# (loss, y, p, L(y, p), dL/dp(y, p)), computed by hand from the definitions.
E2 = np.exp(2.0)
KNOWN = [
    ("hinge", 1.0, 0.3, 0.7, -1.0),
    ("hinge", -1.0, 0.3, 1.3, 1.0),
    ("hinge", 1.0, 2.0, 0.0, 0.0),
    ("hinge", -1.0, -3.0, 0.0, 0.0),
    ("perceptron", 1.0, -0.5, 0.5, -1.0),
    ("perceptron", -1.0, -0.5, 0.0, 0.0),
    ("perceptron", -1.0, 2.0, 2.0, 1.0),
    ("squared_hinge", 1.0, 0.3, 0.49, -1.4),
    ("squared_hinge", -1.0, 0.5, 2.25, 3.0),
    ("squared_hinge", 1.0, 1.5, 0.0, 0.0),
    ("modified_huber", 1.0, 0.5, 0.25, -1.0),
    ("modified_huber", 1.0, -2.0, 8.0, -4.0),
    ("modified_huber", -1.0, 3.0, 12.0, 4.0),
    ("modified_huber", 1.0, 2.0, 0.0, 0.0),
    ("modified_huber", -1.0, 0.0, 1.0, 2.0),
    ("log_loss", 1.0, 0.0, np.log(2.0), -0.5),
    ("log_loss", -1.0, 2.0, np.log1p(E2), E2 / (1.0 + E2)),
    ("log_loss", 1.0, 2.0, np.log1p(1.0 / E2), -1.0 / (1.0 + E2)),
    ("log_loss", -1.0, 800.0, 800.0, 1.0),  # no overflow
    ("log_loss", 1.0, 800.0, 0.0, 0.0),
    ("squared_error", 1.5, 0.5, 0.5, -1.0),
    ("squared_error", -1.0, 2.0, 4.5, 3.0),
    ("huber", 0.0, 0.1, 0.005, 0.1),
    ("huber", 0.0, 2.0, 0.25 * (2.0 - 0.125), 0.25),
    ("huber", 1.0, -1.0, 0.25 * (2.0 - 0.125), -0.25),
    ("epsilon_insensitive", 1.0, 0.5, 0.25, -1.0),
    ("epsilon_insensitive", 1.0, 1.125, 0.0, 0.0),
    ("epsilon_insensitive", 1.0, 2.0, 0.75, 1.0),
    ("squared_epsilon_insensitive", 1.0, 0.5, 0.0625, -0.5),
    ("squared_epsilon_insensitive", 1.0, 1.125, 0.0, 0.0),
    ("squared_epsilon_insensitive", 1.0, 2.0, 0.5625, 1.5),
]


@pytest.mark.parametrize("impl", ["numpy", "compiled"])
@pytest.mark.parametrize("name, y, p, value, deriv", KNOWN)
def test_known_values(name, y, p, value, deriv, impl):
    loss = get_loss(name, EPSILON)
    if impl == "numpy":
        lv, dv = loss.loss(np.array([y]), np.array([p])), loss.dloss(np.array([y]), np.array([p]))
    else:
        cy = loss.compiled()
        lv, dv = cy.py_loss([y], [p]), cy.py_dloss([y], [p])
    assert_allclose(lv, [value], rtol=1e-14, atol=1e-300)
    assert_allclose(dv, [deriv], rtol=1e-14, atol=1e-300)


def _points(name):
    """(y, p) pairs at least 0.05 away from every kink of the loss."""
    if name in MARGIN_LOSSES:
        # kinks at y p in {-1, 0, 1}
        ps = [-3.1, -1.7, -0.6, -0.2, 0.2, 0.45, 1.3, 2.4]
        return [(y, p) for y in (-1.0, 1.0) for p in ps]
    # kinks at y - p in {-epsilon, 0, epsilon}
    offsets = [-2.3, -0.6, -0.1, 0.12, 0.4, 1.9]
    return [(y, y + o) for y in (-0.7, 1.2) for o in offsets]


@pytest.mark.parametrize("impl", ["numpy", "compiled"])
@pytest.mark.parametrize("name", ALL_LOSSES)
def test_dloss_is_finite_difference_of_loss(name, impl):
    loss = get_loss(name, EPSILON)
    if impl == "compiled":
        cy = loss.compiled()
        f, df = cy.py_loss, cy.py_dloss
    else:
        f, df = loss.loss, loss.dloss
    y, p = map(np.array, zip(*_points(name)))
    h = 1e-6
    fd = (f(y, p + h) - f(y, p - h)) / (2.0 * h)
    assert_allclose(df(y, p), fd, rtol=1e-6, atol=1e-7)


def _compare_points(name):
    """Random points plus the exact kinks (equality conventions must match)."""
    rng = np.random.RandomState(0)
    if name in MARGIN_LOSSES:
        y = np.where(rng.uniform(size=200) > 0.5, 1.0, -1.0)
        p = 4.0 * rng.randn(200)
        ky = np.array([1.0, -1.0] * 3)
        kp = np.array([1.0, -1.0, 0.0, 0.0, -1.0, 1.0])
        # and far in the tails
        ty = np.array([1.0, -1.0, 1.0, -1.0])
        tp = np.array([700.0, 700.0, -700.0, -700.0])
    else:
        y = 3.0 * rng.randn(200)
        p = y + 2.0 * rng.randn(200)
        ky = np.array([1.0, 1.0, 1.0, -0.5, -0.5])
        kp = np.array([1.0 + EPSILON, 1.0 - EPSILON, 1.0, -0.5 + EPSILON, -0.5 - EPSILON])
        ty = np.array([0.0, 0.0])
        tp = np.array([1e6, -1e6])
    return np.concatenate([y, ky, ty]), np.concatenate([p, kp, tp])


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_compiled_equals_numpy(name):
    loss = get_loss(name, EPSILON)
    cy = loss.compiled()
    y, p = _compare_points(name)
    assert_allclose(cy.py_loss(y, p), loss.loss(y, p), rtol=1e-13, atol=1e-15)
    # the NumPy logistic derivative goes through tanh: accurate to ~1e-16
    # absolutely, not relatively, in the far tail
    assert_allclose(cy.py_dloss(y, p), loss.dloss(y, p), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_loss_is_nonnegative_and_zero_derivative_where_flat(name):
    loss = get_loss(name, EPSILON)
    y, p = map(np.array, zip(*_points(name)))  # away from kinks: at the hinge's
    lv = loss.loss(y, p)                       # kink dL is the subgradient -y
    assert np.all(lv >= 0.0)
    if name != "log_loss":
        # every other loss is exactly flat (value 0, derivative 0) where it is 0
        zero = lv == 0.0
        assert np.all(loss.dloss(y, p)[zero] == 0.0)


SMOOTH_LOSSES = [n for n in ALL_LOSSES if get_loss(n, EPSILON).smoothness is not None]


def test_smooth_losses_are_the_differentiable_ones():
    assert set(ALL_LOSSES) - set(SMOOTH_LOSSES) == {
        "hinge", "perceptron", "epsilon_insensitive"
    }


@pytest.mark.parametrize("name", SMOOTH_LOSSES)
def test_smoothness_bounds_second_derivative(name):
    """``smoothness`` (used for FISTA's step 1/L) bounds |d2L/dp2|."""
    loss = get_loss(name, EPSILON)
    y, p = _compare_points(name)
    keep = np.abs(p) < 100
    y, p = y[keep], p[keep]
    h = 1e-5
    d2 = (loss.dloss(y, p + h) - loss.dloss(y, p - h)) / (2 * h)
    assert np.all(np.abs(d2) <= loss.smoothness * (1 + 1e-6) + 1e-6)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_compiled_losses_pickle(name):
    """The compiled losses keep their parameters through pickling (threads of
    a multiclass fit and joblib may copy them)."""
    cy = get_loss(name, EPSILON).compiled()
    cy2 = pickle.loads(pickle.dumps(cy))
    y, p = _compare_points(name)
    assert_allclose(cy2.py_loss(y, p), cy.py_loss(y, p), rtol=0, atol=0)
    assert_allclose(cy2.py_dloss(y, p), cy.py_dloss(y, p), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["hinge", "perceptron", "epsilon_insensitive",
                                  "squared_error", "huber", "squared_hinge",
                                  "modified_huber", "log_loss"])
def test_loss_conjugate_is_the_supremum(name):
    """Batch mode's duality gap uses ``L*(y, u) = sup_p (u p - L(y, p))``
    (:func:`skgd._batch.loss_conjugate`): equal to the supremum found
    numerically, at derivatives ``u = dL/dp`` of the loss (its range)."""
    from scipy.optimize import minimize_scalar

    from skgd._batch import loss_conjugate

    loss = get_loss(name, epsilon=EPSILON)
    regression = name in ("squared_error", "huber", "epsilon_insensitive")
    for y in ((-1.3, 0.0, 2.5) if regression else (-1.0, 1.0)):
        yy = np.array([y])
        # u = dL/dp at points on both sides of the kinks / curved parts
        for p0 in (-2.1, -0.7, -0.1, 0.2, 0.9, 1.6):
            u = float(loss.dloss(yy, np.array([p0]))[0])

            def negated(p, u=u):
                return -(u * p - float(loss.loss(yy, np.array([p]))[0]))

            found = -minimize_scalar(negated, bounds=(-50.0, 50.0), method="bounded",
                                     options={"xatol": 1e-12}).fun
            assert_allclose(loss_conjugate(loss, yy, np.array([u]))[0], found,
                            rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_steps_every_row_holds_where_the_derivative_vanishes_at_a_point(name):
    """``CyLoss.steps_every_row`` (sgd mode then sums a dense row's dot
    inside the add of the row before it) is set exactly for the losses whose
    derivative is 0 at one point at most: on a grid of predictions, the
    NumPy reference's derivative has at most one zero for those, an
    interval of zeros for the others."""
    loss = get_loss(name, EPSILON)
    p = np.linspace(-4.0, 4.0, 8001)
    zeros = max(np.count_nonzero(loss.dloss(np.full_like(p, y), p) == 0.0)
                for y in (-1.0, 1.0))
    assert loss.compiled().steps_every_row == (zeros <= 1)
