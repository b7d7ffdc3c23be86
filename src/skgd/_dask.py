"""Dask as a data backend: the rows of a fit stay on the workers.

``fit`` of a :class:`~skgd.GDClassifier` or :class:`~skgd.GDRegressor` on a
dask array (or dask DataFrame) ``X`` picks :class:`DaskBackend`
(:func:`skgd._backends.backend_for`) and runs its own fit with it: the same
validation order, class weights, one-vs-rest problems, epoch loop, stopping
rules, callbacks and fitted attributes as in memory.  What is dask-specific
lives here:

* :class:`DaskBackend`: the checks of dask input (``X`` persisted once, one
  chunk along the features; ``y`` and ``sample_weight`` aligned with its row
  blocks; finiteness and the classes computed on the workers), and the
  modes it cannot fit (sgd and minibatch: ``dask_ml.wrappers.Incremental``
  streams blocks through ``partial_fit`` instead; early stopping);
* :class:`DaskData`: ``matvec`` / ``rmatvec`` per row block (one weight
  vector, or the ``(n_features, K)`` weights of a K-output model), the
  predictions persisted on the workers as :class:`RowVector` objects; the
  per-block partial sums, ``n_blocks x (n_features + 1)`` numbers, are
  added on the client when they are few (``GATHER_PARTIALS_LIMIT``, saving
  a round of tasks per iteration), else by a tree reduction on the workers;
* :class:`DaskProblem` and :class:`DaskBatchRunner`: the batch runner of
  :mod:`skgd._modes` with its reductions over rows (objective, gradient,
  line-search values, the power iteration for ``L``) run block by block.
  It inherits ``epoch`` (L-BFGS, FISTA with backtracking and restart,
  smoothing with continuation) unchanged; the momentum extrapolation
  ``p + beta (p - p_prev)`` is a :class:`RowVector` expression evaluated
  inside the block kernels.  The only difference with an in-memory fit is
  the order of the sums over rows (per block, then over blocks), which
  changes the result by rounding only, and the exact polish of small
  in-memory problems (:func:`skgd._batch.polish`), which needs the rows on
  the client;
* :class:`DaskSoftmaxProblem` and :class:`DaskSoftmaxBatchRunner`: the
  same for a multinomial fit (:mod:`skgd._multinomial`), whose L-BFGS and
  FISTA iterations are inherited, with the ``n_samples x K`` scores as
  :class:`RowVector` objects and the loss, its ``K``-column gradient and
  the line-search values summed over the blocks.

No row vector and nothing of ``X`` comes back to the client during a fit.

Prediction on dask input (``predict_dask``, ``score_dask``) is lazy: the
estimator's ``predict``, ``decision_function``, ``predict_proba`` and
``predict_log_proba`` return a dask array with the row chunks of ``X``, one
task per row block calling the in-memory method on the workers, and
``score`` a 0-d dask array; nothing is computed until the caller asks.

dask is imported lazily: importing this module does not need it.
"""

import contextlib
import copy
import sys

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.base import is_classifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._batch import (
    CONJUGATES,
    curvature,
    intercept_scales,
    loss_conjugate,
    penalty_conjugate,
)
from ._modes import (
    BatchRunner,
    check_total_weight,
    matvec,
    power_iteration,
    rmatvec_transposed,
    weighted_gram,
)
from ._multinomial import (
    SoftmaxBatchRunner,
    SoftmaxLoss,
    dual_mixing,
    dual_point,
    dual_shares,
    one_hot,
    softmax,
    softmax_hessian,
)
from ._penalties import dot


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
    """``X @ w + b`` of one block, as :meth:`skgd._modes.Data.matvec`
    (``w`` of shape ``(n_features, K)`` included)."""
    return matvec(X, w, b)


def _block_rmatvec(X, r):
    """``X.T @ r`` of one block, as :meth:`skgd._modes.Data.rmatvec`."""
    return rmatvec_transposed(X.T, r)


def _block_rmatvec_row(X, r):
    """One block's share of ``X.T @ r``, flattened to one row of partial sums."""
    return _block_rmatvec(X, r).reshape(1, -1)


def _block_gradient(X, y, s, *p_blocks, tree, loss, fit_intercept):
    """One block's share of ``(X.T r, sum r)``, ``r = s * dL(y, p)``."""
    r = s * loss.dloss(y, _evaluate(tree, p_blocks))
    out = np.empty((1, X.shape[1] + 1))
    out[0, :-1] = _block_rmatvec(X, r)
    out[0, -1] = r.sum() if fit_intercept else 0.0
    return out


def _block_hessian(X, y, s, *p_blocks, tree, loss, fit_intercept):
    """One block's share of the loss's Hessian ``A' S h A``, flattened to
    one row (:func:`skgd._modes.weighted_gram`)."""
    c = s * curvature(loss, y, _evaluate(tree, p_blocks))
    return weighted_gram(X, c, fit_intercept).reshape(1, -1)


def _block_softmax_hessian(X, s, *Z_blocks, tree, fit_intercept):
    """One block's share of the softmax loss's Hessian, flattened to one
    row (:func:`skgd._multinomial.softmax_hessian`)."""
    return softmax_hessian(X, s, _evaluate(tree, Z_blocks), fit_intercept).reshape(1, -1)


def _block_objective(y, s, *p_blocks, tree, loss):
    """One block's share of ``sum s L(y, p)``."""
    return np.array([[np.dot(s, loss.loss(y, _evaluate(tree, p_blocks)))]])


def _block_line(y, s, *blocks, tree, loss):
    """One block's share of ``(sum s L(y, p), sum s dL(y, p) Xd)``.

    ``tree`` is a ("pair", p, Xd) expression over the row-vector blocks.
    """
    p, xd = _evaluate(tree[1], blocks), _evaluate(tree[2], blocks)
    return np.array([[np.dot(s, loss.loss(y, p)), np.dot(s * loss.dloss(y, p), xd)]])


def _block_dual_sums(y, s, *p_blocks, tree, loss):
    """One block's share of the sums of the positive and the negative parts
    of ``s * dL(y, p)`` (the intercept's feasibility of a dual point)."""
    su = s * loss.dloss(y, _evaluate(tree, p_blocks))
    return np.array([[np.maximum(su, 0.0).sum(), np.minimum(su, 0.0).sum()]])


def _block_dual_part(X, y, s, *p_blocks, tree, loss, sign):
    """One block's share of ``X.T`` times the positive (``sign`` 1) or the
    negative (-1) part of ``s * dL(y, p)``."""
    su = s * loss.dloss(y, _evaluate(tree, p_blocks))
    part = np.maximum(su, 0.0) if sign > 0 else np.minimum(su, 0.0)
    return _block_rmatvec(X, part).reshape(1, -1)


def _block_conjugate(y, s, *p_blocks, tree, loss, scale_pos, scale_neg):
    """One block's share of ``sum s L*(y, u')``, ``u' = dL(y, p)`` with its
    positive and negative parts scaled (:func:`skgd._batch.duality_gap`)."""
    u = loss.dloss(y, _evaluate(tree, p_blocks))
    u = np.where(u > 0, u * scale_pos, u * scale_neg)
    return np.array([[np.dot(s, loss_conjugate(loss, y, u))]])


def _block_softmax_shares(y, s, *Z_blocks, tree, K):
    """One block's share of :func:`skgd._multinomial.dual_shares`, one row
    of ``2 K`` partial sums."""
    P = softmax(_evaluate(tree, Z_blocks))
    return np.concatenate(dual_shares(P, one_hot(y.astype(np.intp), K), s))[None, :]


def _block_softmax_mixing(y, s, *Z_blocks, tree, c, f):
    """One block's :func:`skgd._multinomial.dual_mixing` (their largest is
    the whole data's)."""
    return np.array([[dual_mixing(softmax(_evaluate(tree, Z_blocks)), s, c, f)]])


def _block_dual_point(y, s, Z_blocks, tree, K, c, f, a):
    """``(Y, V)``: a block's one-hot labels and its rows of the dual point
    of :func:`skgd._multinomial.dual_point`."""
    Y = one_hot(y.astype(np.intp), K)
    return Y, dual_point(softmax(_evaluate(tree, Z_blocks)), Y, s, c, f, a)


def _block_softmax_dual(X, y, s, *Z_blocks, tree, K, c, f, a):
    """One block's share of ``(X' S U, sum_i s_i sum_k V_ik log V_ik)`` at
    the dual point of :func:`skgd._multinomial.dual_point`, one row of
    ``n_features * K + 1`` partial sums."""
    Y, V = _block_dual_point(y, s, Z_blocks, tree, K, c, f, a)
    d = X.shape[1]
    out = np.empty((1, d * K + 1))
    out[0, :d * K] = _block_rmatvec(X, s[:, None] * (V - Y)).ravel()
    out[0, -1] = s @ xlogy(V, V).sum(axis=1)
    return out


def _block_softmax_entropy(y, s, *Z_blocks, tree, K, c, f, a, t):
    """One block's share of ``sum_i s_i sum_k V_ik log V_ik`` at the dual
    point of :func:`_block_softmax_dual` scaled by ``t`` (``V = Y + t (V0 -
    Y)``: the scale a pure L1 penalty asks for)."""
    Y, V = _block_dual_point(y, s, Z_blocks, tree, K, c, f, a)
    V = Y + t * (V - Y)
    return np.array([[s @ xlogy(V, V).sum(axis=1)]])


def _block_power(X, s, v, fit_intercept):
    """One block's share of ``Xt S Xt v`` (a power-iteration step)."""
    d = X.shape[1]
    r = s * _block_matvec(X, v[:d], v[d])
    out = np.empty((1, d + 1))
    out[0, :d] = _block_rmatvec(X, r)
    out[0, d] = r.sum() if fit_intercept else 0.0
    return out


def _block_softmax_loss(y, s, *Z_blocks, tree, loss):
    """One block's share of ``sum s L(y, Z)`` (``Z``: the ``K`` scores of
    each row, ``y``: class indices)."""
    return np.array([[dot(s, loss.loss(y, _evaluate(tree, Z_blocks)))]])


def _block_softmax_gradients(X, y, s, *Z_blocks, tree, loss):
    """One block's share of ``(X' R, sum R, sum s L(y, Z))``, ``R = s dL/dZ``,
    as one row of ``n_features * K + K + 1`` partial sums."""
    value, R = loss.value_and_gradient(y, _evaluate(tree, Z_blocks), s)
    d, K = X.shape[1], R.shape[1]
    out = np.empty((1, d * K + K + 1))
    out[0, :d * K] = _block_rmatvec(X, R).ravel()
    out[0, d * K:-1] = R.sum(axis=0)
    out[0, -1] = value
    return out


def _block_softmax_line(y, s, *blocks, tree, loss):
    """One block's share of ``(sum s L(y, Z), sum s dL(y, Z) . Zd)``.

    ``tree`` is a ("pair", Z, Zd) expression over the score blocks.
    """
    Z, Zd = _evaluate(tree[1], blocks), _evaluate(tree[2], blocks)
    value, R = loss.value_and_gradient(y, Z, s)
    return np.array([[value, np.einsum("ij,ij->", R, Zd)]])


def _block_by_class(y, values, classes):
    """``values[c]`` for the class ``c`` of each row of a block of labels."""
    return values[np.searchsorted(classes, y)]


def _block_check(X):
    """Whether every stored value of the block is finite."""
    values = X.data if sp.issparse(X) else np.asarray(X)
    return np.array([bool(np.isfinite(values).all())])


def _row_blockwise(func, out, X, *vectors, **kwargs):
    """``func(X_blk, *vector_blks, **kwargs)`` per row block.

    ``out``: ``None`` for one value per row (shape ``(n_samples,)``),
    ``("rows", K)`` for ``K`` values per row (``(n_samples, K)``), or an
    integer ``m`` for ``m`` partial sums per block (``(n_blocks, m)``).  The
    vectors are 1-D, or 2-D with one chunk along their second axis.
    """
    import dask.array as da

    args = []
    if X is not None:
        args += [X, "ij"]
    for v in vectors:
        args += [v, "i" if v.ndim == 1 else "ik"]
    if out is None:
        return da.blockwise(func, "i", *args, dtype=np.float64, concatenate=True,
                            **kwargs)
    if isinstance(out, tuple):
        return da.blockwise(func, "ik", *args, new_axes={"k": out[1]},
                            dtype=np.float64, concatenate=True, **kwargs)
    return da.blockwise(
        func, "iz", *args, new_axes={"z": out}, adjust_chunks={"i": 1},
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
    persisted on the workers, ``rmatvec`` computes ``X.T @ r`` per block and
    sums the blocks' shares."""

    def __init__(self, X):
        self.X = X
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        # power-iteration estimates by (normalised weights, fit_intercept): the
        # one-vs-rest problems of a fit without class weights share them
        self.lipschitz_cache = {}

    def problem(self, y, sample_weight, loss, penalty, fit_intercept, val_mask=None):
        """The :class:`DaskProblem` of these rows (every row trains:
        :meth:`DaskBackend.check_supported` refuses early stopping)."""
        return DaskProblem(self, y, sample_weight, loss, penalty, fit_intercept)

    def softmax_problem(self, y, sample_weight, penalty, fit_intercept, n_classes,
                        val_mask=None):
        """The :class:`DaskSoftmaxProblem` of these rows (``y``: class indices)."""
        return DaskSoftmaxProblem(self, y, sample_weight, penalty, fit_intercept,
                                  n_classes)

    def matvec(self, w, b=0.0):
        """``X @ w + b`` in float64 (computed in the data's precision), persisted.

        ``w`` of shape ``(n_features,)`` gives a row vector of shape
        ``(n_samples,)``; of shape ``(n_features, K)`` (``b`` a scalar or of
        shape ``(K,)``), the ``(n_samples, K)`` scores of a K-output model.
        """
        w = np.asarray(w, dtype=np.float64)
        if w.ndim == 1:
            p = _row_blockwise(_block_matvec, None, self.X, w=w, b=float(b))
        else:
            b = np.broadcast_to(np.asarray(b, dtype=np.float64), (w.shape[1],))
            p = _row_blockwise(_block_matvec, ("rows", w.shape[1]), self.X, w=w,
                               b=np.array(b))
        return RowVector.of(p.persist())

    def rmatvec(self, r):
        """``X.T @ r`` in float64, a NumPy array: ``r`` a dask array of shape
        ``(n_samples,)`` or ``(n_samples, K)`` (then ``(n_features, K)``)."""
        r = r.rechunk((self.X.chunks[0],) + ((-1,) if r.ndim == 2 else ()))
        width = self.n_features * (r.shape[1] if r.ndim == 2 else 1)
        total = _sum_blocks(_row_blockwise(_block_rmatvec_row, width, self.X, r))
        return total.reshape((self.n_features,) + r.shape[1:])


class DaskProblem:
    """:class:`skgd._modes.Problem` with row vectors as dask arrays.

    ``y`` and ``sample_weight`` are float64 dask arrays chunked as the rows of
    ``data.X``, persisted here (every block computation of the fit reads
    them).  Every row trains (early stopping is not supported).
    """

    def __init__(self, data, y, sample_weight, loss, penalty, fit_intercept):
        self.data = data
        self.y = y.astype(np.float64).persist()
        self.sample_weight = sample_weight.astype(np.float64).persist()
        self.loss = loss
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        # the epoch loop only takes its length
        self.train = range(data.n_samples)

    #: one row of the model per problem (one-vs-rest)
    n_outputs = 1

    def runner_types(self):
        """No stochastic runner (:meth:`DaskBackend.check_supported` refuses
        those modes); the batch runner with per-block reductions."""
        return None, DaskBatchRunner


class DaskSoftmaxProblem(DaskProblem):
    """:class:`skgd._multinomial.SoftmaxProblem` with row vectors as dask
    arrays: ``y`` holds the class index of each row, ``sample_weight`` the
    sample times class weights."""

    def __init__(self, data, y, sample_weight, penalty, fit_intercept, n_classes):
        super().__init__(data, y, sample_weight, SoftmaxLoss(), penalty,
                         fit_intercept)
        self.n_outputs = int(n_classes)

    @property
    def n_coords(self):
        return (self.data.n_features + 1) * self.n_outputs

    def runner_types(self):
        """No stochastic runner (as :meth:`DaskProblem.runner_types`); the
        multinomial batch runner with per-block reductions."""
        return None, DaskSoftmaxBatchRunner


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


class DaskRowWeights:
    """The normalised weights and the step estimate of a batch runner on a
    :class:`DaskProblem` (shared by the binary and multinomial runners)."""

    def _normalised_weights(self):
        s = self.problem.sample_weight
        total = float(s.sum().compute())
        check_total_weight(total)  # as in memory: no silent all-zero model
        return (s / total).persist()

    def _gram_top_eigenvalue(self):
        # one-vs-rest problems with the same weights share the estimate
        pb = self.problem
        key = (self.s.name, pb.fit_intercept)
        cache = pb.data.lipschitz_cache
        if key not in cache:
            cache[key] = dask_lipschitz_constant(pb, self.s)
        return cache[key]


class DaskBatchRunner(DaskRowWeights, BatchRunner):
    """:class:`skgd._modes.BatchRunner` on a :class:`DaskProblem`.

    ``epoch`` is inherited: the predictions ``p``, ``p_prev`` and the
    extrapolation ``zp = p + beta (p - p_prev)`` are :class:`RowVector`
    objects; the objective and the gradient are one dask computation each.
    """

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

    def _hessian(self):
        # the blocks' shares, summed: (n_features + 1)^2 numbers a block
        pb = self.problem
        q = pb.data.n_features + (1 if pb.fit_intercept else 0)
        return _sum_blocks(_row_blockwise(
            _block_hessian, q * q, pb.data.X, pb.y, self.s, *self.p.arrays,
            tree=self.p.tree, loss=self.work_loss, fit_intercept=pb.fit_intercept,
        )).reshape(q, q)

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

    def _dual_bound(self, primal):
        """The in-memory bound (:meth:`skgd._modes.BatchRunner._dual_bound`,
        :func:`skgd._batch.duality_gap`) in three or four dask computations
        of partial sums: the parts' sums, ``X.T`` times the positive part
        (the negative one's is the L-BFGS gradient's rest, or one more
        computation), and the conjugates once the scales are known."""
        pb = self.problem
        l1, l2 = pb.penalty.l1_strength, pb.penalty.l2_strength
        if pb.loss.name not in CONJUGATES or (l1 == 0.0 and l2 == 0.0):
            return np.inf
        d = pb.data.n_features
        common = dict(tree=self.p.tree, loss=pb.loss)
        pos_sum, neg_sum = _sum_blocks(_row_blockwise(
            _block_dual_sums, 2, None, pb.y, self.s, *self.p.arrays, **common))
        x_pos = _sum_blocks(_row_blockwise(
            _block_dual_part, d, pb.data.X, pb.y, self.s, *self.p.arrays, sign=1,
            **common))
        if self.quasi_newton and self.g is not None:
            x_neg = self.g[:-1] - pb.penalty.gradient_smooth(self.w) - x_pos
        else:
            x_neg = _sum_blocks(_row_blockwise(
                _block_dual_part, d, pb.data.X, pb.y, self.s, *self.p.arrays,
                sign=-1, **common))
        scale_pos = scale_neg = 1.0
        if pb.fit_intercept:
            scale_pos, scale_neg = intercept_scales(pos_sum, neg_sum)
        r_conj, t = penalty_conjugate(scale_pos * x_pos + scale_neg * x_neg, l1, l2)
        scale_pos, scale_neg = t * scale_pos, t * scale_neg
        l_conj = float(_sum_blocks(_row_blockwise(
            _block_conjugate, 1, None, pb.y, self.s, *self.p.arrays,
            scale_pos=scale_pos, scale_neg=scale_neg, **common))[0])
        gap = max(self.obj - (-l_conj - r_conj), 0.0)
        self._dual = max(self._dual, self.obj - gap)
        return primal - self._dual


class DaskSoftmaxBatchRunner(DaskRowWeights, SoftmaxBatchRunner):
    """:class:`skgd._multinomial.SoftmaxBatchRunner` on a
    :class:`DaskSoftmaxProblem`.

    ``epoch`` (L-BFGS, FISTA) is inherited: the ``n_samples x K`` scores
    ``Z`` of an iterate, of a direction (``Zd``) and the extrapolation
    ``Z + beta (Z - Z_prev)`` are :class:`RowVector` objects; the loss with
    its gradients, the loss alone and a line-search value are one dask
    computation each, per-block partial sums added as in
    :class:`DaskBatchRunner`.  The log-sum-exp of a row is that of the
    in-memory loss (shifted by the row's largest score).
    """

    def _loss_sum(self, Z):
        pb = self.problem
        return _sum_blocks(_row_blockwise(
            _block_softmax_loss, 1, None, pb.y, self.s, *Z.arrays, tree=Z.tree,
            loss=pb.loss,
        ))[0]

    def _loss_gradients(self, Z):
        pb = self.problem
        Kd = self.K * self.d
        g = _sum_blocks(_row_blockwise(
            _block_softmax_gradients, Kd + self.K + 1, pb.data.X, pb.y, self.s,
            *Z.arrays, tree=Z.tree, loss=pb.loss,
        ))
        return float(g[-1]), g[:Kd].reshape(self.d, self.K).T, g[Kd:-1]

    def _line_values(self, Z, Zd):
        pb = self.problem
        pair = Z._binary("pair", Zd)
        loss, slope = _sum_blocks(_row_blockwise(
            _block_softmax_line, 2, None, pb.y, self.s, *pair.arrays,
            tree=pair.tree, loss=pb.loss,
        ))
        return float(loss), float(slope)

    def _loss_hessian(self):
        # the blocks' shares, summed: (K (n_features + 1))^2 numbers a block
        pb = self.problem
        q = self.K * (self.d + (1 if pb.fit_intercept else 0))
        return _sum_blocks(_row_blockwise(
            _block_softmax_hessian, q * q, pb.data.X, self.s, *self.Z.arrays,
            tree=self.Z.tree, fit_intercept=pb.fit_intercept,
        )).reshape(q, q)

    def _scores_along(self, Zd, a):
        # ``Z + a Zd`` evaluated on the workers (the in-memory numbers) and
        # persisted, rather than an ever longer expression
        Z = self.Z + a * Zd
        return RowVector.of(_evaluate(Z.tree, Z.arrays).persist())

    def duality_gap(self):
        """The in-memory bound (:meth:`SoftmaxBatchRunner.duality_gap`) in
        two or three dask computations of partial sums, and one more for the
        entropy at the scaled dual point without an L2 part; None without
        a penalty."""
        pb = self.problem
        l1, l2 = pb.penalty.l1_strength, pb.penalty.l2_strength
        if l1 == 0.0 and l2 == 0.0:
            return None
        K, d = self.K, self.d
        common = dict(tree=self.Z.tree)
        c = f = a = None
        if pb.fit_intercept:
            shares = _sum_blocks(_row_blockwise(
                _block_softmax_shares, 2 * K, None, pb.y, self.s, *self.Z.arrays,
                K=K, **common))
            c, f = shares[:K], shares[K:]
            a = float(np.asarray(_row_blockwise(
                _block_softmax_mixing, 1, None, pb.y, self.s, *self.Z.arrays, c=c,
                f=f, **common).compute()).max())
        parts = _sum_blocks(_row_blockwise(
            _block_softmax_dual, d * K + 1, pb.data.X, pb.y, self.s, *self.Z.arrays,
            K=K, c=c, f=f, a=a, **common))
        r_conj, t = penalty_conjugate(parts[:-1], l1, l2)
        l_conj = float(parts[-1])
        if t != 1.0:
            l_conj = float(_sum_blocks(_row_blockwise(
                _block_softmax_entropy, 1, None, pb.y, self.s, *self.Z.arrays,
                K=K, c=c, f=f, a=a, t=t, **common))[0])
        return max(self.obj + l_conj + r_conj, 0.0)


# ----------------------------------------------------------------------
# the backend: checks of dask input
class DaskBackend:
    """Dask arrays and DataFrames: the rows stay on the workers.

    The methods are those of :class:`skgd._backends.InMemoryBackend`, with
    the errors of scikit-learn's checks; each check is one dask computation
    of a few numbers.
    """

    def check_supported(self, est):
        if est.mode != "batch":
            raise ValueError(
                f"Dask input needs mode='batch' (got mode={est.mode!r}): batch "
                "mode sums the gradient over the blocks on the workers. Use "
                "mode='batch', or dask_ml.wrappers.Incremental(estimator) to "
                "stream the blocks through partial_fit in sgd or minibatch mode."
            )
        if est.early_stopping:
            raise ValueError(
                "early_stopping is not supported with dask input: hold out a "
                "validation set yourself, or use numpy input."
            )

    def validate(self, est, X, y, y_numeric=False):
        """``X`` persisted (float32 or float64, one chunk along the features),
        ``y`` aligned with its row blocks and persisted; both checked finite
        (``y`` when numeric).  Sets ``n_features_in_`` and
        ``feature_names_in_``.  Returns ``(X, y, None)`` (no row norms: batch
        mode reads none)."""
        import dask
        import dask.array as da

        X = _dask_matrix(est, X, reset=True)
        if X.dtype not in (np.float64, np.float32):
            X = X.astype(np.float64)
        X = X.persist()
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        n, d = X.shape
        if n < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape=({n}, {d})) while "
                             "a minimum of 1 is required.")
        y = _dask_vector(y, X.chunks[0], "y", lazy=False)
        if y_numeric:
            y = y.astype(np.float64)
        checks = [da.blockwise(_block_check, "i", X, "ij", adjust_chunks={"i": 1},
                               dtype=bool, concatenate=True).all()]
        if y_numeric:
            checks.append(da.isfinite(y).all())
        finite = dask.compute(*checks)
        if not finite[0]:
            raise ValueError("Input X contains NaN or infinity.")
        if not all(finite[1:]):
            raise ValueError("Input y contains NaN or infinity.")
        return X, y.persist(), None

    def classes(self, y):
        import dask.array as da

        classes = np.asarray(da.unique(y).compute())
        check_classification_targets(classes)
        return classes

    def check_sample_weight(self, sample_weight, X, allow_all_zero_weights=False):
        """Float64 weights aligned with the row blocks of ``X``, persisted."""
        import dask
        import dask.array as da

        n, chunks = X.shape[0], (X.chunks[0],)
        if sample_weight is None:
            return da.ones(n, chunks=chunks, dtype=np.float64)
        if np.ndim(sample_weight) == 0 and not is_dask_collection(sample_weight):
            s = da.full(n, float(sample_weight), chunks=chunks, dtype=np.float64)
        else:
            s = _dask_vector(sample_weight, X.chunks[0], "sample_weight", lazy=False)
            s = s.astype(np.float64)
        s = s.persist()
        finite, nonzero = dask.compute(da.isfinite(s).all(), (s != 0).any())
        if not finite:
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if not (nonzero or allow_all_zero_weights):
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        return s

    def balanced_class_weight(self, classes, y):
        """``n_samples / (n_classes * count(class))``, as
        :func:`sklearn.utils.class_weight.compute_class_weight`; the counts
        are computed on the workers (``classes`` are the labels of ``y``)."""
        import dask.array as da

        labels, counts = da.unique(y, return_counts=True)
        labels, counts = np.asarray(labels.compute()), np.asarray(counts.compute())
        counts = counts[np.searchsorted(labels, classes)].astype(np.float64)
        return counts.sum() / (len(classes) * counts)

    def by_class(self, values, classes, y):
        """``values[c]`` for the class ``c`` of each row: a lazy dask array
        with the row blocks of ``y``."""
        values = np.asarray(values)
        return y.map_blocks(_block_by_class, values, np.asarray(classes),
                            dtype=values.dtype, meta=values[:0])

    def data(self, X, mode, sq_norms=None):
        return DaskData(X)

    def defers_finite_check(self, est):
        """No: ``validate`` checks the blocks' values."""
        return False

    def values_reported_first(self, est, X):
        return contextlib.nullcontext()


def _dask_matrix(est, X, reset):
    """``X`` as a 2-D dask array with one chunk along the features, its
    columns checked (``reset=False``: against the fit) or recorded
    (``n_features_in_``, ``feature_names_in_``) by scikit-learn's
    ``validate_data`` on an empty array of its columns, without computing
    ``X``; a dask DataFrame's row-block sizes are computed only with
    ``reset`` (a fit needs them)."""
    import dask.array as da

    frame = hasattr(X, "to_dask_array")  # dask DataFrame: its _meta has columns
    meta = X._meta if frame else None
    if frame:
        X = X.to_dask_array(lengths=True if reset else None)
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
    validate_data(est, meta, reset=reset, dtype=None, ensure_min_samples=0)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def _dask_vector(v, row_chunks, name, lazy):
    """``v`` (dask, NumPy or array-like) as a 1-D dask array with the row
    blocks ``row_chunks`` of ``X``.

    ``lazy`` (prediction): nothing is computed, and row blocks of unknown
    sizes (a dask DataFrame's partitions) are accepted when ``v`` has as
    many blocks.  Otherwise (a fit) unknown sizes of ``v`` are computed.
    """
    import dask.array as da

    if hasattr(v, "to_dask_array"):  # dask Series
        v = v.to_dask_array(lengths=None if lazy else True)
    if not is_dask_collection(v):
        v = np.asarray(v)
    elif not lazy and any(np.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} should be a 1d array, got an array of shape "
                         f"{v.shape} instead.")
    n = sum(row_chunks)
    if np.isnan(n) or np.isnan(v.shape[0]):
        if is_dask_collection(v) and v.numblocks == (len(row_chunks),):
            return v
        raise ValueError(
            f"X has row blocks of unknown sizes (a dask DataFrame?) and {name} "
            "is not split into the same blocks: pass X.to_dask_array(lengths=True), "
            f"or {name} as a dask Series of the same partitions."
        )
    if v.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of "
                         f"samples: [{int(n)}, {v.shape[0]}] ({name})")
    if is_dask_collection(v):
        return v.rechunk((row_chunks,))
    return da.from_array(v, chunks=(row_chunks,))


# ----------------------------------------------------------------------
# prediction: lazy, one task per row block
def _block_predict(X, estimator, method):
    """``estimator.<method>(X)`` on one row block (a NumPy or sparse block)."""
    return getattr(estimator, method)(X)


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
    X = _dask_matrix(estimator, X, reset=False)
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
    y = _dask_vector(y, pred.chunks[0], "y", lazy=True)
    w = None
    if sample_weight is not None:
        w = _dask_vector(sample_weight, pred.chunks[0], "sample_weight", lazy=True)
        w = w.astype(np.float64)
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
