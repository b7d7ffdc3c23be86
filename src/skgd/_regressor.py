"""GDRegressor: linear regression trained by gradient descent."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backends import IN_MEMORY, backend_for
from ._base import BaseGD
from ._compat import StrOptions, _fit_context
from ._dask import is_dask_collection, predict_dask, score_dask
from ._losses import REGRESSION_LOSSES
from ._transaction import keep_state_on_error
from ._validation import check_sparse_structure, float_dtypes


class GDRegressor(RegressorMixin, BaseGD):
    """Linear regression (least squares, Huber, SVR, ...) trained by gradient descent.

    A drop-in for :class:`sklearn.linear_model.SGDRegressor`: same
    parameters, defaults and attributes.  ``mode`` chooses how many rows feed
    one update: one (``"sgd"``), ``batch_size`` (``"minibatch"``) or all
    (``"batch"``).  Dense and SciPy sparse (CSR) inputs are supported; sparse
    input is never densified and float32 input is never copied to float64.

    Parameters
    ----------
    loss : {'squared_error', 'huber', 'epsilon_insensitive', \
'squared_epsilon_insensitive'}, default='squared_error'
        The loss function (``squared_error`` is half the squared residual).
    penalty : {'l2', 'l1', 'elasticnet'} or None, default='l2'
        The regularisation term.
    alpha : float, default=0.0001
        Regularisation strength, in ``[0, inf)``.
    l1_ratio : float, default=0.15
        Elastic-net mixing, in ``[0, 1]``; used with ``penalty='elasticnet'``.
    fit_intercept : bool, default=True
        Whether to fit the intercept.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stopping tolerance (see :class:`GDClassifier`); None disables the
        stopping rules.
    shuffle : bool, default=True
        Whether to shuffle the rows before each epoch (sgd and minibatch).
    verbose : int, default=0
        Print one line per epoch when positive.
    epsilon : float, default=0.1
        Width of the insensitive region of the ``huber``,
        ``epsilon_insensitive`` and ``squared_epsilon_insensitive`` losses.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the early-stopping split.
    learning_rate : {'auto', 'invscaling', 'constant', 'optimal', 'adaptive', \
'pa1', 'pa2'}, default='auto'
        Step-size schedule of a row, ``eta(t)`` with ``t`` counting rows.
        ``'auto'``: scikit-learn's default, ``'invscaling'``, in sgd mode
        (the same numbers as ``SGDRegressor``); in a minibatch ``fit`` with
        ``tol`` set, steps from the data: ``'optimal'``, whose large first
        steps the cap ``1 / L_B`` bounds (with ``alpha=0``, the cap itself),
        divided on plateaus by the stopping rule; ``partial_fit`` and
        ``tol=None``, where no rule divides them, keep ``'invscaling'``,
        its first batch step raised to the cap where ``eta0``'s is smaller
        (``eta0`` raised to ``1 / (L_B B)``).
        ``'invscaling'`` from ``eta0=0.01`` suits standardised features; on
        features of small scale its steps are hundreds of times below the
        cap (scikit-learn's diabetes data as shipped: R^2
        -0.66 in minibatch mode, 0.03 after a stream of 20 passes, where
        'auto' reaches the optimum's 0.51).
        ``'pa1'`` / ``'pa2'`` (passive-aggressive, ``epsilon_insensitive``
        loss) exist only in sgd mode.  Minibatch mode steps by the sum of
        its rows' steps, capped at ``1 / L_B``; batch mode does not use the
        schedule (see :class:`GDClassifier`).
    eta0 : float, default=0.01
        Initial step size of the 'constant', 'invscaling' and 'adaptive'
        schedules (and of 'auto' in sgd mode), in ``(0, inf)``; the
        aggressiveness ``C`` for 'pa1'/'pa2'.  'optimal', and so 'auto' in
        a minibatch fit with ``tol``, does not use it; in a minibatch
        ``partial_fit`` or ``tol=None`` fit 'auto' starts from it or from
        ``1 / (L_B B)``, whichever is larger: set ``learning_rate`` to tune it.
    power_t : float, default=0.25
        Exponent of the 'invscaling' schedule.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its R^2
        stops improving; sgd mode scores it as scikit-learn does (with the
        weights ``v`` of ``w = wscale * v``, see :class:`GDClassifier`).
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping, in ``(0, 1)``.
    n_iter_no_change : int, default=5
        Number of epochs without improvement before stopping.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Average the weights over the updates (ASGD); an integer ``k`` starts
        averaging once ``k`` rows have been seen (sgd and minibatch modes)
        or after ``k`` iterations (batch mode).
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

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Weights.
    intercept_ : ndarray of shape (1,)
        Intercept.
    n_iter_ : int
        Number of epochs run.
    t_ : float
        Number of rows seen by the updates plus one (sgd and minibatch
        modes); iterations plus one in batch mode.
    loss_curve_ : list of float
        Training objective per epoch.
    validation_scores_ : list of float
        Validation R^2 per epoch, with early stopping (else None).
    best_validation_score_ : float
        Best validation score, with early stopping (else None).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    GDClassifier : The classifier of the same family.
    sklearn.linear_model.SGDRegressor : Scikit-learn's per-sample version.

    Notes
    -----
    The objective, identical in every mode, is

    .. math::

        F(w, b) = \\frac{\\sum_i s_i L(y_i, x_i^T w + b)}{\\sum_i s_i}
                  + \\alpha \\left(\\frac{1 - \\rho}{2} \\|w\\|_2^2
                  + \\rho \\|w\\|_1\\right)

    One update uses one row (sgd), ``batch_size`` rows (minibatch) or all
    rows (batch).  See :class:`GDClassifier` for the details of the modes
    and stopping rules.

    Dask: ``fit`` accepts a dask array or dask DataFrame in
    ``mode="batch"``: the gradient is summed over the row blocks on the
    workers, with the in-memory fit's coefficients (to rounding); in the
    other modes, ``dask_ml.wrappers.Incremental`` streams the blocks through
    ``partial_fit``.  ``predict`` and ``score`` on dask input return lazy
    dask arrays, computed block by block on the workers.

    Callbacks (scikit-learn >= 1.9, ``set_callbacks``): a fit reports a task
    tree to scikit-learn's callbacks: the fit, then one task per epoch; a
    callback that returns True at the end of an epoch stops the fit there.
    ``sklearn.callback.ProgressBar`` shows the epochs; it propagates to
    inner estimators, so it goes on the outermost meta-estimator
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
    descent. Beck, A., Teboulle, M. (2009). A fast iterative
    shrinkage-thresholding algorithm (FISTA).

    Examples
    --------
    >>> import numpy as np
    >>> from skgd import GDRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3)
    >>> y = X @ [1.0, -2.0, 0.5] + 1.0
    >>> reg = GDRegressor(mode="batch", alpha=0.0).fit(X, y)
    >>> np.round(reg.coef_, 3)
    array([ 1. , -2. ,  0.5])
    """

    _parameter_constraints = {
        **BaseGD._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "learning_rate": [
            StrOptions({"auto", "constant", "optimal", "invscaling", "adaptive",
                        "pa1", "pa2"})
        ],
    }

    def __init__(
        self,
        loss="squared_error",
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
        random_state=None,
        learning_rate="auto",
        eta0=0.01,
        power_t=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
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
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
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
            Target values.
        coef_init : ndarray of shape (n_features,), default=None
            Initial weights.
        intercept_init : ndarray of shape (1,), default=None
            Initial intercept.
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
        X, y, sq_norms = backend.validate(self, X, y, y_numeric=True)
        with backend.values_reported_first(self, X):
            self._fit_chunk(X, y, sample_weight, self.max_iter, coef_init,
                            intercept_init, partial=False, backend=backend,
                            sq_norms=sq_norms)
        self._warn_convergence(self.max_iter)
        return self

    @keep_state_on_error
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
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
            Target values of the chunk.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples of the chunk.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        first = not hasattr(self, "_standard_coef")
        if first:
            self._validate_for_fit(for_partial_fit=True)
        X, y, sq_norms = IN_MEMORY.validate(self, X, y, y_numeric=True, reset=first)
        with IN_MEMORY.values_reported_first(self, X):
            if self._skip_chunk(X, sample_weight, first):
                IN_MEMORY.check_unread_values(self, X)
                return self
            self._fit_chunk(X, y, sample_weight, 1, None, None, partial=True,
                            sq_norms=sq_norms)
        return self

    def _fit_chunk(self, X, y, sample_weight, max_iter, coef_init, intercept_init,
                   partial, backend=IN_MEMORY, sq_norms=None):
        # (what learning_rate='auto' resolves to depends on it: _learning_rate)
        self._partial_call = partial
        if not hasattr(self, "_standard_coef"):
            self._init_weights(1, X, coef_init, intercept_init)
        sample_weight = backend.check_sample_weight(
            sample_weight, X, allow_all_zero_weights=self.early_stopping
        )
        y = y.astype(np.float64, copy=False)
        val_mask = self._validation_split(y, sample_weight)
        data = backend.data(X, self.mode, sq_norms)
        data.finite_checked = not backend.defers_finite_check(self)
        seed = self._seeds(1)[0]
        ctx = self._callback_context(max_subtasks=max_iter)
        ctx.call_on_fit_task_begin(
            estimator=self, X=X, y=y, metadata={"sample_weight": sample_weight}
        )
        result = self._fit_problem(
            data, y, sample_weight, val_mask, 0, max_iter, seed, partial,
            self._validation_score, ctx,
        )
        self._finish_fit([result], X, y, sample_weight, ctx)

    @staticmethod
    def _validation_score(coef, intercept, data, y, sample_weight, mask):
        p = data.matvec(coef, intercept)[mask]
        return float(r2_score(y[mask], p, sample_weight=sample_weight[mask]))

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Input data. A dask array or DataFrame gives a lazy dask array,
            computed block by block on the workers.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted values. A lazy dask array when ``X`` is a dask array or
            DataFrame.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_dask(self, X, "predict")
        X = validate_data(self, X, accept_sparse="csr", reset=False,
                          dtype=float_dtypes(X))
        # SciPy's product trusts indptr and indices: a malformed CSR would
        # read out of bounds (a segfault, or garbage predictions)
        check_sparse_structure(X)
        return np.asarray(safe_sparse_dot(X, self.coef_.T, dense_output=True)).ravel() \
            + self.intercept_

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the prediction.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Test samples.
        y : array-like or dask array of shape (n_samples,)
            True values.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        float
            R^2 of ``self.predict(X)`` against ``y``, as
            :func:`sklearn.metrics.r2_score`. For a dask ``X``, a lazy 0-d
            dask array: ``float(score)`` computes it.
        """
        if is_dask_collection(X):
            return score_dask(self, X, y, sample_weight=sample_weight)
        return super().score(X, y, sample_weight=sample_weight)
