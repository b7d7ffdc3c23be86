"""Learning-rate schedules: the step size ``eta`` of update number ``t``.

``t`` counts updates and starts at 1 (scikit-learn's ``t_``): samples in
sgd mode, batches in minibatch mode, iterations in batch mode.  A schedule
gives the steps of a run of consecutive counters and knows nothing about
data.  Policies that look at whole epochs (``adaptive``) keep their state here
and are driven by the estimator's epoch loop.
"""

import numpy as np

from ._gd_fast import inverse_scaling_steps, optimal_steps
# (long epochs' steps on every OpenMP thread: each step is computed alone,
# so the numbers do not depend on the threads)
from ._validation import threads_for as _threads


class Schedule:
    """Base class: the step sizes of consecutive update counters."""

    def steps(self, t, n):
        """The steps of the ``n`` updates numbered ``t, ..., t + n - 1``, a
        new float64 array (computed in that one buffer: an epoch of 500,000
        rows made seven arrays of its size when the counters were an array
        of their own)."""
        raise NotImplementedError

    def on_no_improvement(self):
        """Called when the stopping rule fires; return True to keep going."""
        return False


class Constant(Schedule):
    """``eta = eta0``."""

    def __init__(self, eta0):
        self.eta0 = eta0

    def steps(self, t, n):
        return np.full(n, float(self.eta0))


class InverseScaling(Schedule):
    """``eta = eta0 / t ** power_t``."""

    def __init__(self, eta0, power_t):
        self.eta0 = eta0
        self.power_t = power_t

    def steps(self, t, n):
        return inverse_scaling_steps(float(t), n, self.eta0, self.power_t,
                                     _threads(n))


class Optimal(Schedule):
    """``eta = 1 / (alpha (t0 + t - 1))`` (Bottou's heuristic, as scikit-learn).

    ``t0`` makes the first step equal to ``typw / max(1, -dL(1, -typw))``
    with ``typw = sqrt(1 / sqrt(alpha))``, the expected weight scale.
    """

    def __init__(self, alpha, loss):
        self.alpha = alpha
        typw = np.sqrt(1.0 / np.sqrt(alpha))
        dl = float(loss.compiled().py_dloss(np.array([1.0]), np.array([-typw]))[0])
        initial_eta0 = typw / max(1.0, dl)
        self.t0 = 1.0 / (initial_eta0 * alpha)

    def steps(self, t, n):
        return optimal_steps(float(t), n, self.t0, self.alpha, _threads(n))


class Adaptive(Schedule):
    """``eta = eta0``, divided by 5 each time the stopping rule fires.

    Fitting stops once ``eta`` falls below 1e-6.
    """

    def __init__(self, eta0):
        self.eta = float(eta0)

    def steps(self, t, n):
        return np.full(n, self.eta)

    def on_no_improvement(self):
        if self.eta > 1e-6:
            self.eta /= 5.0
            return True
        return False


def get_schedule(learning_rate, eta0, power_t, alpha, loss):
    """The schedule for scikit-learn's ``learning_rate`` parameter.

    ``pa1`` / ``pa2`` compute their step from the data in the compiled pass;
    they get a constant schedule here (unused).
    """
    if learning_rate in ("constant", "pa1", "pa2"):
        return Constant(eta0)
    if learning_rate == "cap":
        # ('auto' in minibatch mode with alpha=0) no schedule of its own:
        # every step is the cap 1 / L_B, divided on plateaus
        return Constant(np.inf)
    if learning_rate == "invscaling":
        return InverseScaling(eta0, power_t)
    if learning_rate == "optimal":
        return Optimal(alpha, loss)
    if learning_rate == "adaptive":
        return Adaptive(eta0)
    raise ValueError(f"unknown learning_rate {learning_rate!r}")
