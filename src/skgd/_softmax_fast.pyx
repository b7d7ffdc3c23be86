"""The compiled pass of multinomial (softmax) logistic regression.

One call of :func:`run_softmax_epoch` runs one epoch of stochastic or
minibatch gradient descent on the ``K`` rows of a multinomial model
together.  The notation is that of :mod:`skgd._gd_fast`, with a weight
matrix ``W`` (``K x n_features``) and intercepts ``b`` (``K``):

* ``W = wscale * V`` with ``V`` stored feature-major, ``v[j * K + c]`` for
  feature ``j`` and class ``c``: the ``K`` weights a nonzero ``x_j`` touches
  are contiguous, so a sparse row costs O(K x nnz) in a few cache lines per
  nonzero;
* ``z = W x + b`` the ``K`` raw predictions of a row,
  ``L(y, z) = log sum_c exp(z_c) - z_y`` its loss (log-sum-exp, computed
  from ``z - max(z)``: it neither overflows nor underflows), and
  ``dL / dz_c = softmax(z)_c - [c == y]`` its gradient.

The state is a :class:`SoftmaxState`: a :class:`skgd._gd_fast.WeightState`
over the ``K x n_features`` weights (so that the L2 scale, the cumulative L1
penalty, averaging and the optimizers' per-coordinate slots work as in the
binary pass, coordinate for coordinate) with ``K`` intercepts.
"""
from libc.math cimport exp, fabs, isfinite, log
from libc.stdint cimport int32_t, int64_t

import numpy as np

cimport cython
from cython cimport floating

from skgd._gd_fast cimport (
    PENALTY_ELASTICNET,
    PENALTY_L1,
    PENALTY_L2,
    PENALTY_NONE,
    SKGD_PREFETCH,
    RowIndex,
    WeightState,
    far_prefetches,
    penalty_value,
    prefetch_ahead,
    row_view,
    set_v,
)
from skgd._optim_fast cimport (
    SLOT_G,
    SLOT_LAST,
    STEP_GRADIENT,
    opt_catch_up_weight,
    opt_step_weight,
)


cdef class SoftmaxState(WeightState):
    """The whole state of one multinomial problem.

    Parameters
    ----------
    coef : ndarray of shape (n_classes, n_features)
        Initial weights (copied, stored feature-major).
    intercept : ndarray of shape (n_classes,)
        Initial intercepts.
    penalty, alpha, l1_ratio, fit_intercept, t, average_start
        As for :class:`skgd._gd_fast.WeightState`.
    avg_coef : ndarray of shape (n_classes, n_features), optional
    avg_intercept : ndarray of shape (n_classes,), optional
    n_averaged : int
        Average so far, and over how many updates (to resume averaging).
    """

    cdef public Py_ssize_t n_classes
    cdef public double[::1] intercepts
    cdef public double[::1] avg_intercepts_sum

    def __init__(self, coef, intercept, int penalty, double alpha,
                 double l1_ratio, bint fit_intercept, int64_t t=1,
                 int64_t average_start=0, avg_coef=None, avg_intercept=None,
                 int64_t n_averaged=0):
        coef = np.asarray(coef, dtype=np.float64)
        if coef.ndim != 2:
            raise ValueError(f"coef must be 2-d (n_classes, n_features), got {coef.shape}")
        avg = None if avg_coef is None else np.asarray(avg_coef, dtype=np.float64).T.ravel()
        WeightState.__init__(self, coef.T.ravel(), 0.0, penalty, alpha, l1_ratio,
                             fit_intercept, t, average_start, avg, 0.0, n_averaged)
        self.n_classes = coef.shape[0]
        self.intercepts = np.array(intercept, dtype=np.float64).reshape(self.n_classes)
        if avg_intercept is None:
            self.avg_intercepts_sum = np.zeros(self.n_classes)
        else:
            self.avg_intercepts_sum = np.broadcast_to(
                np.asarray(avg_intercept, dtype=np.float64), (self.n_classes,)
            ) * float(n_averaged)

    def __reduce__(self):
        fields = {name: getattr(self, name) for name in self._FIELDS}
        arrays = {name: np.asarray(getattr(self, name)).copy()
                  for name in ("v", "q", "avg_sum", "intercepts",
                               "avg_intercepts_sum")}
        opt = None if self.opt is None else self.opt.copy()
        return (_rebuild_softmax_state, (fields, arrays, opt))

    def coef(self):
        """The weights ``W`` as a new (n_classes, n_features) float64 array."""
        return self._by_class(np.asarray(self.v) * self.wscale)

    def intercept_vector(self):
        """The intercepts ``b`` as a new float64 array."""
        return np.array(self.intercepts)

    def average_coef(self):
        """The averaged weights (zeros before averaging)."""
        return self._by_class(WeightState.average_coef(self))

    def average_intercepts(self):
        """The averaged intercepts (zeros before averaging)."""
        if self.n_averaged == 0:
            return np.zeros(self.n_classes)
        return np.asarray(self.avg_intercepts_sum) / self.n_averaged

    def is_finite(self):
        return bool(WeightState.is_finite(self)
                    and np.all(np.isfinite(self.intercepts)))

    def _by_class(self, flat):
        return np.ascontiguousarray(flat.reshape(-1, self.n_classes).T)


def _rebuild_softmax_state(fields, arrays, opt):
    K = arrays["intercepts"].shape[0]
    d = arrays["v"].shape[0] // max(K, 1)
    st = SoftmaxState(np.zeros((K, d)), np.zeros(K), 0, 0.0, 0.0, False)
    for name, value in fields.items():
        setattr(st, name, value)
    # writeable copies: a pickle may be loaded as read-only memory maps
    st.v, st.q, st.avg_sum, st.intercepts, st.avg_intercepts_sum = (
        np.array(arrays[name], dtype=np.float64)
        for name in ("v", "q", "avg_sum", "intercepts", "avg_intercepts_sum"))
    st.opt = opt
    return st


# ----------------------------------------------------------------------
# one row
cdef inline double softmax_gradient(double* z, Py_ssize_t K, Py_ssize_t label,
                                    double* g) noexcept nogil:
    """``L(y, z)``, with ``softmax(z) - e_y`` written into ``g``."""
    cdef Py_ssize_t c
    cdef double top = z[0], total = 0.0
    for c in range(1, K):
        if z[c] > top:
            top = z[c]
    for c in range(K):
        g[c] = exp(z[c] - top)
        total += g[c]
    for c in range(K):
        g[c] /= total
    g[label] -= 1.0
    return log(total) + top - z[label]


cdef inline void prefetch_weight_rows(const double* v, const int32_t* idx,
                                      int nnz, Py_ssize_t K) noexcept nogil:
    """Prefetch the ``K`` weights of each column ``idx[:nnz]`` of a CSR row
    (their first and last, which may lie in the next cache line)."""
    cdef int k
    for k in range(nnz):
        SKGD_PREFETCH(v + idx[k] * K)
        SKGD_PREFETCH(v + idx[k] * K + K - 1)


cdef inline void margins(SoftmaxState st, const floating* x, const int32_t* idx,
                         int nnz, double* z) noexcept nogil:
    """``z = W x + b`` (plain steps: ``W = wscale * V``)."""
    cdef Py_ssize_t K = st.n_classes, c, base
    cdef double* v = &st.v[0]
    cdef double xk
    cdef int kk
    for c in range(K):
        z[c] = 0.0
    for kk in range(nnz):
        xk = x[kk]
        base = idx[kk] * K
        for c in range(K):
            z[c] += v[base + c] * xk
    for c in range(K):
        z[c] = z[c] * st.wscale + st.intercepts[c]


cdef inline void add_row(SoftmaxState st, const floating* x, const int32_t* idx,
                         int nnz, const double* coef) noexcept nogil:
    """``W += coef x'`` (``coef`` holds ``K`` numbers) in O(K nnz), keeping
    the norms and the averaged sum consistent (as ``set_v``)."""
    cdef Py_ssize_t K = st.n_classes, c, jj
    cdef double wscale = st.wscale
    cdef double w2 = wscale * wscale
    cdef double avg_c = st.avg_c
    cdef double sq_norm = st.sq_norm, l1_norm = st.l1_norm
    cdef double* v = &st.v[0]
    cdef double* avg_sum = &st.avg_sum[0]
    cdef bint norms = st.penalty != PENALTY_NONE
    cdef bint l1 = norms and st.l1_ratio > 0.0
    cdef double xv, old, new
    cdef int kk
    for kk in range(nnz):
        xv = x[kk] / wscale
        if xv == 0.0:
            continue
        jj = idx[kk] * K
        for c in range(K):
            old = v[jj + c]
            new = old + coef[c] * xv
            v[jj + c] = new
            if norms:
                sq_norm += w2 * (new * new - old * old)
                if l1:
                    l1_norm += wscale * (fabs(new) - fabs(old))
            if avg_c != 0.0:
                avg_sum[jj + c] -= avg_c * (new - old)
    st.sq_norm = sq_norm
    st.l1_norm = l1_norm


cdef inline void l1_row(SoftmaxState st, const floating* x, const int32_t* idx,
                        int nnz) noexcept nogil:
    """The cumulative L1 penalty on the ``K`` weights of each nonzero of a
    row (as :func:`skgd._gd_fast.l1_row`, coordinate for coordinate)."""
    cdef Py_ssize_t K = st.n_classes, c, jj
    cdef double z, new, wscale = st.wscale
    cdef int kk
    for kk in range(nnz):
        if x[kk] == 0:
            continue
        for c in range(K):
            jj = idx[kk] * K + c
            z = st.v[jj]
            new = z
            if wscale * z > 0.0:
                new = max(0.0, z - (st.u + st.q[jj]) / wscale)
            elif wscale * z < 0.0:
                new = min(0.0, z + (st.u - st.q[jj]) / wscale)
            if new != z:
                set_v(st, jj, new, False)
                st.q[jj] += wscale * (new - z)


cdef void caught_up_margins(SoftmaxState st, const floating* x, const int32_t* idx,
                            int nnz, double eta, double* z, int32_t* touched,
                            Py_ssize_t* n_touched) noexcept nogil:
    """``z = W x + b`` for a row of the current optimizer update, each of the
    row's features brought up to date first (its ``K`` weights take the
    moves and the proximal steps of the updates they missed, as
    :func:`skgd._gd_fast.caught_up_dot`); a feature is listed in
    ``touched`` the first time the update sees it (its ``K`` coordinates
    are always touched together)."""
    cdef Py_ssize_t K = st.n_classes, c, jj, j
    cdef int64_t T = st.opt.n_steps, missed
    cdef double new, xk
    cdef int kk
    cdef double l1 = 0.0, l2 = 0.0
    if st.penalty != PENALTY_NONE:
        l1 = st.alpha * st.l1_ratio
        l2 = st.alpha * (1.0 - st.l1_ratio)
    for c in range(K):
        z[c] = st.intercepts[c]
    for kk in range(nnz):
        xk = x[kk]
        if xk == 0:
            continue
        j = idx[kk]
        jj = j * K
        if <int64_t> st.opt.slots[jj, SLOT_LAST] != T:
            missed = T - 1 - <int64_t> st.opt.slots[jj, SLOT_LAST]
            for c in range(K):
                if missed > 0:
                    new = opt_catch_up_weight(&st.opt.c, st.opt.kind,
                                              &st.opt.slots[jj + c, 0], missed,
                                              st.v[jj + c], eta, l1, l2)
                    set_v(st, jj + c, new, True)
                st.opt.slots[jj + c, SLOT_LAST] = <double> T
                st.opt.slots[jj + c, SLOT_G] = 0.0
            touched[n_touched[0]] = <int32_t> j
            n_touched[0] += 1
        for c in range(K):
            z[c] += st.v[jj + c] * xk


cdef inline void gather_row(SoftmaxState st, const floating* x, const int32_t* idx,
                            int nnz, const double* coef) noexcept nogil:
    """Add ``coef x'`` to the gathered gradient of the row's weights."""
    cdef Py_ssize_t K = st.n_classes, c, jj
    cdef int kk
    for kk in range(nnz):
        if x[kk] == 0:
            continue
        jj = idx[kk] * K
        for c in range(K):
            st.opt.slots[jj + c, SLOT_G] += coef[c] * x[kk]


cdef void optimizer_step(SoftmaxState st, const int32_t* touched, Py_ssize_t nt,
                         const double* gb, double eta) noexcept nogil:
    """One optimizer step on the ``K`` weights of each touched feature along
    their gathered gradient, then the penalty's proximal step (as
    :func:`skgd._gd_fast.optimizer_step`); the ``K`` intercepts (gradient
    ``gb``, slots after the weights') are always touched, never penalised."""
    cdef Py_ssize_t K = st.n_classes, k, c, jj, n_coef = st.v.shape[0]
    cdef double new
    cdef double l1 = 0.0, l2 = 0.0
    if st.penalty != PENALTY_NONE:
        l1 = st.alpha * st.l1_ratio
        l2 = st.alpha * (1.0 - st.l1_ratio)
    for k in range(nt):
        jj = touched[k] * K
        for c in range(K):
            new = opt_step_weight(&st.opt.c, st.opt.kind, &st.opt.slots[jj + c, 0],
                                  st.opt.slots[jj + c, SLOT_G], st.v[jj + c], eta,
                                  l1, l2)
            set_v(st, jj + c, new, True)
    if st.fit_intercept:
        for c in range(K):
            st.intercepts[c] = opt_step_weight(
                &st.opt.c, st.opt.kind, &st.opt.slots[n_coef + c, 0],
                gb[c] * st.intercept_decay, st.intercepts[c], eta, 0.0, 0.0)


cdef inline void average_step(SoftmaxState st) noexcept nogil:
    cdef Py_ssize_t c
    if 0 < st.average_start <= st.t:
        st.avg_c += st.wscale
        for c in range(st.n_classes):
            st.avg_intercepts_sum[c] += st.intercepts[c]
        st.n_averaged += 1


@cython.cdivision(True)
@cython.boundscheck(False)
@cython.wraparound(False)
def run_softmax_epoch(SoftmaxState st, loss, const floating[::1] data,
                      RowIndex rows, const double[::1] y,
                      const double[::1] sample_weight, const Py_ssize_t[::1] order,
                      Py_ssize_t batch_size, const double[::1] etas):
    """Run one epoch of multinomial minibatch gradient descent.

    The arguments and results are those of :func:`skgd._gd_fast.run_epoch`
    (``loss`` is unused: the loss is the softmax's), with ``y`` the class
    index of each row (``0 .. K - 1``, as float64).  For each batch of
    ``m`` rows the ``K`` gradients of every row are computed at the weights
    before the step, then one step is taken::

        W <- (1 - eta alpha (1 - l1_ratio)) W - eta / m sum_i s_i g_i x_i'
        b <- b - eta / m sum_i s_i g_i,   g_i = softmax(W x_i + b) - e_(y_i)

    followed by the cumulative L1 step on the weights of the nonzero
    features of the batch's rows; with an optimizer, the batch gradient is
    gathered on the touched weights and stepped once (lazily, as in the
    binary pass).
    """
    cdef Py_ssize_t n = order.shape[0], K = st.n_classes
    cdef Py_ssize_t n_batches = (n + batch_size - 1) // batch_size
    cdef Py_ssize_t m_max = max(min(batch_size, n), 1)
    cdef double[:, ::1] upd = np.zeros((m_max, K))
    cdef double[::1] z = np.zeros(K), g = np.zeros(K), ib = np.zeros(K)
    cdef const floating* x
    cdef const int32_t* idx
    cdef int nnz
    cdef Py_ssize_t bi, k, c, start, end, i, m, label, nt = 0
    cdef double eta, s, lv, pen, scale
    cdef double sum_loss = 0.0, sum_wloss = 0.0, sum_w = 0.0, sum_pen = 0.0
    cdef double sum_z = 0.0
    cdef double l2_part = 1.0 - st.l1_ratio
    cdef bint has_l2 = st.penalty == PENALTY_L2 or st.penalty == PENALTY_ELASTICNET
    cdef bint has_l1 = st.penalty == PENALTY_L1 or st.penalty == PENALTY_ELASTICNET
    cdef int64_t n_updates = 0
    cdef bint gathered = st.opt is not None
    cdef Py_ssize_t n_work = st.v.shape[0] // max(K, 1) if gathered else 1
    cdef int32_t[::1] touched = np.zeros(max(n_work, 1), dtype=np.int32)
    # rows visited in random order: their entries prefetched as the binary
    # pass does (prefetch_ahead), and on CSR data the weights of the row
    # two ahead, K per column (K x 8 bytes per nonzero: a model of 10
    # classes over 262,144 columns is 21 MB, beyond the caches)
    cdef bint far = far_prefetches(data)
    cdef bint sparse = rows.stride == 0
    cdef const floating* x_ahead
    cdef const int32_t* idx_ahead
    cdef int nnz_ahead

    st.stop_penalty_sum = 0.0
    st.margin_sum = 0.0
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0, 0
    if st.step_rule != STEP_GRADIENT:
        raise ValueError("the passive-aggressive steps are for binary margins")
    if gathered:
        if st.opt.slots.shape[0] != st.v.shape[0] + K:
            raise ValueError("the optimizer's slots do not match the weights")
        st.fold_scale()
    if etas.shape[0] < n_batches:
        raise ValueError("etas has %d entries, need %d" % (etas.shape[0], n_batches))
    for k in range(n):
        label = <Py_ssize_t> y[order[k]]
        if not (0 <= label < K) or label != y[order[k]]:
            raise ValueError("y must hold class indices 0 .. n_classes - 1")
    st.row_norms = False

    with nogil:
        for bi in range(n_batches):
            start = bi * batch_size
            end = min(start + batch_size, n)
            m = end - start
            eta = etas[bi]
            pen = penalty_value(st)
            for c in range(K):
                ib[c] = 0.0
            if gathered:
                st.opt.begin_step()
                nt = 0
            # 1. the K gradients of each row at the weights before the step
            for k in range(start, end):
                i = order[k]
                prefetch_ahead(&data[0], rows, &order[0], k, n, &y[0],
                               &sample_weight[0], far)
                if sparse and k + 2 < n:
                    nnz_ahead = row_view(&data[0], rows, order[k + 2], &x_ahead,
                                         &idx_ahead)
                    prefetch_weight_rows(&st.v[0], idx_ahead, nnz_ahead, K)
                label = <Py_ssize_t> y[i]
                s = sample_weight[i]
                nnz = row_view(&data[0], rows, i, &x, &idx)
                if gathered:
                    caught_up_margins(st, x, idx, nnz, eta, &z[0], &touched[0], &nt)
                else:
                    margins(st, x, idx, nnz, &z[0])
                for c in range(K):
                    sum_z += z[c]
                lv = softmax_gradient(&z[0], K, label, &g[0])
                sum_loss += lv
                sum_wloss += s * lv
                sum_w += s
                sum_pen += pen
                if gathered:
                    for c in range(K):
                        g[c] = g[c] * s / m
                        ib[c] += g[c]
                    if s != 0.0:
                        gather_row(st, x, idx, nnz, &g[0])
                else:
                    for c in range(K):
                        upd[k - start, c] = -eta * g[c] * s / m
            if gathered:
                optimizer_step(st, &touched[0], nt, &ib[0], eta)
                average_step(st)
                st.t += m
                n_updates += 1
                continue
            # 2. one step for the whole batch (linear: rows scattered in)
            if has_l2:
                scale = max(0.0, 1.0 - l2_part * eta * st.alpha)
                st.scale(scale)
            for k in range(start, end):
                if sample_weight[order[k]] == 0.0:
                    continue
                nnz = row_view(&data[0], rows, order[k], &x, &idx)
                add_row(st, x, idx, nnz, &upd[k - start, 0])
                for c in range(K):
                    ib[c] += upd[k - start, c]
            if st.fit_intercept:
                for c in range(K):
                    st.intercepts[c] += ib[c] * st.intercept_decay
            average_step(st)
            if has_l1:
                st.u += st.l1_ratio * eta * st.alpha
                for k in range(start, end):
                    nnz = row_view(&data[0], rows, order[k], &x, &idx)
                    l1_row(st, x, idx, nnz)
            st.t += m
            n_updates += 1
    st.stop_penalty_sum = sum_pen
    st.margin_sum = sum_z
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates
