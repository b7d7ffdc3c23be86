"""Shared machinery of GDClassifier and GDRegressor.

The objective
-------------
All modes minimise, for each binary or regression problem,

    F(w, b) = sum_i s_i L(y_i, x_i.w + b) / sum_i s_i + alpha R(w),
    R(w) = (1 - l1_ratio) / 2 ||w||_2^2 + l1_ratio ||w||_1,

with ``s_i`` the sample weight times the class weight.  Binary
classification uses labels ``y`` in {-1, +1} internally.  The modes differ in
how many rows feed one update:

* ``"sgd"``: one row per update, step ``-eta s_i dL_i x_i`` (as
  scikit-learn's ``SGDClassifier``; with sample weights of mean 1 this is an
  unbiased step on ``F``);
* ``"minibatch"``: ``batch_size`` rows per update, the mean of their
  weighted steps, all computed with the weights before the update;
* ``"batch"``: every training row per update, the exact gradient of ``F``.

This module owns the user-facing policy: parameters and their validation,
the epoch loop, the stopping rules, early stopping, warnings, verbose output
and fitted attributes.  It never loops over samples: :mod:`skgd._modes`
does, through the compiled passes.
"""

import contextlib
import functools
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._callbacks import CallbackSupportMixin, NullContext, has_callbacks
from ._compat import Interval, StrOptions, blas_on_one_thread
from ._losses import get_loss
from ._modes import (
    ColumnSubsetRunner,
    check_total_weight,
    expected_smoothness,
    minibatch_smoothness,
    row_smoothness,
    step_overflow_error,
)
from ._optimizers import (
    AVERAGED,
    NORMALISED,
    OPTIMAL_STEPS,
    OPTIMIZERS,
    make_optimizer,
)
from ._penalties import get_penalty
from ._schedules import Constant, InverseScaling, get_schedule
from ._stopping import ValidationRule
from ._validation import (
    MIN_PARALLEL_VALUES,
    check_finite,
    check_init_array,
    check_params,
)
from ._warnings import user_stacklevel

MAX_INT = np.iinfo(np.int32).max
# scikit-learn's damping of the intercept step on sparse data (sgd mode)
SPARSE_INTERCEPT_DECAY = 0.01
# an epoch objective this many times the starting one stops the fit
DIVERGENCE_FACTOR = 1e4


def _held_back(improvable, remedy):
    """What a minibatch fit's diagnosis found (``improvable``: the shares
    :meth:`skgd._modes.StochasticRunner.diagnose` reported), and ``remedy``,
    for a ``ConvergenceWarning``."""
    return (
        "one gradient step from the fitted model, the step a first-order "
        "method takes on standardised features, lowers the objective by "
        f"{100 * max(improvable):.2g}% of the decrease the fit achieved or of "
        "the objective itself, whichever is smaller. The data's scales or "
        "offsets, not the noise of the minibatches, held the fit back: " + remedy
    )


class BaseGD(CallbackSupportMixin, BaseEstimator):
    """Base class of the gradient-descent linear models (not public)."""

    _parameter_constraints = {
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "shuffle": ["boolean"],
        "verbose": ["verbose"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "learning_rate": [
            StrOptions({"constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"})
        ],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "average": [Interval(Integral, 0, None, closed="neither"), "boolean"],
        "mode": [StrOptions({"sgd", "minibatch", "batch"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "optimizer_epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    # ------------------------------------------------------------------
    # components
    def _loss(self):
        return get_loss(self.loss, self.epsilon)

    def _penalty(self):
        l1_ratio = 0.0 if self.l1_ratio is None else self.l1_ratio
        return get_penalty(self.penalty, self.alpha, l1_ratio)

    #: what ``learning_rate='auto'`` is in sgd mode: scikit-learn's default
    #: schedule (the regressor's; the classifier's default is 'optimal')
    _SKLEARN_LEARNING_RATE = "invscaling"

    @property
    def _learning_rate(self):
        """``learning_rate`` as the fit applies it, ``'auto'`` resolved.

        ``'auto'`` (the regressor's default) is scikit-learn's default
        schedule in sgd mode (the same numbers as ``SGDRegressor``) and, in
        a minibatch ``fit`` whose stopping rule runs (``tol`` set), steps
        from the data: 'optimal' (``1 / (alpha t)``, capped at ``1 / L_B``,
        the cap divided on plateaus), or with ``alpha=0`` the cap itself
        (``'cap'``).  On features of small scale the schedule's steps from
        ``eta0=0.01`` are hundreds of times below the cap, and minibatch
        mode stopped far from the optimum (diabetes as scikit-learn ships
        it: R^2 -0.66, optimum 0.52).  Without the rule (``partial_fit``,
        ``tol=None``) nothing divides the capped step, which then leaves the
        iterates in their noise ball (a stream of standardised diabetes:
        2-6% of the achievable decrease from the optimum, against 0.1% for
        'invscaling'): there 'auto' keeps scikit-learn's decaying
        'invscaling', from ``eta0`` or from ``1 / (L_B B)`` where that is
        larger (:attr:`_auto_without_rule`).  Batch mode does not use the
        schedule.
        """
        if self.learning_rate != "auto":
            return self.learning_rate
        if self.mode != "minibatch" or self._auto_without_rule:
            return self._SKLEARN_LEARNING_RATE
        return "optimal" if self.alpha > 0 else "cap"

    @property
    def _auto_without_rule(self):
        """Whether ``learning_rate='auto'`` runs a minibatch fit that no
        stopping rule divides (``partial_fit``, ``tol=None``): 'invscaling',
        whose ``eta0`` the runner raises to ``1 / (L_B B)`` where that is
        larger (:meth:`_make_runner`)."""
        return (self.learning_rate == "auto" and self.mode == "minibatch"
                and (self.tol is None or getattr(self, "_partial_call", False)))

    def _schedule(self, loss):
        if self._optimal_normalised:
            # 'optimal' is a plain-SGD step in 1 / (alpha t) (and ignores
            # eta0, as in scikit-learn); a normalised optimizer takes its own
            # constant step, in weight units (see _optimizers)
            return Constant(OPTIMAL_STEPS[self.optimizer])
        return get_schedule(
            self._learning_rate, self.eta0, self.power_t, self.alpha, loss
        )

    @property
    def _optimal_normalised(self):
        """Whether a normalised optimizer takes its own constant step
        (:data:`skgd._optimizers.OPTIMAL_STEPS`) instead of the schedule: under
        'optimal' (a plain-SGD rule in ``1 / (alpha t)``), and for Adagrad,
        whose steps decay by themselves, under 'invscaling' too (the
        regressor's default: its decay on top of Adagrad's stalled the fit,
        R^2 0.11 where the constant step reaches 0.81 on scikit-learn's
        ``check_regressors_train`` data)."""
        if self.mode == "batch" or self.optimizer not in NORMALISED:
            return False
        rate = self._learning_rate
        return (rate in ("optimal", "cap")
                or (self.optimizer == "adagrad" and rate == "invscaling"))

    @property
    def _average_start(self):
        """The row from which the iterates are averaged (0: never).

        RMSprop and Adam with ``learning_rate='optimal'`` take constant
        steps, whose iterates settle in a noise ball around the optimum: they
        report the average of their iterates from the first update
        (Polyak-Ruppert), as ``average=True`` would.
        """
        if self.average:
            return int(self.average)
        if self._optimal_normalised and self.optimizer in AVERAGED:
            return 1
        return 0

    def _rows_per_update(self, n_train):
        if self.mode == "sgd":
            return 1
        if self.mode == "minibatch":
            return self.batch_size
        return max(n_train, 1)

    # ------------------------------------------------------------------
    # validation split
    def _validation_split(self, y, sample_weight):
        """Boolean mask of the rows held out for early stopping (None
        without early stopping: no row is held out)."""
        if not self.early_stopping:
            return None
        n = y.shape[0]
        mask = np.zeros(n, dtype=bool)
        from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

        splitter = (
            StratifiedShuffleSplit if self._is_classifier() else ShuffleSplit
        )
        cv = splitter(
            test_size=self.validation_fraction, random_state=self.random_state
        )
        idx_train, idx_val = next(cv.split(np.zeros((n, 1)), y))
        if idx_train.shape[0] == 0 or idx_val.shape[0] == 0:
            raise ValueError(
                f"Splitting {n} samples into a train set and a validation set with "
                f"validation_fraction={self.validation_fraction!r} led to an empty "
                "set. Please either change validation_fraction, increase number of "
                "samples, or disable early_stopping."
            )
        if not np.any(sample_weight[idx_val] > 0):
            raise ValueError(
                "The sample weights for validation set are all zero, consider using "
                f"a different random state. The {idx_val.shape[0]} rows held out "
                f"for early stopping (validation_fraction={self.validation_fraction!r}"
                ") all have zero weight, so the validation score is undefined; "
                "give some of them a positive weight or change random_state."
            )
        mask[idx_val] = True
        return mask

    # ------------------------------------------------------------------
    # one problem
    def _fit_problem(self, data, y, sample_weight, val_mask, k, max_iter, seed,
                     partial, score_fn, ctx=None):
        """Fit output ``k`` (one binary or regression problem) in place.

        Returns the number of epochs run, the loss curve, the validation
        scores and the update counter reached.
        """
        # the stochastic modes' BLAS calls (step estimate, validation
        # scores) on one thread: see blas_on_one_thread (batch mode's dense
        # products are BLAS's, on every thread; data too small for threads
        # spare the 15 us of setting the limit, a tenth of a small
        # partial_fit)
        limit = self.mode != "batch" and data.data.size >= MIN_PARALLEL_VALUES
        with blas_on_one_thread() if limit else contextlib.nullcontext():
            problem = self._problem(data, y, sample_weight, val_mask)
            # a multinomial problem takes the steps of the binary log loss
            schedule = self._schedule(self._loss())
            runner = self._make_runner(problem, schedule, k, seed, partial)

            def score(coef, intercept, mask):
                return score_fn(
                    coef, intercept, data, problem.y, problem.sample_weight, mask
                )

            # (the runner's schedule: _make_runner may set its own, see
            # _auto_without_rule; the stopping rules then drive that one)
            return self._run_problem(
                runner, problem, runner.schedule, k, max_iter, val_mask, score, ctx
            )

    def _problem(self, data, y, sample_weight, val_mask):
        """The problem of one output (a binary or regression fit)."""
        return data.problem(y, sample_weight, self._loss(), self._penalty(),
                            self.fit_intercept, val_mask)

    def _rows(self, k):
        """The rows of ``coef_`` problem ``k`` fits: row ``k``, or every row
        for a multinomial problem (the classifier's)."""
        return k

    def _make_runner(self, problem, schedule, k, seed, partial):
        """The runner of problem ``k`` for this mode, from the stored state."""
        rows = self._rows(k)
        coef, intercept = self._standard_coef[rows], self._standard_intercept[rows]
        stochastic_runner, batch_runner = problem.runner_types()
        averaging = {"average_start": self._average_start}
        if self._average_start > 0:
            averaging.update(
                avg_coef=self._average_coef[rows],
                avg_intercept=self._average_intercept[rows],
                n_averaged=int(self._n_averaged[k]),
            )
        steps = (self._curvature[k] or {}).get(self.mode)
        if self.mode == "batch":
            L = mu = None
            if partial and steps is not None:
                # keep the step found on the earlier chunks (backtracking
                # corrects it); a smoothed loss narrows over the stream
                L, mu, n_calls = steps
                if mu is not None:
                    mu = batch_runner.MU_START / np.sqrt(n_calls + 1.0)
            # on CSR data with few stored columns, on those only (the
            # others' weights stay 0: ColumnSubsetRunner)
            columns = ColumnSubsetRunner.columns_for(problem, coef,
                                                     averaging.get("avg_coef"))
            if columns is not None:
                problem, coef = problem.on_columns(), coef[..., columns]
                if "avg_coef" in averaging:
                    averaging["avg_coef"] = averaging["avg_coef"][..., columns]
            runner = batch_runner(
                problem, coef, intercept, schedule, self.t_, accelerate=not partial,
                L=L, mu=mu, **averaging,
            )
            runner.n_calls = steps[2] if partial and steps is not None else 0
            if columns is not None:
                runner = ColumnSubsetRunner(runner, columns,
                                            self._standard_coef.shape[1])
            return runner
        pa = self.learning_rate in ("pa1", "pa2")
        max_step, intercept_decay = np.inf, 1.0
        normalised = self.optimizer in NORMALISED
        sparse_sgd = self.mode == "sgd" and sp.issparse(problem.data.X)
        if self.mode == "minibatch":
            L_B, intercept_decay = self._minibatch_smoothness(problem, k, partial)
            max_step = 1.0 / L_B
            if problem.loss.scale_free:
                # the perceptron: a cap on its step has no stability role
                max_step = np.inf
            if normalised:
                # a step in weight units: no 1 / L_B cap; the optimizer's own
                # constant step is the cap the plateau rule divides
                max_step = (OPTIMAL_STEPS[self.optimizer]
                            if self._optimal_normalised else np.inf)
            elif self._auto_without_rule and np.isfinite(max_step):
                # 'invscaling' from eta0 = 0.01 takes steps hundreds of times
                # below the cap on features of small scale (a partial_fit
                # stream of diabetes as scikit-learn ships it: R^2 0.03,
                # where the optimum has 0.51): its first batch steps at least
                # the cap, the sum of B row steps from cap / B
                rows = max(min(self.batch_size, len(problem.train)), 1)
                schedule = InverseScaling(max(self.eta0, max_step / rows),
                                          self.power_t)
        elif sparse_sgd and self.optimizer == "sgd" and problem.n_outputs == 1:
            # scikit-learn's rule for its plain steps; an optimizer's steps,
            # and multinomial ones (no scikit-learn twin), do not depend on
            # the storage (dense == CSR)
            intercept_decay = SPARSE_INTERCEPT_DECAY
        # the whole state of the problem carries over between partial_fit
        # calls (cumulative L1 penalty, weight scale, optimizer moments);
        # a warm-started fit keeps the optimizer's moments only
        state = self._engine_states[k] if partial else None
        previous_opt = state.opt if state is not None else self._warm_optimizers[k]
        optimizer = make_optimizer(self, problem.n_coords, previous_opt)
        return stochastic_runner(
            problem, coef, intercept, schedule,
            self._rows_per_update(len(problem.train)), self.t_, seed, self.shuffle,
            step_rule=self.learning_rate if pa else "gradient", pa_c=self.eta0,
            max_step=max_step,
            intercept_decay=intercept_decay,
            sklearn_stop_norms=self.mode == "sgd",
            state=state, optimizer=optimizer, sum_steps=not normalised,
            plateau=self.mode == "minibatch", **averaging,
        )

    def _minibatch_smoothness(self, problem, k, partial):
        """``(L_B, delta)``: the expected smoothness of a minibatch (its
        inverse caps the step) and the intercept's step factor.

        Estimated on the first call (``L`` and ``delta`` by power iteration
        on a row sample, :func:`minibatch_smoothness`); later ``partial_fit``
        calls keep them and update ``L_max`` with the chunk's rows (one pass
        over them).
        """
        s = (problem.sample_weight if problem.all_rows
             else problem.sample_weight[problem.train])
        with np.errstate(over="ignore"):
            # (a negative total made the step estimate NaN, reported as an
            # overflow of the rows' squared norms)
            check_total_weight(s.sum(), "minibatch")
        steps = (self._curvature[k] or {}).get("minibatch") if partial else None
        if steps is None:
            # (squares that overflow are reported below, by
            # step_overflow_error, not by NumPy's RuntimeWarning on the way)
            with np.errstate(over="ignore", invalid="ignore"):
                L, l_max, delta = minibatch_smoothness(problem)
        else:
            L, l_max, delta = steps
            c = problem.loss.smoothness or 1.0
            l_max = max(l_max, row_smoothness(problem, c, delta))
        L_B = expected_smoothness(L, l_max, len(problem.train), self.batch_size)
        if not np.isfinite(L_B):
            # a row outside the eigenvalues' sample, or a chunk of a stream,
            # whose squared norm overflows: a step cap of 0 (or nan) would
            # leave the weights as they are, or make them nan
            raise step_overflow_error()
        self._curvature[k] = {"minibatch": (L, l_max, delta), "step_cap": 1.0 / L_B}
        return L_B, delta

    def _run_problem(self, runner, problem, schedule, k, max_iter, val_mask,
                     score_fn, ctx):
        """Run the epoch loop of output ``k`` and store its weights."""
        if ctx is None or not has_callbacks(self):
            # no callback: skip building a task per epoch
            ctx = NullContext()
        n_iter, curve, scores = self._epoch_loop(
            runner, problem, schedule, max_iter, val_mask, score_fn, ctx, k
        )
        rows = self._rows(k)
        self._standard_coef[rows] = runner.coef()
        self._standard_intercept[rows] = runner.intercept()
        for name, value in runner.carried_state().items():
            getattr(self, name)[k] = value
        if self._average_start > 0:
            self._average_coef[rows], self._average_intercept[rows] = runner.average()
            self._n_averaged[rows] = runner.n_averaged
        return n_iter, curve, scores, runner.t

    def _epoch_loop(self, runner, problem, schedule, max_iter, val_mask, score_fn,
                    ctx, k):
        """Run epochs until the stopping rule fires or ``max_iter`` is reached.

        Stopping rules (``tol=None`` disables them):

        * early stopping: the validation score has not improved by ``tol``
          for ``n_iter_no_change`` epochs;
        * batch mode: the last ``n_iter_no_change`` iterations moved
          ``(w, b)`` by less than ``tol`` times its norm, or changed the
          objective by less than ``tol / 10`` relative (:func:`stalled`); for a
          non-smooth loss, once the smoothing no longer changes the objective
          by more than ``tol / 10`` relative (``BatchRunner.converged``);
        * sgd mode: scikit-learn's running objective (the mean over the
          rows of the epoch of the unweighted loss, plus the penalty) has
          not decreased by ``tol`` for ``n_iter_no_change`` epochs, so that
          ``n_iter_`` matches scikit-learn's;
        * minibatch mode: the weighted running objective it reports in
          ``loss_curve_`` (with class or sample weights the unweighted loss
          can rise while the objective falls) has not decreased by ``tol``
          times its best value so far (``tol`` while that is 0); on such a
          plateau the step cap is divided first, while the last division
          paid off (``StochasticRunner.reduce_step``).

        The rules live in :mod:`skgd._stopping`; the runner names its own
        (``runner.stopping_rule``), early stopping replaces it, and the loop
        hands each epoch's result to it without asking which mode it runs.
        With ``learning_rate='adaptive'`` a firing rule divides the step
        by 5 instead of stopping, until it is below 1e-6.  Each epoch is a
        leaf task of ``ctx`` for scikit-learn's callbacks; a callback that
        returns True at the end of an epoch stops the loop.
        """
        curve, scores = [], []
        start = time.time()
        n_train = len(problem.train)
        epoch = 0
        trace = self._objective_trace[k]  # [at the start, at the last epoch]
        if np.isnan(trace[0]):
            trace[0] = runner.objective()
        start_obj = max(float(trace[0]), 1.0)
        start_scale = float(trace[0]) if np.isfinite(trace[0]) else 0.0
        if self.early_stopping:
            rule = ValidationRule(self.tol, self.n_iter_no_change, schedule)
        else:
            rule = runner.stopping_rule(
                self.tol, self.n_iter_no_change, schedule, start_scale,
                uncapped=self._learning_rate == "optimal",
            )
        # (without callbacks, no task per epoch: on small data the Python
        # around an epoch is most of its time)
        callbacks = not isinstance(ctx, NullContext)
        for epoch in range(max_iter):
            if self.verbose:
                print(f"-- Epoch {epoch + 1}")
            if callbacks:
                task = ctx.subcontext(task_name=f"epoch {epoch + 1}")
                task.call_on_fit_task_begin(estimator=self, X=problem.data.X,
                                            y=problem.y)
            result = runner.epoch()
            if not (result.finite_margins or problem.data.finite_checked):
                # sgd mode checks the values of X here, in the epoch that
                # read them (InMemoryBackend.defers_finite_check): a margin
                # that is not finite comes from a value that is not, unless
                # the weights overflowed
                check_finite(problem.data.X, self)
                problem.data.finite_checked = True
            obj = result.objective
            if not (math.isfinite(obj) and runner.is_finite()):
                raise ValueError(
                    # scikit-learn's wording first (drop-in), then a remedy
                    f"Floating-point under-/overflow occurred at epoch #{epoch + 1}. "
                    "The weights are no longer finite: use a smaller eta0 (or "
                    "learning_rate='adaptive'). Scaling input data with "
                    "StandardScaler or MinMaxScaler might help."
                )
            # Divergence: an objective far above the one at the start at the
            # end of a fit (checked after the loop), or growing over the
            # calls of partial_fit.  (Large first steps, as the 'optimal'
            # schedule takes on unscaled or sparse data, can inflate the
            # objective of the first epochs 1e25 times in fits that then come
            # down, as in scikit-learn: a large objective alone is no proof.)
            ratio = obj / start_obj
            rising = obj >= trace[1]  # False on a problem's first epoch (nan)
            trace[1] = obj
            if max_iter == 1 and ratio > DIVERGENCE_FACTOR and rising:
                # partial_fit: across the calls of a stream
                raise ValueError(
                    f"The fit diverged at epoch #{epoch + 1}: the training objective "
                    f"{obj:.3g} is {ratio:.3g} times its value at the start and not "
                    "decreasing. Use a smaller eta0 (or "
                    "learning_rate='adaptive'), or scale the input data with "
                    "StandardScaler or MinMaxScaler."
                )
            curve.append(float(obj))
            if callbacks and task.call_on_fit_task_end(
                estimator=self, X=problem.data.X, y=problem.y,
                reconstruction_attributes=functools.partial(
                    self._snapshot, k, runner, epoch + 1
                ),
            ):
                break
            score = None
            if self.early_stopping:
                score = score_fn(*self._validation_weights(runner), val_mask)
                scores.append(score)
            if self.verbose:
                w = runner.coef()
                mean_loss = result.mean_loss
                if mean_loss is None:
                    mean_loss = obj - problem.penalty.value(w)
                bias = np.array2string(np.asarray(runner.intercept()),
                                       precision=6, floatmode="fixed")
                msg = (
                    f"Norm: {np.linalg.norm(w):.2f}, NNZs: {np.count_nonzero(w)}, "
                    f"Bias: {bias}, T: {(epoch + 1) * n_train}, "
                    f"Avg. loss: {mean_loss:f}, Objective: {result.stop_value:f}"
                )
                if score is not None:
                    msg += f", Validation score: {score:f}"
                print(msg)
                print(f"Total training time: {time.time() - start:.2f} seconds.")
            if rule.should_stop(result, score):
                if self.verbose:
                    print(f"Convergence after {epoch + 1} epochs took "
                          f"{time.time() - start:.2f} seconds")
                if rule.diagnosis is not None:
                    # (minibatch mode: kept with the step estimate, which
                    # travels back from process-based workers)
                    self._curvature[k].update(rule.diagnosis)
                break
        else:
            if max_iter > 1 and self.tol is not None and curve:
                # max_iter epochs and still improving: what held it back
                # (minibatch mode; not per partial_fit call)
                found = rule.diagnose()
                if found is not None:
                    self._curvature[k].update(found)
        if max_iter > 1 and curve and curve[-1] > DIVERGENCE_FACTOR * start_obj:
            self._check_far_from_start(curve, start_obj, epoch + 1)
        return epoch + 1, curve, scores

    def _validation_weights(self, runner):
        """The weights and intercept the validation score is computed with.

        sgd mode scores them as scikit-learn's SGD does, to stop at the same
        epoch: its callback receives the stored vector ``v`` of
        ``w = wscale * v`` (not ``w``) with the intercept, so it scores
        ``x.w / wscale + b``.  The other modes score the model ``(w, b)``.
        """
        if self.mode == "sgd" and runner.problem.n_outputs == 1:
            return np.array(runner.state.v), runner.intercept()
        return runner.coef(), runner.intercept()

    @staticmethod
    def _check_far_from_start(curve, start_obj, n_epochs):
        """Raise (still rising) or warn (coming down) for a blown-up objective.

        A run whose objective ends far above its value at the start and
        has not come down since its first epoch diverged: an error.  One
        whose first steps overshot and that is coming down (scikit-learn's
        'optimal' schedule on unscaled data) returns scikit-learn's model,
        with a warning that it is far from the optimum.
        """
        remedy = (
            "Use a smaller eta0 (or learning_rate='adaptive'), or scale the "
            "input data with StandardScaler or MinMaxScaler."
        )
        ratio = curve[-1] / start_obj
        if curve[-1] >= curve[0]:
            raise ValueError(
                f"The fit diverged: after {n_epochs} epochs the training objective "
                f"{curve[-1]:.3g} is still {ratio:.3g} times its value at the "
                f"start. {remedy}"
            )
        warnings.warn(
            f"After {n_epochs} epochs the training objective {curve[-1]:.3g} is "
            f"still {ratio:.3g} times its value at the start (it is coming down "
            f"from {max(curve):.3g}): the first steps were far too large for the "
            f"scale of the data and the model is far from the optimum. {remedy}",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )

    # ------------------------------------------------------------------
    # state
    def _reset_for_fit(self, coef_init, intercept_init):
        """Forget the previous fit; return the initial weights to start from.

        With ``warm_start``, the previous solution is the start unless
        ``coef_init`` / ``intercept_init`` are given.
        """
        if self.warm_start and hasattr(self, "coef_"):
            if coef_init is None:
                # after sparsify(), coef_ is a sparse matrix
                coef_init = self.coef_.toarray() if sp.issparse(self.coef_) \
                    else self.coef_
            if intercept_init is None:
                intercept_init = self.intercept_
        for attr in ("classes_", "_standard_coef", "_class_counts"):
            if hasattr(self, attr):
                delattr(self, attr)
        return coef_init, intercept_init

    def _init_weights(self, n_outputs, X, coef_init, intercept_init):
        """Allocate the state, from ``coef_init`` / ``intercept_init`` if given.

        The classifier takes ``coef_init`` of shape (n_outputs, n_features) or,
        binary, (n_features,); the regressor (n_features,).
        """
        n_features = X.shape[1]
        if coef_init is not None:
            two_d = self._is_classifier() and np.ndim(coef_init) == 2
            shape = (n_outputs, n_features) if two_d else (n_features,)
            coef_init = check_init_array(
                coef_init, shape, "coef_init", X.dtype
            ).reshape(n_outputs, n_features)
        if intercept_init is not None:
            intercept_init = check_init_array(
                np.ravel(intercept_init), (n_outputs,), "intercept_init", X.dtype
            )
        self._allocate(n_outputs, n_features, coef_init, intercept_init)

    def _finish_fit(self, results, X, y, sample_weight, ctx):
        """Set the fitted attributes from the problems' results; close ``ctx``.

        ``results`` holds ``(n_iter, loss_curve, validation_scores, t)`` per
        output; a multiclass fit reports its largest ``n_iter`` and ``t``.
        """
        self.n_iter_ = max(r[0] for r in results)
        if self._is_classifier():
            self.loss_curves_ = [r[1] for r in results]
        self.loss_curve_ = results[-1][1]
        if self.early_stopping:
            self.validation_scores_ = results[-1][2]
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.t_ = float(max(r[3] for r in results))
        self._publish(X.dtype)
        if not self._is_classifier():
            self.coef_ = self.coef_.ravel()
        ctx.call_on_fit_task_end(
            estimator=self, X=X, y=y, metadata={"sample_weight": sample_weight},
            reconstruction_attributes={},
        )

    def _allocate(self, n_outputs, n_features, coef_init=None, intercept_init=None):
        """Fresh weights (or the given initial ones) and averaging state."""
        self._standard_coef = np.zeros((n_outputs, n_features))
        self._standard_intercept = np.zeros(n_outputs)
        if coef_init is not None:
            self._standard_coef[:] = coef_init
        if intercept_init is not None:
            self._standard_intercept[:] = intercept_init
        self._average_coef = np.zeros((n_outputs, n_features))
        self._average_intercept = np.zeros(n_outputs)
        self._n_averaged = np.zeros(n_outputs, dtype=np.int64)
        # per output: the step estimate kept between partial_fit calls
        self._curvature = [None] * n_outputs
        # per output: the objective at the first weights and at the last
        # epoch (divergence check)
        self._objective_trace = np.full((n_outputs, 2), np.nan)
        # per output: the whole state of the stochastic modes
        # (skgd._gd_fast.WeightState), continued by partial_fit; a warm
        # start keeps the optimizer's moments of the previous fit
        previous = getattr(self, "_engine_states", None)
        self._warm_optimizers = [None] * n_outputs
        if self.warm_start and previous is not None and len(previous) == n_outputs:
            self._warm_optimizers = [
                None if st is None or st.opt is None else st.opt.copy()
                for st in previous
            ]
        self._engine_states = [None] * n_outputs
        self.t_ = 1.0

    def _publish(self, dtype):
        """Set ``coef_`` / ``intercept_`` from the internal state."""
        use_avg = self._average_start > 0 and self._average_start <= self.t_ - 1
        coef = self._average_coef if use_avg else self._standard_coef
        intercept = self._average_intercept if use_avg else self._standard_intercept
        self.coef_ = np.array(coef, dtype=dtype)
        self.intercept_ = np.array(intercept, dtype=dtype)

    def _snapshot(self, k, runner, n_iter):
        """Fitted attributes of the model as it is during an epoch loop."""
        coef = self._standard_coef.copy()
        intercept = self._standard_intercept.copy()
        rows = self._rows(k)
        coef[rows], intercept[rows] = runner.coef(), runner.intercept()
        attrs = {"coef_": coef, "intercept_": intercept, "n_iter_": n_iter,
                 "t_": float(runner.t)}
        if not hasattr(self, "classes_"):
            attrs["coef_"] = coef.ravel()
        return attrs

    def _skip_chunk(self, X, sample_weight, first):
        """Whether a partial_fit chunk has only zero weights (then a no-op).

        On a first call the model is still initialised (zero weights), so
        that the estimator is fitted.
        """
        if sample_weight is None:
            return False
        # the shape of the weights is checked even when the chunk is skipped
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.ndim and weights.shape != (X.shape[0],):
            raise ValueError(
                f"sample_weight.shape == {weights.shape}, expected "
                f"{(X.shape[0],)}: one weight per row of the chunk."
            )
        if np.any(weights):
            return False
        if first:
            n_outputs = 1 if not hasattr(self, "classes_") or len(self.classes_) == 2 \
                else len(self.classes_)
            self._allocate(n_outputs, X.shape[1])
            self.n_iter_ = 0
            self.loss_curve_ = []
            self.validation_scores_ = self.best_validation_score_ = None
            self._publish(X.dtype)
            if not hasattr(self, "classes_"):
                self.coef_ = self.coef_.ravel()
        return True

    def _callback_context(self, max_subtasks):
        """The callback context of a fit (``_init_callback_context``), or a
        :class:`NullContext` when no callback is set, here or by a
        meta-estimator: scikit-learn's makes a task with a UUID that the
        fit's wrapper deletes when the fit returns (4 us of a small
        ``partial_fit``)."""
        if not has_callbacks(self) and not hasattr(self, "_parent_callback_ctx"):
            return NullContext()
        return self._init_callback_context(max_subtasks=max_subtasks)

    def _is_classifier(self):
        """``sklearn.base.is_classifier(self)``, without building the tags
        (four times a call: a tenth of a small ``partial_fit``)."""
        return isinstance(self, ClassifierMixin)

    def _warn_convergence(self, max_iter):
        """After a fit: warn if it reached ``max_iter``, or if minibatch
        mode's plateau rule stopped it far from the optimum: with steps far
        below what the data allow, or where one preconditioned step from the
        model improves it much (what
        :meth:`skgd._modes.StochasticRunner.diagnose` found, kept per
        problem with its step estimate)."""
        found = [c for c in self._curvature if c is not None]
        small = [c["small_steps"] for c in found if "small_steps" in c]
        improvable = [c["improvable"] for c in found if "improvable" in c]
        at_max_iter = self.tol is not None and self.n_iter_ == max_iter
        remedy = "scale the features (StandardScaler), or use mode='batch'."
        if self.optimizer in NORMALISED and not self._is_classifier():
            remedy = (
                "scale the features (StandardScaler) and, as "
                f"optimizer={self.optimizer!r} steps in units of the "
                "weights, the target (TransformedTargetRegressor with "
                "StandardScaler); or use mode='batch'."
            )
        held_back = improvable
        if at_max_iter:
            # (the plateau's warnings are for a fit the rule stopped; what
            # held back a fit at max_iter joins its own warning, below)
            improvable, small = [], []
        if improvable and not small:
            warnings.warn(
                "Minibatch mode stopped on a plateau of the training objective "
                "far from the optimum: " + _held_back(improvable, remedy),
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        if small:
            largest = max(step for step, _ in small)
            safe = min(cap for _, cap in small)
            warnings.warn(
                "Minibatch mode stopped on a plateau of the training objective "
                f"while its steps were at most {largest:.3g}, {safe / largest:.0f} "
                "times below the largest safe step for these data (the step "
                f"cap 1 / L_B = {safe:.3g}): with steps this small the plateau is "
                "slow progress, not convergence, and the model may be far from "
                "the optimum. learning_rate='optimal' takes its steps from the "
                "data (up to 1 / L_B, decreased on plateaus); a larger eta0, "
                "scaled features (StandardScaler) or mode='batch' also help.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        uncertified = [c["uncertified"] for c in found if "uncertified" in c]
        if uncertified and self.tol is not None:
            loss, worst = max(uncertified, key=lambda entry: entry[1])
            smooth = ("'squared_hinge', 'modified_huber' or 'log_loss'"
                      if self._is_classifier()
                      else "'huber' or 'squared_epsilon_insensitive'")
            warnings.warn(
                f"Batch mode stopped short of tol on the non-smooth loss {loss!r}: "
                "its smoothing continuation no longer lowered the training "
                "objective, which its duality gap bounds at most "
                f"{100 * worst:.2g}% above the optimum (tol={self.tol:g} asks for "
                f"{10 * self.tol:.2g}%). The exact polish that closes this gap "
                "did not run or did not verify an optimum: with a pure L2 penalty "
                "it runs at any size on in-memory data (up to 1,000 rows on the "
                "margin), otherwise on small problems only. Batch mode solves the "
                f"smooth losses ({smooth}) to tol; a larger alpha also helps.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        if at_max_iter:
            self._warn_max_iter(held_back, remedy)

    def _warn_max_iter(self, improvable, remedy):
        """The warning of a fit that ran ``max_iter`` epochs still improving
        (scikit-learn's words first), with what held it back where known:
        in minibatch mode, one preconditioned step from the model that
        improves it much (``improvable``, see :meth:`_warn_convergence`)."""
        extra = ""
        if self.mode == "batch":
            # (its smooth problems stop on a duality gap: far from the
            # optimum they go on, however slowly)
            extra = (" Batch mode's iterations slow down on badly scaled "
                     "features: scaling the data (StandardScaler) usually "
                     "helps.")
        elif improvable:
            held = _held_back(improvable, remedy)
            extra = " " + held[0].upper() + held[1:]
        warnings.warn(
            "Maximum number of iteration reached before convergence. Consider "
            "increasing max_iter to improve the fit." + extra,
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )

    def _seeds(self, n):
        """The shuffling seed of each of the ``n`` outputs.

        Drawn from ``random_state`` as scikit-learn's SGD estimators draw
        theirs (including the draw of their dataset's sampling seed), so that
        the same ``random_state`` gives the same orderings.  For an integer
        ``random_state`` they are the same on every call, and kept
        (:func:`_seeds_from_int`).
        """
        if isinstance(self.random_state, Integral):
            return list(_seeds_from_int(int(self.random_state), n,
                                        self._is_classifier()))
        return _draw_seeds(check_random_state(self.random_state), n,
                           self._is_classifier())

    # ------------------------------------------------------------------
    # sparse helpers (as scikit-learn's SparseCoefMixin)
    def densify(self):
        """Convert the coefficient matrix to a dense array (the default format).

        Returns
        -------
        self
            Fitted estimator.
        """
        check_is_fitted(self)
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    def sparsify(self):
        """Convert the coefficient matrix to a sparse CSR matrix.

        Returns
        -------
        self
            Fitted estimator.
        """
        check_is_fitted(self)
        self.coef_ = sp.csr_matrix(self.coef_)
        return self

    def _validate_for_fit(self, for_partial_fit):
        check_params(self, for_partial_fit=for_partial_fit)
        if self.mode == "batch" and self.loss == "perceptron":
            warnings.warn(
                "loss='perceptron' in mode='batch': the perceptron objective "
                "max(0, -y p) is zero at w = 0, which is its minimum, so batch mode "
                "(which minimises the objective exactly) returns a model close to "
                "w = 0. Use mode='sgd' for the perceptron algorithm, or "
                "loss='hinge' for a large-margin linear classifier.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _draw_seeds(rs, n, classifier):
    """The seeds of :meth:`BaseGD._seeds`, drawn from the RandomState ``rs``."""
    if not classifier:
        seed = rs.randint(0, MAX_INT)
        rs.randint(1, MAX_INT)  # scikit-learn's make_dataset draws one
        return [seed]
    if n == 1:
        rs.randint(1, MAX_INT)
        return [rs.randint(MAX_INT)]
    seeds = []
    for class_seed in rs.randint(MAX_INT, size=n):
        class_rs = np.random.RandomState(class_seed)
        class_rs.randint(1, MAX_INT)
        seeds.append(class_rs.randint(MAX_INT))
    return seeds


@functools.lru_cache(maxsize=64)
def _seeds_from_int(random_state, n, classifier):
    """:func:`_draw_seeds` from ``RandomState(random_state)``, kept per
    ``(random_state, n, classifier)``: making a RandomState costs about
    0.1 ms (NumPy builds a seeded MT19937 through a SeedSequence before the
    legacy integer seeding replaces its state), a quarter of a small
    ``partial_fit``, and once more per class for a one-vs-rest fit."""
    return tuple(_draw_seeds(np.random.RandomState(random_state), n, classifier))
