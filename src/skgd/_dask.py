"""Batch mode on dask arrays: the gradient is summed over blocks on the workers.

``fit_dask_batch`` fits a :class:`~skgd.GDClassifier` or
:class:`~skgd.GDRegressor` in ``mode="batch"`` on a dask array ``X`` (and
``y``, ``sample_weight``) without ever bringing ``X`` to the client:

* ``X`` is ``persist()``-ed once (one chunk along the features); every row
  vector of the fit (targets, normalised weights, the predictions ``X w + b``
  of the current and previous iterates) is a dask array persisted on the
  workers, aligned with the row blocks of ``X``; the momentum extrapolation
  ``p + beta (p - p_prev)`` is a :class:`RowVector` expression evaluated
  inside the block kernels;
* one call of :meth:`DaskBatchRunner._gradient` (or ``_objective``) is one
  dask computation: per block, the loss derivative, ``X_blk.T @ r_blk`` and
  ``sum(r_blk)`` (or the weighted loss sum).  The per-block partial sums,
  ``n_blocks x (n_features + 1)`` numbers, are added on the client when they
  are few (``GATHER_PARTIALS_LIMIT``, saving a round of tasks per
  iteration), else by a tree reduction on the workers.  No row vector and
  nothing of ``X`` ever comes back to the client.

:class:`DaskBatchRunner` is :class:`skgd._modes.BatchRunner` with its data
access replaced: it inherits ``epoch`` (FISTA with step ``1 / L``,
backtracking, adaptive restart, or proximal subgradient steps for non-smooth
losses) unchanged, and the power iteration for ``L`` below repeats
:func:`skgd._modes.lipschitz_constant` operation for operation.  The only
difference with an in-memory fit is the order of the sums over rows (per
block, then over blocks), which changes the result by rounding only: on
float64 data the coefficients agree to ~1e-14 relative.

The epoch loop, stopping rules, callbacks and fitted attributes are the
estimator's own (``BaseGD._epoch_loop``, ``_allocate``, ``_publish``).

Prediction on dask input (``predict_dask``, ``score_dask``) is lazy: the
estimator's ``predict``, ``decision_function``, ``predict_proba`` and
``predict_log_proba`` return a dask array with the row chunks of ``X``, one
task per row block calling the in-memory method on the workers, and
``score`` a 0-d dask array; nothing is computed until the caller asks.

dask is imported lazily: importing this module does not need it.
"""

import copy
import sys

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import _get_feature_names
from ._modes import BatchRunner, matvec, power_iteration, rmatvec_transposed


def is_dask_collection(obj):
    """Whether ``obj`` is a dask collection (False when dask was never imported)."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(obj)


# ----------------------------------------------------------------------
# row vectors: persisted dask arrays and element-wise expressions of them
class RowVector:
    """An n-long float64 row vector kept on the workers.

    Either one persisted dask array (the predictions ``X w + b`` of an
    iterate) or an element-wise expression of such arrays and scalars,
    e.g. the extrapolation ``p + beta * (p - p_prev)`` that
    ``BatchRunner.epoch`` forms.  The expression is evaluated inside the
    block kernels that use it, in the order NumPy would evaluate it on whole
    arrays (so the numbers are the same), without an extra round of tasks.
    """

    __array_ufunc__ = None  # ``numpy_scalar * RowVector`` -> __rmul__

    def __init__(self, tree, arrays):
        self.tree = tree  # ("leaf", i) | (op, left, right) | ("mul", node, c)
        self.arrays = tuple(arrays)

    @classmethod
    def of(cls, array):
        return cls(("leaf", 0), (array,))

    def _binary(self, op, other):
        if not isinstance(other, RowVector):
            return NotImplemented
        arrays = list(self.arrays)
        names = [a.name for a in arrays]
        index = {}
        for j, a in enumerate(other.arrays):
            if a.name not in names:
                names.append(a.name)
                arrays.append(a)
            index[j] = names.index(a.name)
        return RowVector((op, self.tree, _reindex(other.tree, index)), arrays)

    def __add__(self, other):
        return self._binary("add", other)

    def __sub__(self, other):
        return self._binary("sub", other)

    def __mul__(self, c):
        if isinstance(c, RowVector) or np.ndim(c) != 0:
            return NotImplemented
        return RowVector(("mul", self.tree, float(c)), self.arrays)

    __rmul__ = __mul__  # IEEE products commute


def _reindex(tree, index):
    if tree[0] == "leaf":
        return ("leaf", index[tree[1]])
    if tree[0] == "mul":
        return ("mul", _reindex(tree[1], index), tree[2])
    return (tree[0], _reindex(tree[1], index), _reindex(tree[2], index))


def _evaluate(tree, blocks):
    op = tree[0]
    if op == "leaf":
        return blocks[tree[1]]
    if op == "mul":
        return tree[2] * _evaluate(tree[1], blocks)
    left, right = _evaluate(tree[1], blocks), _evaluate(tree[2], blocks)
    return left + right if op == "add" else left - right


# ----------------------------------------------------------------------
# per-block kernels (module level: they are shipped to the workers)
def _block_matvec(X, w, b):
    """``X @ w + b`` of one block, as :meth:`skgd._modes.Data.matvec`."""
    return matvec(X, w, b)


def _block_rmatvec(X, r):
    """``X.T @ r`` of one block, as :meth:`skgd._modes.Data.rmatvec`."""
    return rmatvec_transposed(X.T, r)


def _block_gradient(X, y, s, *p_blocks, tree, loss, fit_intercept):
    """One block's share of ``(X.T r, sum r)``, ``r = s * dL(y, p)``."""
    r = s * loss.dloss(y, _evaluate(tree, p_blocks))
    out = np.empty((1, X.shape[1] + 1))
    out[0, :-1] = _block_rmatvec(X, r)
    out[0, -1] = r.sum() if fit_intercept else 0.0
    return out


def _block_objective(y, s, *p_blocks, tree, loss):
    """One block's share of ``sum s L(y, p)``."""
    return np.array([[np.dot(s, loss.loss(y, _evaluate(tree, p_blocks)))]])


def _block_line(y, s, *blocks, tree, loss):
    """One block's share of ``(sum s L(y, p), sum s dL(y, p) Xd)``.

    ``tree`` is a ("pair", p, Xd) expression over the row-vector blocks.
    """
    p, xd = _evaluate(tree[1], blocks), _evaluate(tree[2], blocks)
    return np.array([[np.dot(s, loss.loss(y, p)), np.dot(s * loss.dloss(y, p), xd)]])


def _block_power(X, s, v, fit_intercept):
    """One block's share of ``Xt S Xt v`` (a power-iteration step)."""
    d = X.shape[1]
    r = s * _block_matvec(X, v[:d], v[d])
    out = np.empty((1, d + 1))
    out[0, :d] = _block_rmatvec(X, r)
    out[0, d] = r.sum() if fit_intercept else 0.0
    return out


def _block_check(X):
    """Whether every stored value of the block is finite."""
    values = X.data if sp.issparse(X) else np.asarray(X)
    return np.array([bool(np.isfinite(values).all())])


def _row_blockwise(func, out_cols, X, *vectors, **kwargs):
    """``func(X_blk, *vector_blks, **kwargs)`` per row block: an array of
    shape ``(n_blocks, out_cols)``, or (``out_cols=None``) one value per row."""
    import dask.array as da

    args = []
    if X is not None:
        args += [X, "ij"]
    for v in vectors:
        args += [v, "i"]
    if out_cols is None:
        return da.blockwise(func, "i", *args, dtype=np.float64, concatenate=True,
                            **kwargs)
    return da.blockwise(
        func, "ik", *args, new_axes={"k": out_cols}, adjust_chunks={"i": 1},
        dtype=np.float64, concatenate=True, **kwargs,
    )


# below this many numbers, the per-block partial sums are gathered and added
# on the client (one round of tasks less per computation); above, they are
# added by a tree reduction on the workers
GATHER_PARTIALS_LIMIT = 1 << 16


def _sum_blocks(parts):
    """Sum over the blocks of an ``(n_blocks, k)`` array of partial sums."""
    if parts.shape[0] * parts.shape[1] <= GATHER_PARTIALS_LIMIT:
        return np.asarray(parts.compute()).sum(axis=0)
    return np.asarray(parts.sum(axis=0).compute())


# ----------------------------------------------------------------------
class DaskData:
    """A dask array of samples seen as :class:`skgd._modes.Data` by the batch
    runner: ``matvec`` returns the predictions as a :class:`RowVector`
    persisted on the workers, ``rmatvec`` computes ``X.T @ r`` per block."""

    def __init__(self, X):
        self.X = X
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        # power-iteration estimates by (normalised weights, fit_intercept): the
        # one-vs-rest problems of a fit without class weights share them
        self.lipschitz_cache = {}

    def matvec(self, w, b=0.0):
        """``X @ w + b`` in float64 (computed in the data's precision), persisted."""
        w = np.asarray(w, dtype=np.float64)
        p = _row_blockwise(_block_matvec, None, self.X, w=w, b=float(b))
        return RowVector.of(p.persist())

    def rmatvec(self, r):
        """``X.T @ r`` in float64 (a NumPy vector); ``r`` a dask array."""
        return _sum_blocks(_row_blockwise(
            _block_rmatvec_row, self.n_features, self.X, r.rechunk((self.X.chunks[0],))
        ))


def _block_rmatvec_row(X, r):
    return _block_rmatvec(X, r)[None, :]


class DaskProblem:
    """:class:`skgd._modes.Problem` with row vectors as dask arrays.

    ``y`` and ``sample_weight`` are float64 dask arrays chunked as the rows of
    ``data.X``.  Every row trains (early stopping is not supported).
    """

    def __init__(self, data, y, sample_weight, loss, penalty, fit_intercept):
        self.data = data
        self.y = y
        self.sample_weight = sample_weight
        self.loss = loss
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        # the epoch loop only takes its length
        self.train = range(data.n_samples)

    #: one row of the model per problem (one-vs-rest)
    n_outputs = 1

    def runner_types(self):
        """Batch mode only: the dask batch runner."""
        return None, DaskBatchRunner


def dask_lipschitz_constant(problem, s, n_iter=20, seed=0):
    """:func:`skgd._modes.lipschitz_constant` with ``s`` the normalised
    weights (a persisted dask array); one dask computation per iteration."""
    data = problem.data
    d = data.n_features

    def gram_product(v):
        return _sum_blocks(_row_blockwise(
            _block_power, d + 1, data.X, s, v=v, fit_intercept=problem.fit_intercept
        ))

    return power_iteration(gram_product, d, problem.fit_intercept, n_iter, seed)


class DaskBatchRunner(BatchRunner):
    """:class:`skgd._modes.BatchRunner` on a :class:`DaskProblem`.

    ``epoch`` is inherited: the predictions ``p``, ``p_prev`` and the
    extrapolation ``zp = p + beta (p - p_prev)`` are :class:`RowVector`
    objects; the objective and the gradient are one dask computation each.
    """

    def _normalised_weights(self):
        s = self.problem.sample_weight
        total = float(s.sum().compute())
        self._total_weight = total
        return (s / total if total > 0 else s * 0.0).persist()

    def _gram_top_eigenvalue(self):
        # one-vs-rest problems with the same weights share the estimate
        pb = self.problem
        if self._total_weight <= 0:
            return 1.0
        key = (self.s.name, pb.fit_intercept)
        cache = pb.data.lipschitz_cache
        if key not in cache:
            cache[key] = dask_lipschitz_constant(pb, self.s)
        return cache[key]

    def _objective(self, w, p, true=False):
        pb = self.problem
        total = _sum_blocks(_row_blockwise(
            _block_objective, 1, None, pb.y, self.s, *p.arrays, tree=p.tree,
            loss=pb.loss if true else self.work_loss,
        ))[0]
        return float(total) + pb.penalty.value(w)

    def _gradient(self, w, p):
        pb = self.problem
        g = _sum_blocks(_row_blockwise(
            _block_gradient, pb.data.n_features + 1, pb.data.X, pb.y, self.s,
            *p.arrays, tree=p.tree, loss=self.work_loss,
            fit_intercept=pb.fit_intercept,
        ))
        gw = g[:-1] + pb.penalty.gradient_smooth(w)
        gb = float(g[-1]) if pb.fit_intercept else 0.0
        return gw, gb, self._objective(w, p)

    def _line_values(self, p, Xd):
        pb = self.problem
        pair = p._binary("pair", Xd)
        loss, slope = _sum_blocks(_row_blockwise(
            _block_line, 2, None, pb.y, self.s, *pair.arrays, tree=pair.tree,
            loss=self.work_loss,
        ))
        return float(loss), float(slope)

    def _predictions_along(self, Xd, a, w_new, b_new):
        # a fresh persisted vector rather than an ever longer expression
        return self.problem.data.matvec(w_new, b_new)


# ----------------------------------------------------------------------
# input checks
def _as_dask_vector(v, chunks, name, n):
    """A 1-D dask array of length ``n`` chunked as ``chunks``."""
    import dask.array as da

    if hasattr(v, "to_dask_array"):  # dask Series / DataFrame
        v = v.to_dask_array(lengths=True)
    if not is_dask_collection(v):
        v = da.from_array(np.asarray(v))
    elif any(np.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} should be a 1d array, got an array of shape "
                         f"{v.shape} instead.")
    if v.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of "
                         f"samples: [{n}, {v.shape[0]}] ({name})")
    return v.rechunk((chunks,))


def _check_dask_input(est, X, y, sample_weight):
    """Validate and persist ``X``; align ``y`` and ``sample_weight`` with its
    row blocks.  Sets ``n_features_in_`` (and ``feature_names_in_``)."""
    import dask.array as da

    # a dask DataFrame's _meta is an empty pandas DataFrame with its columns
    feature_names = _get_feature_names(X._meta) if hasattr(X, "columns") else None
    if hasattr(X, "to_dask_array"):  # dask DataFrame
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"X should be a dask array or dask DataFrame, got {type(X)}")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array instead. Reshape your "
            "data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
    if X.dtype not in (np.float64, np.float32):
        X = X.astype(np.float64)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    X = X.persist()
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    n, d = X.shape
    if n < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape=({n}, {d})) while a "
                         "minimum of 1 is required.")
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape=({n}, {d})) while a "
                         "minimum of 1 is required.")
    est.n_features_in_ = d
    if feature_names is not None:
        est.feature_names_in_ = feature_names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    chunks = X.chunks[0]
    y = _as_dask_vector(y, chunks, "y", n)
    if sample_weight is None:
        sample_weight = da.ones(n, chunks=(chunks,), dtype=np.float64)
    elif np.ndim(sample_weight) == 0 and not is_dask_collection(sample_weight):
        sample_weight = da.full(n, float(sample_weight), chunks=(chunks,),
                                dtype=np.float64)
    else:
        sample_weight = _as_dask_vector(sample_weight, chunks, "sample_weight", n)
        sample_weight = sample_weight.astype(np.float64)
    if not is_classifier(est):
        y = y.astype(np.float64)
    return X, y.persist(), sample_weight.persist()


# ----------------------------------------------------------------------
def fit_dask_batch(estimator, X, y, sample_weight=None, coef_init=None,
                   intercept_init=None):
    """Fit ``estimator`` (``mode="batch"``) on dask arrays, block-wise on the workers.

    The result equals ``estimator.fit(X.compute(), y.compute(), ...)`` up to
    the rounding of the sums over rows.  ``X`` is persisted once and never
    gathered on the client; per iteration only the per-block partial sums
    (``n_blocks x (n_features + 1)`` numbers, or their total) travel back.
    Dense or scipy.sparse chunks; ``early_stopping`` is not supported.

    Parameters
    ----------
    estimator : GDClassifier or GDRegressor
        With ``mode="batch"`` and ``early_stopping=False``.
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        Training data (dense chunks; float32 stays float32).
    y : dask array or array-like of shape (n_samples,)
        Targets.
    sample_weight : dask array, array-like or float, default=None
        Weights of the samples.
    coef_init, intercept_init : ndarray, default=None
        Initial weights, as for ``fit``.

    Returns
    -------
    estimator
        The fitted estimator.
    """
    estimator._validate_params()
    if estimator.mode != "batch":
        raise ValueError(
            f"Dask input needs mode='batch' (got mode={estimator.mode!r}): batch "
            "mode sums the gradient over the blocks on the workers. Use "
            "mode='batch', or dask_ml.wrappers.Incremental(estimator) to stream "
            "the blocks through partial_fit in sgd or minibatch mode."
        )
    estimator._validate_for_fit(for_partial_fit=False)
    if estimator.early_stopping:
        raise ValueError(
            "early_stopping is not supported with dask input: hold out a "
            "validation set yourself, or use numpy input."
        )
    coef_init, intercept_init = estimator._reset_for_fit(coef_init, intercept_init)
    X, y, sample_weight = _check_dask_input(estimator, X, y, sample_weight)
    if is_classifier(estimator):
        _fit_classifier(estimator, X, y, sample_weight, coef_init, intercept_init)
    else:
        _fit_regressor(estimator, X, y, sample_weight, coef_init, intercept_init)
    estimator._warn_convergence(estimator.max_iter)
    return estimator


def _initial_checks(X, y, sample_weight, classify):
    """One pass: finiteness of X, y, weights, and the classes of y."""
    import dask
    import dask.array as da

    x_ok = da.blockwise(_block_check, "i", X, "ij", adjust_chunks={"i": 1},
                        dtype=bool, concatenate=True).all()
    sw_ok = da.isfinite(sample_weight).all()
    sw_nonzero = (sample_weight != 0).any()
    todo = [x_ok, sw_ok, sw_nonzero]
    if classify:
        todo.append(da.unique(y, return_counts=True))
    else:
        todo.append(da.isfinite(y).all())
    out = dask.compute(*todo)
    if not out[0]:
        raise ValueError("Input X contains NaN or infinity.")
    if not out[1]:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if not out[2]:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if not classify and not out[3]:
        raise ValueError("Input y contains NaN or infinity.")
    return out[3]


def _fit_problem_dask(est, data, y, sample_weight, k, ctx):
    """``BaseGD._fit_problem`` in batch mode, on dask arrays."""
    loss = est._loss()
    problem = DaskProblem(data, y, sample_weight, loss, est._penalty(),
                          est.fit_intercept)
    schedule = est._schedule(loss)
    runner = est._make_runner(problem, schedule, k, None, False,
                              batch_runner=DaskBatchRunner)
    return est._run_problem(runner, problem, schedule, k, est.max_iter, None, None,
                            ctx)


def _fit_classifier(est, X, y, sample_weight, coef_init, intercept_init):
    import dask.array as da

    classes, counts = _initial_checks(X, y, sample_weight, classify=True)
    check_classification_targets(classes)
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError(
            "The number of classes has to be greater than one; got "
            f"{n_classes} class"
        )
    est.classes_ = classes
    n_outputs = 1 if n_classes == 2 else n_classes
    est._init_weights(n_outputs, X, coef_init, intercept_init)
    if isinstance(est.class_weight, str):  # 'balanced', as compute_class_weight
        counts = np.asarray(counts, dtype=np.float64)
        cw = counts.sum() / (n_classes * counts)
    else:
        cw = est._dict_class_weight(classes)
    est._expanded_class_weight = cw
    data = DaskData(X)
    ctx, tasks = est._open_tasks(X, y, sample_weight, n_outputs, est.max_iter)
    results = []
    for k in range(n_outputs):
        label, w_pos, w_neg = est._one_vs_rest(k, cw)
        pos = y == label
        y_k = da.where(pos, 1.0, -1.0).astype(np.float64).persist()
        if w_pos == w_neg:
            # the same numbers as with where(pos, ...), and a graph (hence a
            # name) that does not depend on k: L is estimated once
            s_k = sample_weight * np.float64(w_pos)
        else:
            s_k = sample_weight * da.where(pos, w_pos, w_neg)
        s_k = s_k.persist()
        if n_outputs > 1:
            tasks[k].call_on_fit_task_begin(estimator=est, X=X, y=y)
        results.append(_fit_problem_dask(est, data, y_k, s_k, k, tasks[k]))
        if n_outputs > 1:
            tasks[k].call_on_fit_task_end(estimator=est, X=X, y=y)
        del y_k, s_k
    est._finish_fit(results, X, y, sample_weight, ctx)


def _fit_regressor(est, X, y, sample_weight, coef_init, intercept_init):
    _initial_checks(X, y, sample_weight, classify=False)
    est._init_weights(1, X, coef_init, intercept_init)
    data = DaskData(X)
    ctx = est._init_callback_context(max_subtasks=est.max_iter)
    ctx.call_on_fit_task_begin(
        estimator=est, X=X, y=y, metadata={"sample_weight": sample_weight}
    )
    result = _fit_problem_dask(est, data, y, sample_weight, 0, ctx)
    est._finish_fit([result], X, y, sample_weight, ctx)


# ----------------------------------------------------------------------
# prediction: lazy, one task per row block
def _block_predict(X, estimator, method):
    """``estimator.<method>(X)`` on one row block (a NumPy or sparse block)."""
    return getattr(estimator, method)(X)


def _prediction_input(est, X):
    """``X`` as a 2-D dask array with one chunk along the features, checked
    against the fit (number of features, feature names) without computing it."""
    import dask.array as da

    frame = hasattr(X, "to_dask_array")  # dask DataFrame: its _meta has columns
    meta = X._meta if frame else None
    if frame:
        X = X.to_dask_array()  # row blocks of unknown sizes: nothing computed
    if not isinstance(X, da.Array):
        raise TypeError(f"X should be a dask array or dask DataFrame, got {type(X)}")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array instead. Reshape your "
            "data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
    if meta is None:
        meta = np.empty((0, X.shape[1]), dtype=X.dtype)
    # scikit-learn's own checks (and messages), on an empty array of X's columns
    validate_data(est, meta, reset=False, dtype=None, ensure_min_samples=0)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def predict_dask(estimator, X, method):
    """``estimator.<method>(X)`` for a dask ``X``, as a lazy dask array.

    One task per row block of ``X`` calls the in-memory method on that block,
    on the workers; nothing is computed here.  The result has the row chunks
    of ``X`` (one chunk along the classes) and the dtype of the in-memory
    result.

    Parameters
    ----------
    estimator : GDClassifier or GDRegressor
        A fitted estimator.
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        Dense or scipy.sparse blocks.
    method : str
        ``"predict"``, ``"decision_function"``, ``"predict_proba"`` or
        ``"predict_log_proba"``.

    Returns
    -------
    dask array of shape (n_samples,) or (n_samples, n_classes)
    """
    check_is_fitted(estimator)
    X = _prediction_input(estimator, X)
    # the blocks are NumPy or sparse: the feature names, checked above, would
    # make each block's validate_data warn
    worker_estimator = copy.deepcopy(estimator)  # the model as of this call
    worker_estimator.__dict__.pop("feature_names_in_", None)
    probe = getattr(worker_estimator, method)(np.zeros((1, X.shape[1]), X.dtype))
    if probe.ndim == 1:
        return X.map_blocks(_block_predict, worker_estimator, method, drop_axis=1,
                            dtype=probe.dtype, meta=probe[:0])
    return X.map_blocks(_block_predict, worker_estimator, method,
                        chunks=(X.chunks[0], probe.shape[1:]), dtype=probe.dtype,
                        meta=probe[:0])


def _aligned_vector(v, like, name):
    """``v`` as a 1-D dask array chunked as the 1-D dask array ``like``."""
    import dask.array as da

    if hasattr(v, "to_dask_array"):  # dask Series
        v = v.to_dask_array()
    if not is_dask_collection(v):
        v = np.asarray(v)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} should be a 1d array, got an array of shape "
                         f"{v.shape} instead.")
    unknown = np.isnan(like.shape[0]) or np.isnan(v.shape[0])
    if unknown:
        # a dask DataFrame's partitions: only blocks of the same partitions align
        if is_dask_collection(v) and v.numblocks == like.numblocks:
            return v
        raise ValueError(
            f"X has row blocks of unknown sizes (a dask DataFrame?) and {name} "
            "is not split into the same blocks: pass X.to_dask_array(lengths=True), "
            f"or {name} as a dask Series of the same partitions."
        )
    if v.shape[0] != like.shape[0]:
        raise ValueError(f"Found input variables with inconsistent numbers of "
                         f"samples: [{like.shape[0]}, {v.shape[0]}] ({name})")
    if is_dask_collection(v):
        return v.rechunk(like.chunks)
    return da.from_array(v, chunks=like.chunks)


def score_dask(estimator, X, y, sample_weight=None):
    """``estimator.score(X, y, sample_weight)`` for a dask ``X``, as a lazy
    0-d dask array: the accuracy (classifier) or R^2 (regressor), as
    scikit-learn's ``accuracy_score`` / ``r2_score`` compute them.

    Parameters
    ----------
    estimator : GDClassifier or GDRegressor
        A fitted estimator.
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        Test samples.
    y : dask array, dask Series or array-like of shape (n_samples,)
        True labels or values.
    sample_weight : dask array or array-like of shape (n_samples,), default=None
        Weights of the samples.

    Returns
    -------
    0-d dask array
        ``float(score)`` or ``score.compute()`` computes it.
    """
    import dask.array as da

    pred = predict_dask(estimator, X, "predict")
    y = _aligned_vector(y, pred, "y")
    w = None
    if sample_weight is not None:
        w = _aligned_vector(sample_weight, pred, "sample_weight").astype(np.float64)
    if is_classifier(estimator):
        hit = (pred == y).astype(np.float64)
        return hit.mean() if w is None else (w * hit).sum() / w.sum()
    y, pred = y.astype(np.float64), pred.astype(np.float64)
    if w is None:
        numerator = ((y - pred) ** 2).sum()
        denominator = ((y - y.mean()) ** 2).sum()
    else:
        numerator = (w * (y - pred) ** 2).sum()
        denominator = (w * (y - (w * y).sum() / w.sum()) ** 2).sum()
    # r2_score's force_finite: a constant y scores 1 if predicted exactly, else 0
    ratio = numerator / da.where(denominator == 0, 1.0, denominator)
    return da.where(denominator == 0, da.where(numerator == 0, 1.0, 0.0), 1.0 - ratio)
