"""Step-size schedules against their formulas (t counts updates from 1)."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgd._losses import CLASSIFICATION_LOSSES, get_loss
from skgd._schedules import (
    Adaptive,
    Constant,
    InverseScaling,
    Optimal,
    get_schedule,
)

def test_constant():
    assert_allclose(Constant(0.07).steps(1, 50), np.full(50, 0.07), rtol=0)
    assert Constant(0.07).on_no_improvement() is False


@pytest.mark.parametrize("eta0, power_t", [(0.01, 0.25), (0.5, 0.5), (1.0, 1.0),
                                           (0.2, 0.0)])
def test_invscaling(eta0, power_t):
    s = InverseScaling(eta0, power_t)
    expected = [eta0 / t**power_t for t in range(1, 51)]
    assert_allclose(s.steps(1, 50), expected, rtol=1e-15)
    assert_allclose(s.steps(1, 1), [eta0], rtol=0)


def _sklearn_t0(alpha, loss):
    # scikit-learn's _plain_sgd: typw = sqrt(1 / sqrt(alpha));
    # initial_eta0 = typw / max(1, dloss(y=1, p=-typw)); t0 = 1 / (initial_eta0 alpha)
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    dl = float(loss.dloss(np.array([1.0]), np.array([-typw]))[0])
    return 1.0 / (typw / max(1.0, dl) * alpha), typw / max(1.0, dl)


@pytest.mark.parametrize("loss", list(CLASSIFICATION_LOSSES))
@pytest.mark.parametrize("alpha", [1e-4, 0.01, 3.0])
def test_optimal(alpha, loss):
    lo = get_loss(loss, 0.1)
    s = Optimal(alpha, lo)
    t0, first = _sklearn_t0(alpha, lo)
    assert_allclose(s.t0, t0, rtol=1e-14)
    expected = [1.0 / (alpha * (t0 + t - 1)) for t in range(1, 51)]
    assert_allclose(s.steps(1, 50), expected, rtol=1e-14)
    # the first step is the "typical weight" typw / max(1, dL(1, -typw))
    assert_allclose(s.steps(1, 1)[0], first, rtol=1e-14)


@pytest.mark.parametrize("t", [1, 977, 2**31 + 5, 2**52 - 100])
def test_optimal_steps_are_sklearns_numbers(t):
    # scikit-learn's SGD computes eta = 1 / (alpha (optimal_init + t - 1))
    # per sample in doubles: the same operations in the same order give the
    # same bits (Python's floats are those doubles)
    s = Optimal(3e-5, get_loss("log_loss"))
    expected = [1.0 / (s.alpha * (s.t0 + float(t + i) - 1.0)) for i in range(40)]
    np.testing.assert_array_equal(s.steps(t, 40), expected)
    assert s.steps(t, 0).shape == (0,)


@pytest.mark.parametrize("power_t", [0.25, 0.5, 0.7])
@pytest.mark.parametrize("t", [1, 977, 2**31 + 5])
def test_inverse_scaling_steps_are_sklearns_numbers(t, power_t):
    # eta0 / pow(t, power_t) with the C library's pow, as scikit-learn's SGD
    # (Python's math.pow is that pow; NumPy's vectorised power differed from
    # it in the last bit for 5% of the counters)
    s = InverseScaling(0.01, power_t)
    expected = [0.01 / math.pow(float(t + i), power_t) for i in range(40)]
    np.testing.assert_array_equal(s.steps(t, 40), expected)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_long_epochs_steps_on_threads_are_the_same_numbers(n_threads):
    # from MIN_PARALLEL_VALUES steps an epoch's are computed on the OpenMP
    # threads, each step alone: the numbers of one thread, and scikit-learn's
    from threadpoolctl import threadpool_limits

    from skgd._validation import MIN_PARALLEL_VALUES

    n = MIN_PARALLEL_VALUES + 17
    inv, opt = InverseScaling(0.01, 0.25), Optimal(1e-4, get_loss("hinge"))
    with threadpool_limits(n_threads, user_api="openmp"):
        steps = inv.steps(977, n), opt.steps(977, n)
    for i in (0, 1, n // 2, n - 1):
        assert steps[0][i] == 0.01 / math.pow(float(977 + i), 0.25)
        assert steps[1][i] == 1.0 / (opt.alpha * (opt.t0 + float(977 + i) - 1.0))
    with threadpool_limits(1, user_api="openmp"):
        np.testing.assert_array_equal(inv.steps(977, n), steps[0])
        np.testing.assert_array_equal(opt.steps(977, n), steps[1])


def test_optimal_known_value():
    # alpha = 1e-4: typw = 1e-4 ** -0.25 = 10, hinge dL(1, -10) = -1 -> eta_1 = 10
    s = Optimal(1e-4, get_loss("hinge"))
    assert_allclose(s.t0, 1000.0, rtol=1e-14)
    assert_allclose(s.steps(1, 1001)[[0, 1, 1000]], [10.0, 1e4 / 1001, 5.0], rtol=1e-14)


def test_adaptive_divides_by_5_until_1e_6():
    s = Adaptive(1.0)
    assert_allclose(s.steps(1, 3), [1.0, 1.0, 1.0], rtol=0)
    seen = [s.eta]
    while s.on_no_improvement():
        seen.append(s.eta)
        assert_allclose(s.steps(7, 1), [s.eta], rtol=0)
    # 1, 0.2, ..., 5^-9 = 5.12e-7: divided while eta > 1e-6, then stop
    assert_allclose(seen, [5.0**-k for k in range(10)], rtol=1e-14)
    assert seen[-2] > 1e-6 >= seen[-1]
    assert s.on_no_improvement() is False
    assert_allclose(s.eta, 5.0**-9, rtol=1e-14)


def test_adaptive_from_just_above_floor():
    s = Adaptive(1.2e-6)
    assert s.on_no_improvement() is True
    assert_allclose(s.eta, 2.4e-7, rtol=1e-14)
    assert s.on_no_improvement() is False


@pytest.mark.parametrize(
    "name, cls",
    [("constant", Constant), ("pa1", Constant), ("pa2", Constant),
     ("invscaling", InverseScaling), ("optimal", Optimal), ("adaptive", Adaptive)],
)
def test_get_schedule(name, cls):
    s = get_schedule(name, 0.05, 0.3, 0.01, get_loss("log_loss"))
    assert type(s) is cls
    if cls is not Optimal:
        assert_allclose(s.steps(1, 1)[0], 0.05, rtol=1e-15)
    with pytest.raises(ValueError, match="unknown learning_rate"):
        get_schedule("bogus", 0.05, 0.3, 0.01, get_loss("log_loss"))
