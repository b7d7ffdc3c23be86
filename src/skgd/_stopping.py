"""The runner protocol's results and the stopping rules of the epoch loop.

A runner (one problem's optimisation in one mode, :mod:`skgd._modes`)
returns an :class:`EpochResult` from each ``epoch()``, and names its
stopping rule (``runner.stopping_rule(...)``); with early stopping the
estimator uses :class:`ValidationRule` instead.  The epoch loop
(``BaseGD._epoch_loop``) hands every result to the rule and stops when it
says so: it never asks which mode or runner it is driving.

Every rule is given ``tol`` (``None`` disables it: it never fires) and
``n_iter_no_change``, and after ``n_iter_no_change`` epochs without
improvement first lets the schedule go on (``learning_rate='adaptive'``
divides its step) before it stops.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpochResult:
    """What one epoch of a runner reports.

    Attributes
    ----------
    objective : float
        The epoch's training objective (an entry of ``loss_curve_``).
    stop_value : float
        The value scikit-learn's stopping rule looks at (sgd mode: the mean
        unweighted loss plus the penalty); the objective otherwise.
    mean_loss : float or None
        The mean unweighted loss of the epoch (verbose output), None where
        the runner does not compute it.
    finite_margins : bool
        False when a margin the epoch computed was NaN or infinite: a NaN or
        an infinite value in the rows it read, or weights that overflowed
        (the stochastic passes compute every row's margin; their input's
        values are checked by it, see ``BaseGD._epoch_loop``).
    """

    objective: float
    stop_value: float | None = None
    mean_loss: float | None = None
    finite_margins: bool = True

    def __post_init__(self):
        if self.stop_value is None:
            object.__setattr__(self, "stop_value", self.objective)


class PatienceRule:
    """Stop after ``n_iter_no_change`` epochs without improvement.

    Subclasses say what an improvement is (:meth:`improved`) and may go on
    at a plateau (:meth:`on_plateau`) before the schedule is asked.
    """

    def __init__(self, tol, n_iter_no_change, schedule):
        self.tol = -np.inf if tol is None else float(tol)
        self.n_iter_no_change = n_iter_no_change
        self.schedule = schedule
        self.count = 0

    def improved(self, result, score):
        raise NotImplementedError

    #: what the rule found when it stopped the fit, for a warning (None:
    #: nothing to report; minibatch mode: :meth:`PlateauRule.should_stop`)
    diagnosis = None

    def diagnose(self):
        """What held back the fit, asked when the rule stops it and after
        ``max_iter`` epochs it did not stop (None: nothing to report;
        minibatch mode: :meth:`PlateauRule.diagnose`)."""
        return None

    def on_plateau(self):
        """Called at a plateau; True to go on (the count restarts)."""
        return False

    def should_stop(self, result, score=None):
        """Whether to stop after this epoch (``score``: its validation score)."""
        self.count = 0 if self.improved(result, score) else self.count + 1
        if self.count < self.n_iter_no_change:
            return False
        if self.on_plateau() or self.schedule.on_no_improvement():
            self.count = 0
            return False
        return True


class ValidationRule(PatienceRule):
    """Early stopping: the validation score has not improved by ``tol``."""

    def __init__(self, tol, n_iter_no_change, schedule):
        super().__init__(tol, n_iter_no_change, schedule)
        self.best = -np.inf

    def improved(self, result, score):
        better = not score < self.best + self.tol
        self.best = max(self.best, score)
        return better


class ObjectiveRule(PatienceRule):
    """The training objective (``stop_value``) has not decreased by ``margin``.

    sgd mode: scikit-learn's rule on its running objective, with
    ``margin = tol``, so that ``n_iter_`` matches scikit-learn's.
    """

    def __init__(self, tol, n_iter_no_change, schedule, margin=None):
        super().__init__(tol, n_iter_no_change, schedule)
        self.margin = self.tol if margin is None else margin
        self.best = np.inf

    def value(self, result):
        return result.stop_value

    def improved(self, result, score):
        value = self.value(result)
        better = not value > self.best - self.margin
        self.best = min(self.best, value)
        return better


class PlateauRule(ObjectiveRule):
    """Minibatch mode: the objective has not decreased by ``tol`` times its
    best value so far (``tol`` itself while that is 0).

    Relative to the best value, not to the one at the start: a regression
    whose targets are large starts far above its optimum (make_regression,
    500 features: 5,000 at the start, 4.1 at the optimum), where ``tol``
    times the start, 5 an epoch, stopped the fit at 7.1 (R^2 0.987 where
    scikit-learn's SGD reaches 0.994).

    On such a plateau the runner's step cap is divided first
    (``runner.reduce_step``), as long as the last division paid off.
    """

    def __init__(self, tol, n_iter_no_change, schedule, runner, start_scale,
                 uncapped):
        super().__init__(tol, n_iter_no_change, schedule)
        self.runner = runner
        self.start_scale = start_scale
        self.uncapped = uncapped
        self.best_at_reduction = np.inf

    def value(self, result):
        # the weighted objective of loss_curve_ (with class or sample weights
        # the unweighted loss can rise while the objective falls)
        return result.objective

    def improved(self, result, score):
        if 0 < self.best < np.inf:
            self.margin = self.tol * self.best
        return super().improved(result, score)

    def on_plateau(self):
        if (self.best < self.best_at_reduction - self.margin
                and self.runner.reduce_step(self.uncapped)):
            self.best_at_reduction = self.best
            return True
        return False

    def should_stop(self, result, score=None):
        """As :class:`PatienceRule`; on stopping, ``diagnosis`` records
        what ``runner.diagnose`` finds: steps far below the safe one, or a
        model that one preconditioned step improves much (slow progress,
        not the noise floor)."""
        stop = super().should_stop(result, score)
        if stop:
            self.diagnosis = self.diagnose()
        return stop

    def diagnose(self):
        """What ``runner.diagnose`` finds (None: nothing)."""
        return self.runner.diagnose(self.start_scale) or None


class ConvergedRule:
    """The runner's own rule (batch mode: ``runner.converged``)."""

    diagnosis = None

    def __init__(self, runner, tol, n_iter_no_change):
        self.runner = runner
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change

    def should_stop(self, result, score=None):
        return bool(self.runner.converged(self.tol, self.n_iter_no_change))

    def diagnose(self):
        return None
