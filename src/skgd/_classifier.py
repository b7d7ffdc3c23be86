"""GDClassifier: linear classifiers trained by gradient descent."""

import functools
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._backends import IN_MEMORY, backend_for
from ._base import BaseGD
from ._compat import (
    LinearClassifierMixin,
    StrOptions,
    _check_partial_fit_first_call,
    _fit_context,
)
from ._dask import is_dask_collection, predict_dask, score_dask
from ._losses import CLASSIFICATION_LOSSES
from ._multinomial import softmax, softmax_accuracy
from ._transaction import keep_state_on_error
from ._validation import check_sparse_structure


def _validation_accuracy(coef, intercept, data, y, problem_weight, mask, *,
                         sample_weight, positives_only=False):
    """Accuracy of binary problem ``(coef, intercept)`` on the held-out rows.

    ``y`` holds the problem's labels in {-1, 1}.  The rows are weighted by
    their sample weights alone, not by the class weights in
    ``problem_weight`` (as ``score(X_val, y_val, sample_weight)``, and as
    scikit-learn's SGD).  With ``positives_only``, only the positive rows
    predicted positive count as hits: the score scikit-learn's SGD computes
    for ``loss='log_loss'``, whose labels are {0, 1} while its validation
    scorer predicts {-1, 1}.
    """
    p = data.matvec(coef, intercept)[mask]
    predicted = np.where(p > 0, 1.0, -1.0)
    hit = predicted == y[mask]
    if positives_only:
        hit &= predicted > 0
    s = sample_weight[mask]
    return float(np.dot(s, hit) / s.sum())


def _unseen_labels(y, classes):
    """``np.setdiff1d(np.unique(y), classes)``: the labels of ``y`` that are
    not in ``classes`` (sorted and unique, as ``classes_`` is).

    Numeric labels are looked up by binary search, without sorting ``y``
    (two ``np.unique`` and a merge, 20 us on a 100-row chunk, a twentieth of
    a small ``partial_fit``); only the rows that miss are sorted.
    """
    if y.dtype.kind in "biuf" and classes.dtype.kind in "biuf" and len(classes):
        where = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
        found = classes[where] == y
        if found.all():
            return y[:0]
        return np.unique(y[~found])
    return np.setdiff1d(np.unique(y), classes)


def _loss_has_proba(est):
    if not est._loss().has_proba:
        raise AttributeError(
            f"probability estimates are not available for loss={est.loss!r}; use "
            "loss='log_loss' or loss='modified_huber'"
        )
    return True


class GDClassifier(LinearClassifierMixin, BaseGD):
    """Linear classifiers (SVM, logistic regression, ...) trained by gradient descent.

    A drop-in for :class:`sklearn.linear_model.SGDClassifier`: same
    parameters, defaults and attributes.  ``mode`` chooses how many rows feed
    one update: one (``"sgd"``), ``batch_size`` (``"minibatch"``) or all
    (``"batch"``).  Multiclass problems are solved one-vs-rest, or as one
    multinomial (softmax) problem with ``multi_class="multinomial"``.  Dense and
    SciPy sparse (CSR) inputs are supported; sparse input is never densified
    and float32 input is never copied to float64.

    Parameters
    ----------
    loss : {'hinge', 'log_loss', 'modified_huber', 'squared_hinge', \
'perceptron', 'squared_error', 'huber', 'epsilon_insensitive', \
'squared_epsilon_insensitive'}, default='hinge'
        The loss function. ``'log_loss'`` gives logistic regression and
        ``'modified_huber'`` a smooth hinge; both enable ``predict_proba``.
    penalty : {'l2', 'l1', 'elasticnet'} or None, default='l2'
        The regularisation term.
    alpha : float, default=0.0001
        Regularisation strength, in ``[0, inf)``.
    l1_ratio : float, default=0.15
        Elastic-net mixing, in ``[0, 1]``; used with ``penalty='elasticnet'``.
    fit_intercept : bool, default=True
        Whether to fit the intercept.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the training data).
    tol : float or None, default=1e-3
        Stopping tolerance (see Notes); None disables the stopping rules.
    shuffle : bool, default=True
        Whether to shuffle the training rows before each epoch (sgd and
        minibatch modes).
    verbose : int, default=0
        Print one line per epoch when positive.
    epsilon : float, default=0.1
        Width of the insensitive region of the ``huber``,
        ``epsilon_insensitive`` and ``squared_epsilon_insensitive`` losses.
    n_jobs : int, default=None
        Number of threads for the one-vs-rest problems of a multiclass fit.
        Problems fitted side by side share the cores: a minibatch pass,
        which runs on every OpenMP thread alone, runs on its share of them
        (see the user guide, "Threads").
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the early-stopping split.
    learning_rate : {'optimal', 'constant', 'invscaling', 'adaptive', \
'pa1', 'pa2'}, default='optimal'
        Step-size schedule of a row, ``eta(t)`` with ``t`` counting rows
        (see Notes).  ``'pa1'`` and ``'pa2'`` (passive-aggressive, hinge
        loss) exist only in sgd mode.  Minibatch mode steps along the mean
        gradient of a batch by the sum of its rows' steps, capped at
        ``1 / L_B`` (the batch's expected smoothness, from the data).
        Batch mode does not use the schedule: its steps come from a line
        search (L-BFGS, Newton) or from the Lipschitz constant (FISTA).
    eta0 : float, default=0.01
        Initial step size of the 'constant', 'invscaling' and 'adaptive'
        schedules, in ``(0, inf)``; the aggressiveness ``C`` for 'pa1'/'pa2'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data
        and stop when its accuracy (weighted by the sample weights, not by
        the class weights) stops improving; sgd mode scores it as
        scikit-learn does (see Notes).
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping, in ``(0, 1)``.
    n_iter_no_change : int, default=5
        Number of epochs without improvement before stopping.
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into the sample weights.
        ``'balanced'`` uses ``n_samples / (n_classes * count(class))``; in
        ``partial_fit`` the counts are those of all the chunks seen so far
        (scikit-learn's ``SGDClassifier`` refuses 'balanced' there).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Average the weights over the updates (ASGD); an integer ``k`` starts
        averaging once ``k`` rows have been seen (sgd and minibatch modes,
        as ``t_``) or after ``k`` iterations (batch mode, where the last
        iterate converges faster than the average).
    mode : {'sgd', 'minibatch', 'batch'}, default='sgd'
        Rows per update: one, ``batch_size``, or all of them.
    batch_size : int, default=32
        Rows per update in minibatch mode; ignored by the other modes.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}, \
            default="sgd"
        How a minibatch's gradient becomes a step in the sgd and minibatch
        modes: plain steps (scikit-learn's), momentum (an average of recent
        gradients), Nesterov momentum, or per-coordinate steps (Adagrad,
        RMSprop, Adam).  On sparse rows an optimizer's state changes only on
        the coordinates a batch touches (see the user guide, "Optimizers").
        Adagrad, RMSprop and Adam step by the schedule's step in weight
        units; with ``learning_rate="optimal"`` (for Adagrad, whose steps
        decay by themselves, ``"invscaling"`` too) they take a constant step
        of their own, 0.1 for Adagrad and 0.01 for RMSprop and Adam, divided
        by 5 on a plateau in minibatch mode.  Batch mode ignores the parameter: it
        takes its own L-BFGS or accelerated proximal (FISTA) steps.
    momentum : float, default=0.9
        Decay of the gradient average of ``optimizer="momentum"`` and
        ``"nesterov"``, in [0, 1).
    beta_1 : float, default=0.9
        Decay of Adam's first-moment estimate, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's second-moment estimate, in [0, 1).
    rho : float, default=0.9
        Decay of RMSprop's average of squared gradients, in [0, 1).
    optimizer_epsilon : float, default=1e-8
        Added to the root of the second moment by Adagrad, RMSprop and Adam
        (named so as not to clash with ``epsilon`` of the Huber and
        epsilon-insensitive losses).
    multi_class : {"ovr", "multinomial"}, default="ovr"
        How a problem with more than two classes is fitted: one-vs-rest
        (one binary problem per class, as ``SGDClassifier``), or one
        multinomial logistic regression (``loss="log_loss"`` only) whose
        ``n_classes`` rows are fitted together on the softmax loss, in every
        mode; ``predict_proba`` is then the softmax of
        ``decision_function``.  Binary problems are the same either way
        (one row, the binary log loss).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_iter_ : int
        Number of epochs run (the largest over the one-vs-rest problems).
    t_ : float
        Number of rows seen by the updates plus one (sgd and minibatch
        modes, as scikit-learn's ``t_``); iterations plus one in batch mode.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    loss_curve_ : list of float
        Training objective per epoch (of the last one-vs-rest problem for a
        multiclass fit: see ``loss_curves_``).
    loss_curves_ : list of list of float
        Training objective per epoch, one list per binary problem (one
        list for a multinomial fit).
    validation_scores_ : list of float
        Validation accuracy per epoch, with early stopping (else None); of
        the last one-vs-rest problem for a multiclass fit.
    best_validation_score_ : float
        Best validation score, with early stopping (else None).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    GDRegressor : The regressor of the same family.
    sklearn.linear_model.SGDClassifier : Scikit-learn's per-sample version.

    Notes
    -----
    Each binary problem minimises

    .. math::

        F(w, b) = \\frac{\\sum_i s_i L(y_i, x_i^T w + b)}{\\sum_i s_i}
                  + \\alpha \\left(\\frac{1 - \\rho}{2} \\|w\\|_2^2
                  + \\rho \\|w\\|_1\\right)

    with ``y_i`` in {-1, +1}, ``s_i`` the sample times class weight and
    ``rho`` the L1 share.  One update uses one row (sgd), ``batch_size`` rows
    (minibatch: the mean of their gradients, by the sum of their steps
    capped at ``1 / L_B``) or all rows (batch: L-BFGS with a Wolfe line
    search, then Newton steps where it is slow on at most 1,000 columns,
    FISTA with an L1 part, and smoothing with continuation on the
    non-smooth losses, the hinge with a pure L2 penalty then solved exactly
    from its margin rows, found by Newton steps or, on wide data, the
    dual).  In sgd and minibatch modes a row's step is scaled by its
    weight as in scikit-learn, which is a step on ``F`` when the weights
    average to 1.  The L2 part shrinks the weights, the L1 part is applied by
    the cumulative penalty of Tsuruoka et al. (2009), both in O(nnz) per
    update on sparse data.  Unlike scikit-learn, dense and sparse input give
    the same model in minibatch and batch modes.  sgd mode follows
    ``SGDClassifier``: the same shuffles for the same ``random_state``, the
    0.01 damping of the intercept step on sparse data, the same L1 step
    (on every stored entry of a row, zeros included), the same stopping
    rule; it reproduces scikit-learn to rounding on dense and sparse data
    (float64; on float32 data skgd computes in float64, scikit-learn in
    float32).  With early
    stopping, sgd mode stops at scikit-learn's epoch by scoring the held-out
    rows as scikit-learn does: with the weights ``v`` of ``w = wscale * v``
    (scikit-learn's weight vector without its scale) and the intercept, and
    for ``log_loss`` counting only the positive rows predicted positive as
    correct (scikit-learn compares its {0, 1} labels with predictions in
    {-1, 1}); minibatch and batch modes score the model itself.

    Stopping rules: sgd mode, scikit-learn's (the running objective has
    not decreased by ``tol`` for ``n_iter_no_change`` epochs); minibatch
    mode, a decrease of ``tol`` times the best objective so far, and on a
    plateau the step is divided by 5 while that pays off; batch mode, the
    last ``n_iter_no_change`` iterations moved ``(w, b)`` by less than
    ``tol`` relative.  A fit whose objective ends far above its start and
    still rises raises an error (diverged).

    Dask: ``fit`` accepts a dask array or dask DataFrame in
    ``mode="batch"`` (one-vs-rest or multinomial): the gradient is summed
    over the row blocks on the workers, with the in-memory fit's
    coefficients (to rounding); in the other modes,
    ``dask_ml.wrappers.Incremental`` streams the blocks through
    ``partial_fit``.  ``predict``, ``decision_function``, ``predict_proba``
    and ``score`` on dask input return lazy dask arrays, computed block by
    block on the workers.

    Callbacks (scikit-learn >= 1.9, ``set_callbacks``): a fit reports a task
    tree to scikit-learn's callbacks: the fit, one task per one-vs-rest
    problem, one task per epoch; a callback that returns True at the end of
    an epoch stops the fit there.  ``sklearn.callback.ProgressBar`` shows
    the epochs; it propagates to inner estimators, so it goes on the
    outermost meta-estimator
    (``GridSearchCV(...).set_callbacks(ProgressBar())``; on an estimator
    inside a ``Pipeline`` or ``GridSearchCV`` scikit-learn refuses it).
    ``sklearn.callback.ScoringMonitor`` scores the model after each epoch,
    set on the estimator itself.  Warnings raised in joblib's worker
    processes (a search with ``n_jobs`` > 1) break rich's live display, as
    with any scikit-learn estimator: filter them for the search, or fit it
    under ``joblib.parallel_config(backend="threading")`` (user guide,
    "Warnings under a live progress bar").

    References
    ----------
    Bottou, L. (2010). Large-scale machine learning with stochastic gradient
    descent. Tsuruoka, Y., Tsujii, J., Ananiadou, S. (2009). Stochastic
    gradient descent training for L1-regularized log-linear models with
    cumulative penalty. Beck, A., Teboulle, M. (2009). A fast iterative
    shrinkage-thresholding algorithm (FISTA).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skgd import GDClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = GDClassifier(loss="log_loss", mode="batch").fit(X, y)
    >>> clf.coef_.shape
    (1, 20)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _parameter_constraints = {
        **BaseGD._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "n_jobs": [Integral, None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "multi_class": [StrOptions({"ovr", "multinomial"})],
    }

    def __init__(
        self,
        loss="hinge",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        n_jobs=None,
        random_state=None,
        learning_rate="optimal",
        eta0=0.01,
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        class_weight=None,
        warm_start=False,
        average=False,
        mode="sgd",
        batch_size=32,
        optimizer="sgd",
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        optimizer_epsilon=1e-8,
        multi_class="ovr",
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.mode = mode
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.optimizer_epsilon = optimizer_epsilon
        self.multi_class = multi_class

    @keep_state_on_error
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data. A dask array or dask DataFrame needs
            ``mode="batch"``: its blocks stay on the workers.
        y : ndarray of shape (n_samples,)
            Target labels.
        coef_init : ndarray of shape (n_classes, n_features), default=None
            Initial weights (``(1, n_features)`` or ``(n_features,)`` when
            binary).
        intercept_init : ndarray of shape (n_classes,), default=None
            Initial intercepts.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (unit weights when None).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_for_fit(for_partial_fit=False)
        backend = backend_for(X)  # in memory, or dask
        backend.check_supported(self)
        coef_init, intercept_init = self._reset_for_fit(coef_init, intercept_init)
        X, y, sq_norms = backend.validate(self, X, y)
        with backend.values_reported_first(self, X):
            classes = backend.classes(y)
            self._fit_chunk(X, y, classes, sample_weight, self.max_iter, coef_init,
                            intercept_init, partial=False, backend=backend,
                            sq_norms=sq_norms)
        self._warn_convergence(self.max_iter)
        return self

    @keep_state_on_error
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch over the given chunk, continuing from the current state.

        Weights, the update counter ``t_`` and the averaging state carry over
        between calls.  An epoch is one update per row (sgd mode), per
        ``batch_size`` rows (minibatch mode), or one gradient step on the
        whole chunk (batch mode, which moves slowly on a stream: stream in
        sgd or minibatch mode; see the user guide, "Streaming with
        partial_fit").

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : ndarray of shape (n_samples,)
            Target labels of the chunk.
        classes : ndarray of shape (n_classes,), default=None
            All the classes of the stream; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples of the chunk.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        first = not hasattr(self, "classes_")
        if first:
            self._validate_for_fit(for_partial_fit=True)
        X, y, sq_norms = IN_MEMORY.validate(self, X, y, reset=first)
        with IN_MEMORY.values_reported_first(self, X):
            if first:
                # later chunks: every label must be one of classes_ (below),
                # which rejects continuous targets too
                check_classification_targets(y)
            _check_partial_fit_first_call(self, classes)
            unseen = _unseen_labels(y, self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y contains labels {unseen.tolist()} that are not in classes_ "
                    f"{self.classes_.tolist()}; pass every label of the stream as "
                    "`classes` on the first call of partial_fit."
                )
            if self._skip_chunk(X, sample_weight, first):
                IN_MEMORY.check_unread_values(self, X)
                return self
            self._fit_chunk(X, y, self.classes_, sample_weight, 1, None, None,
                            partial=True, sq_norms=sq_norms)
        return self

    def _fit_chunk(self, X, y, classes, sample_weight, max_iter, coef_init,
                   intercept_init, partial, backend=IN_MEMORY, sq_norms=None):
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{n_classes} class"
            )
        self.classes_ = classes
        n_outputs = 1 if n_classes == 2 else n_classes
        if not hasattr(self, "_standard_coef"):
            self._init_weights(n_outputs, X, coef_init, intercept_init)
        sample_weight = backend.check_sample_weight(
            sample_weight, X, allow_all_zero_weights=self.early_stopping
        )
        cw = self._class_weights(classes, y, partial, backend)
        self._expanded_class_weight = cw
        val_mask = self._validation_split(y, sample_weight)
        data = backend.data(X, self.mode, sq_norms)
        data.finite_checked = not backend.defers_finite_check(self)
        # a multinomial fit is one problem over the n_classes rows
        n_problems = 1 if self._multinomial else n_outputs
        seeds = self._seeds(n_problems)
        ctx, tasks = self._open_tasks(X, y, sample_weight, n_problems, max_iter)

        args = (data, y, sample_weight, cw, val_mask, max_iter, partial, n_outputs)
        if self._multinomial:
            results = [self._fit_softmax(seeds[0], ctx, *args[:-1], backend=backend)]
        elif n_outputs == 1 or self.n_jobs in (None, 1):
            results = [self._fit_binary(k, seeds[k], tasks[k], *args)
                       for k in range(n_outputs)]
        else:
            # any joblib backend: a process-based one fits a copy of self, so
            # each problem hands back its state, and the parent stores it.
            # The problems running side by side share the cores (threads:
            # the passes' OpenMP threads divide them; processes: joblib
            # limits their threads)
            data.concurrent_fits = max(1, min(effective_n_jobs(self.n_jobs),
                                              n_outputs))
            out = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(self._fit_binary)(k, seeds[k], tasks[k], *args,
                                          return_state=True)
                for k in range(n_outputs)
            )
            results = []
            for k, (result, state) in enumerate(out):
                self._set_problem_state(k, state)
                results.append(result)
        self._finish_fit(results, X, y, sample_weight, ctx)

    def _fit_binary(self, k, seed, task, data, y, sample_weight, class_weight,
                    val_mask, max_iter, partial, n_outputs, return_state=False):
        """Fit binary problem ``k``; with ``return_state``, also return its state."""
        label, w_pos, w_neg = self._one_vs_rest(k, class_weight)
        pos = y == label
        y_k = np.where(pos, 1.0, -1.0)
        # equal weights: the same numbers as np.where(pos, w, w), in a vector
        # that does not depend on k (dask: one step estimate for all k); unit
        # ones leave the weights as they are (no product, no copy: nothing
        # writes into a problem's weights)
        if w_pos == w_neg == 1.0:
            s_k = sample_weight
        else:
            s_k = sample_weight * (np.float64(w_pos) if w_pos == w_neg
                                   else np.where(pos, w_pos, w_neg))
        if n_outputs > 1:
            task.call_on_fit_task_begin(estimator=self, X=data.X, y=y)
        score_fn = functools.partial(
            _validation_accuracy, sample_weight=sample_weight,
            # sgd mode: as scikit-learn, which scores its log_loss problem
            # on labels {0, 1} against predictions in {-1, 1}
            positives_only=self.mode == "sgd" and self.loss == "log_loss",
        )
        result = self._fit_problem(
            data, y_k, s_k, val_mask, k, max_iter, seed, partial, score_fn, task,
        )
        if n_outputs > 1:
            task.call_on_fit_task_end(estimator=self, X=data.X, y=y)
        if not return_state:
            return result
        return result, [getattr(self, name)[k] for name in self._PROBLEM_STATE]

    def _fit_softmax(self, seed, task, data, y, sample_weight, class_weight,
                     val_mask, max_iter, partial, backend=IN_MEMORY):
        """Fit the multinomial problem (every row of ``coef_``)."""
        classes = self.classes_
        labels = backend.by_class(np.arange(len(classes), dtype=np.float64),
                                  classes, y)
        s = sample_weight * backend.by_class(class_weight, classes, y)
        score_fn = functools.partial(softmax_accuracy, sample_weight=sample_weight)
        return self._fit_problem(
            data, labels, s, val_mask, 0, max_iter, seed, partial, score_fn, task,
        )

    @property
    def _multinomial(self):
        """Whether the fitted (or being fitted) model is one softmax problem."""
        return (self.multi_class == "multinomial"
                and len(getattr(self, "classes_", ())) > 2)

    def _rows(self, k):
        return slice(None) if self._multinomial else k

    def _problem(self, data, y, sample_weight, val_mask):
        if not self._multinomial:
            return super()._problem(data, y, sample_weight, val_mask)
        return data.softmax_problem(y, sample_weight, self._penalty(),
                                    self.fit_intercept, len(self.classes_), val_mask)

    # the per-output state a problem updates (row k of each)
    _PROBLEM_STATE = (
        "_standard_coef", "_standard_intercept", "_average_coef",
        "_average_intercept", "_n_averaged", "_curvature", "_objective_trace",
        "_engine_states",
    )

    def _set_problem_state(self, k, state):
        for name, value in zip(self._PROBLEM_STATE, state):
            getattr(self, name)[k] = value

    def _one_vs_rest(self, k, class_weight):
        """Positive label and weights of the positive and other rows of problem k.

        As scikit-learn: a binary problem weighs each class by its class
        weight; a one-vs-rest problem weighs its positive class only.
        """
        if len(self.classes_) == 2:
            return self.classes_[1], class_weight[1], class_weight[0]
        return self.classes_[k], class_weight[k], 1.0

    def _open_tasks(self, X, y, sample_weight, n_outputs, max_iter):
        """The callback context of the fit and one task per binary problem.

        The tree is: the fit, one task per one-vs-rest problem when there
        are several, one leaf task per epoch.
        """
        ctx = self._callback_context(
            max_subtasks=max_iter if n_outputs == 1 else n_outputs
        )
        ctx.call_on_fit_task_begin(
            estimator=self, X=X, y=y, metadata={"sample_weight": sample_weight}
        )
        tasks = [ctx] if n_outputs == 1 else [
            ctx.subcontext(task_name=f"class {c} vs rest", max_subtasks=max_iter)
            for c in self.classes_
        ]
        return ctx, tasks

    def _class_weights(self, classes, y, partial, backend=IN_MEMORY):
        """Weight of each class; 'balanced' over the whole stream in partial_fit."""
        if self.class_weight != "balanced":
            return self._dict_class_weight(classes)
        if not partial:
            return backend.balanced_class_weight(classes, y)
        counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
        if getattr(self, "_class_counts", None) is None or len(
            self._class_counts
        ) != len(classes):
            self._class_counts = np.zeros(len(classes))
        self._class_counts += counts
        seen = self._class_counts
        balanced = seen.sum() / (len(classes) * np.maximum(seen, 1))
        return np.where(seen > 0, balanced, 1.0)

    def _dict_class_weight(self, classes):
        cw = np.ones(len(classes))
        if self.class_weight:
            for label, weight in self.class_weight.items():
                idx = np.flatnonzero(classes == label)
                if idx.size == 0:
                    raise ValueError(
                        f"class_weight has label {label!r}, which is not in "
                        f"classes {classes.tolist()}"
                    )
                cw[idx[0]] = weight
        return cw

    def decision_function(self, X):
        """Confidence scores: the signed distance of each sample to the hyperplanes.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Input data. A dask array or DataFrame gives a lazy dask array,
            computed block by block on the workers.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``X @ coef_.T + intercept_``; one column per class, or one score
            (of ``classes_[1]``) when there are two classes.
        """
        if is_dask_collection(X):
            return predict_dask(self, X, "decision_function")
        if sp.issparse(X) and X.format == "csr":
            # scikit-learn's validate_data passes a CSR matrix on as it is,
            # and SciPy's product trusts its indptr and indices: a malformed
            # one would read out of bounds (a segfault, or garbage scores)
            check_sparse_structure(X)
        return super().decision_function(X)

    def predict(self, X):
        """Predict the class labels of the samples.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Input data. A dask array or DataFrame gives a lazy dask array,
            computed block by block on the workers.

        Returns
        -------
        ndarray of shape (n_samples,)
            The class of each sample, from ``classes_``.
        """
        if is_dask_collection(X):
            return predict_dask(self, X, "predict")
        return super().predict(X)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the given test data and labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Test samples.
        y : array-like or dask array of shape (n_samples,)
            True labels.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        float
            Mean accuracy of ``self.predict(X)`` against ``y``. For a dask
            ``X``, a lazy 0-d dask array: ``float(score)`` computes it.
        """
        if is_dask_collection(X):
            return score_dask(self, X, y, sample_weight=sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    @available_if(_loss_has_proba)
    def predict_proba(self, X):
        """Probability estimates (``log_loss`` and ``modified_huber`` losses).

        One-vs-rest probabilities are normalised to sum to one; with
        ``multi_class="multinomial"`` they are the softmax of
        :meth:`decision_function`.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``. A lazy
            dask array when ``X`` is a dask array or DataFrame.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_dask(self, X, "predict_proba")
        d = self.decision_function(X)
        if self._multinomial:
            return softmax(d)
        loss = self._loss()
        if d.ndim == 1:
            p = loss.predict_proba(d)
            return np.column_stack([1.0 - p, p])
        prob = loss.predict_proba(d)
        total = prob.sum(axis=1, keepdims=True)
        uniform = total[:, 0] == 0
        prob[uniform] = 1.0
        total[uniform] = prob.shape[1]
        return prob / total

    @available_if(_loss_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probability of each class. A lazy dask array when ``X`` is a
            dask array or DataFrame.
        """
        if is_dask_collection(X):
            return predict_dask(self, X, "predict_log_proba")
        if self._multinomial:
            d = self.decision_function(X)
            top = d.max(axis=1, keepdims=True)
            return d - top - np.log(np.exp(d - top).sum(axis=1, keepdims=True))
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))
