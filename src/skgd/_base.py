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

import functools
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._callbacks import CallbackSupportMixin, NullContext, has_callbacks
from ._losses import get_loss
from ._modes import BatchRunner, Data, Problem, StochasticRunner
from ._penalties import get_penalty
from ._schedules import get_schedule
from ._validation import check_init_array, check_params

MAX_INT = np.iinfo(np.int32).max


class BaseGD(CallbackSupportMixin, BaseEstimator):
    """Base class of the gradient-descent linear models (not public)."""

    _parameter_constraints: dict = {
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
    }

    # ------------------------------------------------------------------
    # components
    def _loss(self):
        return get_loss(self.loss, self.epsilon)

    def _penalty(self):
        l1_ratio = 0.0 if self.l1_ratio is None else self.l1_ratio
        return get_penalty(self.penalty, self.alpha, l1_ratio)

    def _schedule(self, loss):
        return get_schedule(
            self.learning_rate, self.eta0, self.power_t, self.alpha, loss
        )

    @property
    def _average_start(self):
        return int(self.average) if self.average else 0

    def _rows_per_update(self, n_train):
        if self.mode == "sgd":
            return 1
        if self.mode == "minibatch":
            return self.batch_size
        return max(n_train, 1)

    # ------------------------------------------------------------------
    # validation split
    def _validation_split(self, y, sample_weight):
        """Boolean mask of the rows held out for early stopping."""
        n = y.shape[0]
        mask = np.zeros(n, dtype=bool)
        if not self.early_stopping:
            return mask
        from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

        splitter = (
            StratifiedShuffleSplit if is_classifier(self) else ShuffleSplit
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
                "a different random state."
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
        loss = self._loss()
        train = np.flatnonzero(~val_mask)
        problem = Problem(
            data, y, sample_weight, loss, self._penalty(), self.fit_intercept, train
        )
        schedule = self._schedule(loss)
        runner = self._make_runner(problem, schedule, k, seed, partial)

        def score(coef, intercept, mask):
            return score_fn(
                coef, intercept, data, problem.y, problem.sample_weight, mask
            )

        return self._run_problem(
            runner, problem, schedule, k, max_iter, val_mask, score, ctx
        )

    def _make_runner(self, problem, schedule, k, seed, partial,
                     batch_runner=BatchRunner):
        """The runner of output ``k`` for this mode, from the stored state."""
        coef, intercept = self._standard_coef[k], self._standard_intercept[k]
        averaging = {"average_start": self._average_start}
        if self._average_start > 0:
            averaging.update(
                avg_coef=self._average_coef[k],
                avg_intercept=float(self._average_intercept[k]),
                n_averaged=int(self._n_averaged[k]),
            )
        if self.mode == "batch":
            return batch_runner(
                problem, coef, intercept, schedule, self.t_, accelerate=not partial,
                **averaging,
            )
        pa = self.learning_rate in ("pa1", "pa2")
        return StochasticRunner(
            problem, coef, intercept, schedule,
            self._rows_per_update(len(problem.train)), self.t_,
            np.random.RandomState(seed), self.shuffle,
            step_rule=self.learning_rate if pa else "gradient", pa_c=self.eta0,
            **averaging,
        )

    def _run_problem(self, runner, problem, schedule, k, max_iter, val_mask,
                     score_fn, ctx):
        """Run the epoch loop of output ``k`` and store its weights."""
        if ctx is None or not has_callbacks(self):
            # no callback: skip building a task per epoch
            ctx = NullContext()
        n_iter, curve, scores = self._epoch_loop(
            runner, problem, schedule, max_iter, val_mask, score_fn, ctx, k
        )
        self._standard_coef[k] = runner.coef()
        self._standard_intercept[k] = runner.intercept()
        if self._average_start > 0:
            self._average_coef[k], self._average_intercept[k] = runner.average()
            self._n_averaged[k] = runner.n_averaged
        return n_iter, curve, scores, runner.t

    def _epoch_loop(self, runner, problem, schedule, max_iter, val_mask, score_fn,
                    ctx, k):
        """Run epochs until the stopping rule fires or ``max_iter`` is reached.

        Stopping rules (``tol=None`` disables them):

        * early stopping: the validation score has not improved by ``tol``
          for ``n_iter_no_change`` epochs;
        * batch mode on a smooth loss: the norm of the gradient mapping is at
          most ``tol * max(alpha, 1e-8) * max(||(w, b)||, 1e-3)``, which bounds
          the relative distance to the optimum by about ``tol``;
        * otherwise: the epoch's running objective has not decreased by
          ``tol`` for ``n_iter_no_change`` epochs.  In sgd and minibatch modes
          this is scikit-learn's running objective: the mean over the rows of
          the epoch of the (unweighted) loss plus the penalty.

        With ``learning_rate='adaptive'`` a firing rule divides the step
        by 5 instead of stopping, until it is below 1e-6.  Each epoch is a
        leaf task of ``ctx`` for scikit-learn's callbacks; a callback that
        returns True at the end of an epoch stops the loop.
        """
        tol = -np.inf if self.tol is None else self.tol
        best_obj, best_score = np.inf, -np.inf
        no_improvement = 0
        curve, scores = [], []
        smooth_batch = isinstance(runner, BatchRunner) and runner.smooth
        start = time.time()
        n_train = len(problem.train)
        epoch = 0
        for epoch in range(max_iter):
            if self.verbose:
                print(f"-- Epoch {epoch + 1}")
            task = ctx.subcontext(task_name=f"epoch {epoch + 1}")
            task.call_on_fit_task_begin(estimator=self, X=problem.data.X, y=problem.y)
            obj = runner.epoch()
            if not (np.isfinite(obj) and runner.is_finite()):
                raise ValueError(
                    f"Floating-point under-/overflow occurred at epoch #{epoch + 1}: "
                    "the weights are no longer finite. Use a smaller eta0 (or "
                    "learning_rate='adaptive'), or scale the input data with "
                    "StandardScaler or MinMaxScaler."
                )
            curve.append(float(obj))
            if task.call_on_fit_task_end(
                estimator=self, X=problem.data.X, y=problem.y,
                reconstruction_attributes=functools.partial(
                    self._snapshot, k, runner, epoch + 1
                ),
            ):
                break
            score = None
            if self.early_stopping:
                score = score_fn(runner.coef(), runner.intercept(), val_mask)
                scores.append(score)
            if self.verbose:
                w = runner.coef()
                mean_loss = getattr(runner, "mean_loss", obj - problem.penalty.value(w))
                objective = getattr(runner, "stop_value", obj)
                msg = (
                    f"Norm: {np.linalg.norm(w):.2f}, NNZs: {np.count_nonzero(w)}, "
                    f"Bias: {runner.intercept():.6f}, T: {(epoch + 1) * n_train}, "
                    f"Avg. loss: {mean_loss:f}, Objective: {objective:f}"
                )
                if score is not None:
                    msg += f", Validation score: {score:f}"
                print(msg)
                print(f"Total training time: {time.time() - start:.2f} seconds.")
            if self.early_stopping:
                no_improvement = no_improvement + 1 if score < best_score + tol else 0
                best_score = max(best_score, score)
            elif smooth_batch:
                w_norm = np.sqrt(np.dot(runner.w, runner.w) + runner.b**2)
                thr = tol * max(problem.penalty.alpha, 1e-8) * max(w_norm, 1e-3)
                if runner.grad_mapping_norm <= thr:
                    if self.verbose:
                        print(f"Convergence after {epoch + 1} epochs took "
                              f"{time.time() - start:.2f} seconds")
                    return epoch + 1, curve, scores
                continue
            else:
                # stochastic modes: scikit-learn's running objective (mean
                # unweighted loss plus penalty), so that n_iter_ matches
                stop = getattr(runner, "stop_value", obj)
                no_improvement = no_improvement + 1 if stop > best_obj - tol else 0
                best_obj = min(best_obj, stop)
            if no_improvement >= self.n_iter_no_change:
                if schedule.on_no_improvement():
                    no_improvement = 0
                    continue
                if self.verbose:
                    print(f"Convergence after {epoch + 1} epochs took "
                          f"{time.time() - start:.2f} seconds")
                break
        return epoch + 1, curve, scores

    # ------------------------------------------------------------------
    # state
    def _reset_for_fit(self, coef_init, intercept_init):
        """Forget the previous fit; return the initial weights to start from.

        With ``warm_start``, the previous solution is the start unless
        ``coef_init`` / ``intercept_init`` are given.
        """
        if self.warm_start and hasattr(self, "coef_"):
            if coef_init is None:
                coef_init = self.coef_
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
            two_d = is_classifier(self) and np.ndim(coef_init) == 2
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
        if is_classifier(self):
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
        if not is_classifier(self):
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
        coef[k], intercept[k] = runner.coef(), runner.intercept()
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
        if sample_weight is None or np.any(np.asarray(sample_weight)):
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

    def _warn_convergence(self, max_iter):
        if self.tol is not None and self.n_iter_ == max_iter:
            warnings.warn(
                "Maximum number of iteration reached before convergence. Consider "
                "increasing max_iter to improve the fit.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _seeds(self, n):
        rs = check_random_state(self.random_state)
        return rs.randint(MAX_INT, size=n)

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

    def _data(self, X):
        if sp.issparse(X):
            return Data(X)
        return Data(np.ascontiguousarray(X))

    def _validate_for_fit(self, for_partial_fit):
        check_params(self, for_partial_fit=for_partial_fit)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
