"""Compiled passes of gradient descent over the rows of a data set.

One call of :func:`run_epoch` runs one epoch of stochastic (``batch_size=1``)
or minibatch gradient descent.  Notation used throughout:

* ``w = wscale * v`` are the weights (``v`` is stored, ``wscale`` is a
  scalar so that the L2 shrinkage costs O(1) per update), ``b`` the intercept;
* ``p = x.w + b`` the raw prediction of a row ``x``;
* ``eta`` a step size, ``t`` the row counter (starts at 1 and advances by
  the rows of each update, as scikit-learn's ``t_``).

Dense (C-ordered) and CSR data come through one row view (:class:`RowIndex`
plus the data array), so the pass never branches on sparsity and a sparse
update costs O(nnz of the batch).
"""
from libc.math cimport fabs, isfinite, pow, sqrt
from libc.stdint cimport int32_t, int64_t, uint32_t, uint8_t
from libc.string cimport memset

import numpy as np

cimport cython
from cython.parallel cimport prange, threadid
from cython cimport floating

from skgd._loss_fast cimport CyLoss
from skgd._optim_fast cimport (
    N_SLOTS,
    SLOT_G,
    SLOT_LAST,
    STEP_GRADIENT,
    OptConsts,
    Optimizer,
    opt_catch_up_weight,
    opt_step_weight,
    passive_aggressive_step,
)


# A derivative larger than this is clipped (guards against overflow).
cdef double MAX_DLOSS = 1e12


cdef inline double clipped_dloss(CyLoss loss, double y, double p) noexcept nogil:
    """``dL(y, p)/dp`` clipped to ``[-MAX_DLOSS, MAX_DLOSS]``, as
    scikit-learn's SGD clips it."""
    cdef double d = loss.dloss(y, p)
    if d < -MAX_DLOSS:
        return -MAX_DLOSS
    if d > MAX_DLOSS:
        return MAX_DLOSS
    return d
cdef enum:
    # Entries of a row whose optimizer slots are prefetched ahead of their
    # use (a compile-time constant: a global would be reloaded after every
    # store of the loops that use it).
    PREFETCH_AHEAD = 8
    # Rows of an update whose slots are prefetched ahead (into L2)
    SLOT_ROWS_AHEAD = 2
# Below this weight scale, the scale is folded into v (O(n_features), rare).
cdef double MIN_WSCALE = 1e-9


cdef class RowIndex:
    """Where the rows of a data set are: the non-float part of the row view.

    Parameters
    ----------
    indices : ndarray of int32
        CSR column indices, or ``arange(n_features)`` for dense data.
    indptr : ndarray of int64
        CSR row pointers (``n_samples + 1``); ignored for dense data.
    stride : int
        ``n_features`` for C-ordered dense data (row ``i`` starts at
        ``data[i * stride]``), 0 for CSR data.
    """

    def __init__(self, indices, indptr, Py_ssize_t stride):
        self.indices = indices
        self.indptr = indptr
        self.stride = stride


cdef class WeightState:
    """Weights, intercept and every per-fit state a pass reads and updates.

    The weights are ``w = wscale * v``.  The L1 part of the penalty uses the
    cumulative penalty of Tsuruoka et al. (2009): ``u`` is the total L1
    penalty each weight could have received so far, ``q[j]`` what weight
    ``j`` actually received.  Averaging keeps the sum of the averaged iterates
    as ``avg_sum + avg_c * v`` so that a sparse update stays O(nnz).

    Parameters
    ----------
    coef : ndarray of float64, shape (n_features,)
        Initial weights (copied).
    intercept : float
        Initial intercept.
    penalty : int
        A :class:`PenaltyKind` code.
    alpha, l1_ratio : float
        Regularisation strength and L1 share (``l1_ratio`` is 0 for L2 and
        1 for L1).
    fit_intercept : bool
    t : int
        Row counter (1 for a new fit): the number of rows the updates so far
        have used, plus one (scikit-learn's ``t_``).
    average_start : int
        Averaging covers the updates with ``t >= average_start``; 0 disables.
    avg_coef, avg_intercept, n_averaged
        Average so far, and over how many updates (to resume averaging).
    """

    def __init__(self, coef, double intercept, int penalty, double alpha,
                 double l1_ratio, bint fit_intercept, int64_t t=1,
                 int64_t average_start=0, avg_coef=None,
                 double avg_intercept=0.0, int64_t n_averaged=0):
        self.v = np.array(coef, dtype=np.float64, order="C")
        self.wscale = 1.0
        self.intercept = intercept
        self.sq_norm = float(np.dot(coef, coef))
        self.l1_norm = float(np.abs(coef).sum())
        self.u = 0.0
        self.q = np.zeros(self.v.shape[0])
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.t = t
        self.average_start = average_start
        self.n_averaged = n_averaged
        if avg_coef is None:
            self.avg_sum = np.zeros(self.v.shape[0])
        else:
            self.avg_sum = np.asarray(avg_coef, dtype=np.float64) * n_averaged
        self.avg_c = 0.0
        self.avg_intercept_sum = avg_intercept * n_averaged
        self.step_rule = STEP_GRADIENT
        self.pa_c = 0.0
        self.margin_loss = True
        self.intercept_decay = 1.0
        # scikit-learn's kept norms for the stopping objective (sgd mode)
        self.row_norms = False
        self.row_sq_norm = self.sq_norm
        self.row_l1_norm = self.l1_norm
        self.stop_penalty_sum = 0.0
        self.margin_sum = 0.0
        self.opt = None
        self.guard_serial_left = 0
        self.guard_backoff = 0

    # the whole state, for pickling and copying (a problem's state persists
    # on the estimator between partial_fit calls)
    _FIELDS = (
        "wscale", "intercept", "sq_norm", "l1_norm", "u", "avg_c",
        "avg_intercept_sum", "n_averaged", "t", "penalty", "alpha", "l1_ratio",
        "fit_intercept", "average_start", "step_rule", "pa_c", "margin_loss",
        "intercept_decay", "row_norms", "row_sq_norm", "row_l1_norm",
        "stop_penalty_sum",
    )

    def __reduce__(self):
        fields = {name: getattr(self, name) for name in self._FIELDS}
        arrays = {name: np.asarray(getattr(self, name)).copy()
                  for name in ("v", "q", "avg_sum")}
        opt = None if self.opt is None else self.opt.copy()
        return (_rebuild_state, (fields, arrays, opt))

    def copy(self):
        """An independent copy of the whole state."""
        fn, args = self.__reduce__()
        return fn(*args)

    def fold_scale(self):
        """Fold ``wscale`` into ``v`` (O(n_features)), keeping the average."""
        cdef Py_ssize_t j
        if self.wscale == 1.0:
            return
        for j in range(self.v.shape[0]):
            self.avg_sum[j] += self.avg_c * self.v[j]
            self.v[j] *= self.wscale
        self.avg_c = 0.0
        self.wscale = 1.0

    def coef(self):
        """The weights ``w`` as a new float64 array."""
        return np.asarray(self.v) * self.wscale

    def average_coef(self):
        """The averaged weights as a new float64 array (zeros before averaging)."""
        if self.n_averaged == 0:
            return np.zeros(self.v.shape[0])
        total = np.asarray(self.avg_sum) + self.avg_c * np.asarray(self.v)
        return total / self.n_averaged

    def average_intercept(self):
        """The averaged intercept (0 before averaging)."""
        if self.n_averaged == 0:
            return 0.0
        return self.avg_intercept_sum / self.n_averaged

    def is_finite(self):
        """Whether the weights, their scale and the intercept are all finite."""
        cdef Py_ssize_t j
        cdef bint finite = isfinite(self.wscale) and isfinite(self.intercept)
        with nogil:
            for j in range(self.v.shape[0]):
                if not finite:
                    break
                finite = isfinite(self.v[j])
        return bool(finite)

    def penalty_value(self):
        """alpha * ((1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1), tracked."""
        return penalty_value(self)

    cdef void scale(self, double c) noexcept nogil:
        """Multiply the weights by ``c`` in O(1) (O(n_features) when rescaling)."""
        cdef Py_ssize_t j
        self.wscale *= c
        self.sq_norm *= c * c
        self.l1_norm *= fabs(c)
        self.row_sq_norm *= c * c
        self.row_l1_norm *= fabs(c)
        if self.wscale < MIN_WSCALE:
            # Fold the scale into v; keep the averaged sum avg_sum + avg_c v.
            for j in range(self.v.shape[0]):
                self.avg_sum[j] += self.avg_c * self.v[j]
                self.v[j] *= self.wscale
            self.avg_c = 0.0
            self.wscale = 1.0

    cdef double scaled(self, double c) noexcept nogil:
        """The ``wscale`` that :meth:`scale` ``(c)`` leaves (1 where it folds
        the scale into ``v``), without scaling."""
        cdef double w = self.wscale * c
        return 1.0 if w < MIN_WSCALE else w


cdef inline double stop_penalty_value(WeightState st) noexcept nogil:
    """The penalty in the stopping objective: as scikit-learn computes it.

    Without ``row_norms`` it is :func:`penalty_value`.  In sgd mode
    (``row_norms``) it uses scikit-learn's kept norms: those of the
    coordinates of the last row added (of all the weights, for a dense row),
    summed by the add and then only scaled: its L1 step does not update
    them, nor does a row that takes no step.  The stopping rule uses them,
    so that sgd mode stops at the same epoch as ``SGDClassifier``.
    """
    cdef double sq_norm
    if not st.row_norms:
        return penalty_value(st)
    if st.penalty == PENALTY_NONE:
        return 0.0
    sq_norm = sqrt(st.row_sq_norm)
    return st.alpha * ((1.0 - st.l1_ratio) * 0.5 * sq_norm * sq_norm
                       + st.l1_ratio * st.row_l1_norm)


cdef inline double dot(WeightState st, const floating* x, const int32_t* idx,
                       int nnz) noexcept nogil:
    cdef double s = 0.0
    cdef int k
    for k in range(nnz):
        s += st.v[idx[k]] * x[k]
    return s * st.wscale


cdef struct Writes:
    # Writes to the weights with the tracked norms and the averaged sum kept
    # consistent (the arithmetic of set_v, in its order), the state's fields
    # in locals: read through the state, the norms would chain through
    # memory from one coordinate to the next (the compiler must assume that
    # the stores to v may alias them).
    double* v
    double* avg_sum
    double wscale
    double w2
    double avg_c
    double sq_norm
    double l1_norm
    bint norms
    bint l1          # the L1 norm only enters the objective when l1_ratio > 0


cdef inline Writes state_writes(WeightState st) noexcept nogil:
    """Writes to the weights of ``st`` (:func:`end_state_writes` stores the
    norms back)."""
    cdef Writes w
    w.v = &st.v[0]
    w.avg_sum = &st.avg_sum[0]
    w.wscale = st.wscale
    w.w2 = st.wscale * st.wscale
    w.avg_c = st.avg_c
    w.sq_norm = st.sq_norm
    w.l1_norm = st.l1_norm
    w.norms = st.penalty != PENALTY_NONE
    w.l1 = w.norms and st.l1_ratio > 0.0
    return w


cdef inline void end_state_writes(Writes* w, WeightState st) noexcept nogil:
    st.sq_norm = w.sq_norm
    st.l1_norm = w.l1_norm


cdef inline void track(Writes* w, Py_ssize_t j, double old, double new,
                       bint keep_average) noexcept nogil:
    """Keep the norms (and the averaged sum if asked) consistent with
    ``v[j]`` changed from ``old`` to ``new``."""
    if w.norms:
        w.sq_norm += w.w2 * (new * new - old * old)
        if w.l1:
            w.l1_norm += w.wscale * (fabs(new) - fabs(old))
    if keep_average and w.avg_c != 0.0:
        w.avg_sum[j] -= w.avg_c * (new - old)


cdef inline void write(Writes* w, Py_ssize_t j, double old, double new,
                       bint keep_average) noexcept nogil:
    """``v[j] = new`` (it was ``old``), the norms (and the averaged sum if
    asked) kept consistent."""
    w.v[j] = new
    track(w, j, old, new, keep_average)


cdef struct Adds:
    # What adding to the weights entry by entry reads, in locals (read
    # through a Writes*, avg_c would be reloaded after each store to v)
    double* v
    double* avg_sum
    double avg_c
    bint l1


cdef inline Adds adds_of(Writes* w) noexcept nogil:
    cdef Adds d
    d.v = w.v
    d.avg_sum = w.avg_sum
    d.avg_c = w.avg_c
    d.l1 = w.l1
    return d


cdef inline double add_entry(Adds* d, Py_ssize_t j, double xk, double cv,
                             double* l1_change, bint average,
                             double* new_value) noexcept nogil:
    """``v[j] += cv xk``, the averaged sum kept if ``average`` (``avg_c``
    is not 0: the callers test it once per row, and call this with a
    constant, so that the loops GCC compiles for each value carry no test
    per entry); returns the change of ``v[j] ** 2``, adds that of
    ``|v[j]|`` to ``l1_change`` if the L1 norm is tracked
    (:func:`add_entries` sums them) and stores the new ``v[j]`` in
    ``new_value`` for callers that need it (read back from ``v``, it had
    to be loaded again after the store to the averaged sum, which may
    alias ``v``)."""
    cdef double old = d.v[j]
    cdef double new = old + cv * xk
    d.v[j] = new
    if d.l1:
        l1_change[0] += fabs(new) - fabs(old)
    if average:
        d.avg_sum[j] -= d.avg_c * (new - old)
    new_value[0] = new
    return new * new - old * old


cdef inline void add_entries(Writes* w, const floating* x, const int32_t* idx,
                             int a, int b, double cv) noexcept nogil:
    """``v += cv * x`` over the entries ``a:b`` of a row (``idx`` NULL: a
    dense row, column ``k`` at entry ``k``), the averaged sum kept.

    The changes of the tracked norms are summed in four interleaved partial
    sums and added once per row: added write by write (:func:`track`),
    they chained one addition per entry, four sums overlap.  Their rounding
    differs from write-by-write tracking's by a few ulps; the weights are
    the same.  Dense and CSR rows take twin loops: one loop choosing the
    column per entry (``k`` or ``idx[k]``) ran 46% (dense) and 18% (CSR)
    more instructions (callgrind; GCC did not split it)."""
    cdef int k
    if not w.norms and w.avg_c == 0.0:
        if idx == NULL:
            for k in range(a, b):
                w.v[k] += cv * x[k]
        else:
            for k in range(a, b):
                w.v[idx[k]] += cv * x[k]
    elif idx == NULL:
        if w.avg_c != 0.0:
            add_dense_entries(w, x, a, b, cv, True)
        else:
            add_dense_entries(w, x, a, b, cv, False)
    elif w.avg_c != 0.0:
        add_sparse_entries(w, x, idx, a, b, cv, True)
    else:
        add_sparse_entries(w, x, idx, a, b, cv, False)


cdef inline void add_dense_entries(Writes* w, const floating* x, int a, int b,
                                   double cv, bint average) noexcept nogil:
    """:func:`add_entries` on a dense row, the norms tracked."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef double l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0
    cdef double new
    cdef Adds d = adds_of(w)
    cdef int k = a
    while k + 4 <= b:
        s0 += add_entry(&d, k, x[k], cv, &l0, average, &new)
        s1 += add_entry(&d, k + 1, x[k + 1], cv, &l1, average, &new)
        s2 += add_entry(&d, k + 2, x[k + 2], cv, &l2, average, &new)
        s3 += add_entry(&d, k + 3, x[k + 3], cv, &l3, average, &new)
        k += 4
    while k < b:
        s0 += add_entry(&d, k, x[k], cv, &l0, average, &new)
        k += 1
    add_norm_changes(w, s0, s1, s2, s3, l0, l1, l2, l3)


cdef inline void add_sparse_entries(Writes* w, const floating* x,
                                    const int32_t* idx, int a, int b,
                                    double cv, bint average) noexcept nogil:
    """:func:`add_entries` on a CSR row, the norms tracked."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef double l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0
    cdef double new
    cdef Adds d = adds_of(w)
    cdef int k = a
    while k + 4 <= b:
        s0 += add_entry(&d, idx[k], x[k], cv, &l0, average, &new)
        s1 += add_entry(&d, idx[k + 1], x[k + 1], cv, &l1, average, &new)
        s2 += add_entry(&d, idx[k + 2], x[k + 2], cv, &l2, average, &new)
        s3 += add_entry(&d, idx[k + 3], x[k + 3], cv, &l3, average, &new)
        k += 4
    while k < b:
        s0 += add_entry(&d, idx[k], x[k], cv, &l0, average, &new)
        k += 1
    add_norm_changes(w, s0, s1, s2, s3, l0, l1, l2, l3)


cdef inline double kept_entry(Adds* d, Py_ssize_t j, double xk, double cv,
                              double* l1_change, double* row_sq,
                              double* row_l1, bint average) noexcept nogil:
    """:func:`add_entry`, the new ``v[j] ** 2`` and ``|v[j]|`` added to
    ``row_sq`` and ``row_l1`` (the norms scikit-learn's SGD keeps)."""
    cdef double new
    cdef double change = add_entry(d, j, xk, cv, l1_change, average, &new)
    row_sq[0] += new * new
    row_l1[0] += fabs(new)
    return change


cdef inline double kept_dense_entries(Writes* w, const floating* x, int nnz,
                                      double cv, double* row_sq, double* row_l1,
                                      bint average, bint kept_l1,
                                      const floating* next_x) noexcept nogil:
    """:func:`kept_entries` on a dense row, whose kept norms are those of
    every weight: the tracked norms become them (recomputed, not changed
    by the row's differences), and ``||v||_1`` is summed only where the
    stopping objective reads it (``kept_l1``: an L1 share; else it is 0).
    Half the instructions of the sparse loop per entry: the weights of a
    squared-error row, every row stepping, were the bound of sgd mode on
    dense data.  The kept norms are summed in scikit-learn's order, as by
    :func:`kept_entries`.

    With ``next_x`` (the next row of the pass, not NULL) it returns that
    row's ``x.v`` at the new weights, summed in :func:`dot`'s order (the
    same number): the kept norm's running sum and the dot's, each an
    addition per entry that waits for the one before, run side by side
    instead of one row after the other (0 without ``next_x``).  Called
    with ``next_x`` NULL or not as a literal, GCC compiles a loop for each."""
    cdef double q = 0.0, a = 0.0, p = 0.0, old, new
    cdef int k
    for k in range(nnz):
        old = w.v[k]
        new = old + cv * x[k]
        w.v[k] = new
        if average:
            w.avg_sum[k] -= w.avg_c * (new - old)
        q += new * new
        if kept_l1:
            a += fabs(new)
        if next_x != NULL:
            p += new * next_x[k]
    row_sq[0] = q
    row_l1[0] = a
    if w.norms:
        w.sq_norm = q * w.w2
        if w.l1:
            w.l1_norm = a * w.wscale
    return p


cdef inline void kept_entries(Writes* w, const floating* x, const int32_t* idx,
                              int nnz, double cv, double* row_sq,
                              double* row_l1, bint average) noexcept nogil:
    """:func:`add_row`'s writes when it keeps scikit-learn's norms: every
    entry's :func:`kept_entry`, the changes of the tracked norms summed as
    :func:`add_entries` sums them (the same partial sums: minibatch mode's
    rows of one give the same loss curve)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef double l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0
    cdef Adds d = adds_of(w)
    cdef int k = 0
    while k + 4 <= nnz:
        s0 += kept_entry(&d, idx[k], x[k], cv, &l0, row_sq, row_l1, average)
        s1 += kept_entry(&d, idx[k + 1], x[k + 1], cv, &l1, row_sq, row_l1, average)
        s2 += kept_entry(&d, idx[k + 2], x[k + 2], cv, &l2, row_sq, row_l1, average)
        s3 += kept_entry(&d, idx[k + 3], x[k + 3], cv, &l3, row_sq, row_l1, average)
        k += 4
    while k < nnz:
        s0 += kept_entry(&d, idx[k], x[k], cv, &l0, row_sq, row_l1, average)
        k += 1
    add_norm_changes(w, s0, s1, s2, s3, l0, l1, l2, l3)


cdef inline void add_norm_changes(Writes* w, double s0, double s1, double s2,
                                  double s3, double l0, double l1, double l2,
                                  double l3) noexcept nogil:
    """Add a row's changes of ``||v||^2`` and ``||v||_1``, summed in four
    partial sums, to the tracked norms of the weights (once per row)."""
    if w.norms:
        w.sq_norm += w.w2 * ((s0 + s1) + (s2 + s3))
        if w.l1:
            w.l1_norm += w.wscale * ((l0 + l1) + (l2 + l3))


cdef inline double row_dot(const double* v, const floating* x, const int32_t* idx,
                           int a, int b) noexcept nogil:
    """``x.v`` over the entries ``a:b`` of a row (``idx`` NULL: a dense row,
    column ``k`` at entry ``k``).  A dense row's products are summed in four
    interleaved partial sums (one running sum chains an addition per entry,
    four overlap), a CSR row's in one
    (its gathers from ``v`` are the bound: four sums measured no faster)."""
    cdef double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0
    cdef int k = a
    if idx != NULL:
        for k in range(a, b):
            p0 += v[idx[k]] * x[k]
        return p0
    while k + 4 <= b:
        p0 += v[k] * x[k]
        p1 += v[k + 1] * x[k + 1]
        p2 += v[k + 2] * x[k + 2]
        p3 += v[k + 3] * x[k + 3]
        k += 4
    while k < b:
        p0 += v[k] * x[k]
        k += 1
    return (p0 + p1) + (p2 + p3)


cdef inline double l1_coordinate(double* v, double* q, Py_ssize_t j, double u,
                                 double wscale) noexcept nogil:
    """The cumulative L1 step on coordinate ``j``: ``v[j]`` moved towards 0
    by the penalty ``u`` not yet applied to it (``q[j]`` records what was),
    without crossing 0; returns the new ``v[j]``.

    Written as selects on the sign of the weight, with ``v[j]`` and
    ``q[j]`` always written back (unchanged where the weight stays), not as
    branches around a conditional write: on dense rows every coordinate
    takes the step, and the branches mispredicted (digits, L1: the sgd fit
    0.176 -> 0.165 s).  The same numbers: ``q[j]`` then gains
    ``wscale * 0``."""
    cdef double z = v[j], qj = q[j], sz = wscale * z
    cdef double t = ((u + qj) if sz > 0.0 else (u - qj)) / wscale
    cdef double new = (max(0.0, z - t) if sz > 0.0
                       else (min(0.0, z + t) if sz < 0.0 else z))
    v[j] = new
    q[j] = qj + wscale * (new - z)
    return new


cdef inline void l1_entries(Writes* w, double* q, const floating* x,
                            const int32_t* idx, int a, int b, double u,
                            bint stored) noexcept nogil:
    """The cumulative L1 penalty ``u`` on the entries ``a:b`` of a row
    (:func:`l1_coordinate` on each), the norms kept consistent.

    Zero entries are skipped, so that a dense row, a CSR row and a CSR row
    with explicit zeros all give the same model; with ``stored``, every
    stored entry is visited, zero or not (scikit-learn's step: sgd mode).
    Idempotent for a given ``u``: a coordinate seen twice in one minibatch
    is penalised once.  Not compensated in the averaged sum: the truncation
    applies to the average too, with the weight of the iterates averaged so
    far (scikit-learn's averaged SGD does the same).
    """
    cdef double z, new
    cdef Py_ssize_t j
    cdef int k
    for k in range(a, b):
        if x[k] == 0 and not stored:
            continue
        j = idx[k]
        z = w.v[j]
        new = l1_coordinate(w.v, q, j, u, w.wscale)
        if new != z:
            track(w, j, z, new, False)


cdef inline double add_row(WeightState st, const floating* x, const int32_t* idx,
                           int nnz, double c, bint track_norms,
                           const floating* next_x) noexcept nogil:
    """w += c * x in O(nnz), keeping the averaged sum consistent, and the
    norms unless ``track_norms`` is False (a step that recomputes them
    follows: :func:`l1_dense_row`).  ``idx`` NULL: a dense row (column
    ``k`` at entry ``k``); then ``next_x``, if not NULL, is the next row of
    the pass, whose ``x.v`` at the new weights (before the scale) is
    returned (:func:`kept_dense_entries`; 0 otherwise)."""
    cdef Writes w = state_writes(st)
    cdef double cv = c / w.wscale, row_sq = 0.0, row_l1 = 0.0, p = 0.0
    cdef bint kept_l1 = st.l1_ratio > 0.0
    w.norms = w.norms and track_norms
    if not st.row_norms:
        add_entries(&w, x, idx, 0, nnz, cv)
        end_state_writes(&w, st)
        return 0.0
    # scikit-learn's WeightVector.add: the norms it keeps become those of
    # the coordinates of this row (of all the weights, for a dense row),
    # summed in its order in the same loop; its stopping objective uses them
    if idx == NULL:
        # (each call with next_x NULL or not as a literal: one call passing
        # next_x through compiled the loop with its test per entry, 51.5M ->
        # 61.8M instructions for a dense sgd epoch, callgrind)
        if w.avg_c != 0.0:
            if next_x != NULL:
                p = kept_dense_entries(&w, x, nnz, cv, &row_sq, &row_l1, True,
                                       kept_l1, next_x)
            else:
                kept_dense_entries(&w, x, nnz, cv, &row_sq, &row_l1, True,
                                   kept_l1, NULL)
        elif next_x != NULL:
            p = kept_dense_entries(&w, x, nnz, cv, &row_sq, &row_l1, False,
                                   kept_l1, next_x)
        else:
            kept_dense_entries(&w, x, nnz, cv, &row_sq, &row_l1, False, kept_l1,
                               NULL)
    elif w.avg_c != 0.0:
        kept_entries(&w, x, idx, nnz, cv, &row_sq, &row_l1, True)
    else:
        kept_entries(&w, x, idx, nnz, cv, &row_sq, &row_l1, False)
    st.row_sq_norm = row_sq * w.w2
    st.row_l1_norm = row_l1 * w.wscale
    end_state_writes(&w, st)
    return p


cdef inline void l1_row(WeightState st, const floating* x, const int32_t* idx,
                        int nnz) noexcept nogil:
    """Apply the cumulative L1 penalty to the nonzero coordinates of one row
    (every stored one in sgd mode, ``st.row_norms``: :func:`l1_entries`)."""
    cdef Writes w = state_writes(st)
    l1_entries(&w, &st.q[0], x, idx, 0, nnz, st.u, st.row_norms)
    end_state_writes(&w, st)


cdef inline double l1_dense_row(WeightState st, const floating* x, int nnz,
                                const floating* next_x, bint fused) noexcept nogil:
    """:func:`l1_row` on a dense row (every coordinate, column ``k`` at
    entry ``k``), the norms summed afresh over all coordinates instead of
    tracked per write: in two independent sums each, whose additions
    overlap (a tracked norm chains one addition per written coordinate).
    The rounding of the norms differs from tracking's; the weights are the
    same.  In sgd mode (``st.row_norms``) every coordinate takes the step,
    zero entries included, as in scikit-learn's dense rows.

    With ``fused`` (pass it as a literal: the loop is compiled for each),
    also returns the next row's ``x.v`` at the new weights (before the
    scale), summed in :func:`dot`'s order, the same number: that row's dot
    then costs no pass of its own, and its chain of additions overlaps the
    steps' work instead of following it (0 without ``fused``)."""
    cdef double* v = &st.v[0]
    cdef double* q = &st.q[0]
    cdef double u = st.u, wscale = st.wscale, a, b, p = 0.0
    cdef double sq_a = 0.0, sq_b = 0.0, l1_a = 0.0, l1_b = 0.0
    cdef bint every = st.row_norms
    cdef int k = 0
    while k + 1 < nnz:
        a = l1_coordinate(v, q, k, u, wscale) if every or x[k] != 0 else v[k]
        b = (l1_coordinate(v, q, k + 1, u, wscale) if every or x[k + 1] != 0
             else v[k + 1])
        sq_a += a * a
        sq_b += b * b
        l1_a += fabs(a)
        l1_b += fabs(b)
        if fused:
            p += a * next_x[k]
            p += b * next_x[k + 1]
        k += 2
    if k < nnz:
        a = l1_coordinate(v, q, k, u, wscale) if every or x[k] != 0 else v[k]
        sq_a += a * a
        l1_a += fabs(a)
        if fused:
            p += a * next_x[k]
    st.sq_norm = (sq_a + sq_b) * (wscale * wscale)
    st.l1_norm = (l1_a + l1_b) * wscale
    return p


cdef inline void end_update(WeightState st, Py_ssize_t m) noexcept nogil:
    """After an update of ``m`` rows: average the new iterate (from
    ``average_start`` on) and count its rows (``t``, scikit-learn's ``t_``
    in sgd mode)."""
    if 0 < st.average_start <= st.t:
        st.avg_c += st.wscale
        st.avg_intercept_sum += st.intercept
        st.n_averaged += 1
    st.t += m


# ----------------------------------------------------------------------
# The minibatch pass (batch_size > 1, or any optimizer), in phases (plain
# steps on dense rows: by row chunks instead, see below).
#
# The columns are cut into ``n_parts`` contiguous ranges (``bounds``), one
# thread each, and part ``t`` does all the work of an update on the columns
# of its range, in two phases: first its share of each row's x.w (after
# the optimizer's catch-up of the coordinates the rows touch), then, once
# the rows' derivatives are known (serially: the shares added in part
# order), the step's writes to its coordinates, each one's contributions
# added in the order of the batch's rows.  A part reads and writes only its
# own columns of the weights (and slots), which stay in its core's cache.
# Each row is walked by every part (a binary search finds a CSR row's
# entries in the part's range).  The parts change the rounding of the
# margins (and of the tracked norms, summed per part): one part is the
# pass on one thread, bit for bit.

# ----------------------------------------------------------------------
# The threads' guard.
#
# An update's phases are short (tens of microseconds), and each is an
# OpenMP parallel region.  Where another process keeps a core busy, a
# thread of ours waits for that core at every region (libgomp's threads
# spin between regions, which costs them the scheduler's favour): on two
# cores with one busy process, a minibatch(256) epoch of CSR 500,000 x
# 262,144 took 35-47 s on two threads instead of 0.13-0.21 s, and a dense
# 200,000 x 100 epoch 7.6 s instead of 0.04.  So the passes time their
# regions: where a region's wall-clock time exceeds what the calling
# thread's share of the work, times the threads, would take on it alone,
# the threads are not paying, and the phases run on the calling thread (the
# parts, or chunks, one after the other: the same arithmetic, bit for bit)
# for GUARD_BACKOFF regions, then threads are tried again, after twice as
# many regions each time they fail (back to GUARD_BACKOFF once they pay
# for GUARD_MIN_REGIONS regions).  The guard carries over from one epoch
# to the next (WeightState.guard_serial_left, guard_backoff).

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static double skgd_wall_time(void) { return omp_get_wtime(); }
    #else
    static double skgd_wall_time(void) { return 0.0; }
    #endif
    """
    double skgd_wall_time() noexcept nogil

#: the guard falls back where two regions in a row wait GUARD_SLACK seconds
#: more than their serial estimate, or the regions since the last probe
#: (more than GUARD_MIN_REGIONS; the first, which wakes the threads, left
#: out) take 1.25 times theirs; it runs GUARD_BACKOFF regions serially before threads are
#: tried again (doubled at each failure, up to GUARD_MAX_BACKOFF)
cdef enum:
    GUARD_MIN_REGIONS = 64
    GUARD_BACKOFF = 256
    GUARD_MAX_BACKOFF = 1 << 14
    GUARD_MAX_THREADS = 64
cdef double GUARD_SLACK = 1e-3


cdef struct ThreadGuard:
    bint serial                 # run the phases on the calling thread
    Py_ssize_t serial_left      # regions to run serially before a probe
    Py_ssize_t backoff          # the serial regions after the next failure
    Py_ssize_t n_regions        # parallel regions timed since the last probe
    int n_late                  # the last regions in a row that waited GUARD_SLACK
    double wall                 # their wall-clock time
    double estimate             # the calling thread's work in them, times the threads
    double thread_time[GUARD_MAX_THREADS]  # per thread, its work in the region


cdef inline void guard_init(ThreadGuard* g) noexcept nogil:
    g.serial = False
    g.serial_left = 0
    g.backoff = GUARD_BACKOFF
    g.n_regions = 0
    g.n_late = 0
    g.wall = 0.0
    g.estimate = 0.0


cdef inline bint guard_parallel(ThreadGuard* g, int n_threads) noexcept nogil:
    """Whether the next region runs on ``n_threads`` threads (if so, its
    per-thread times are zeroed)."""
    cdef int t
    if n_threads <= 1 or n_threads > GUARD_MAX_THREADS:
        return n_threads > 1
    if g.serial:
        g.serial_left -= 1
        if g.serial_left > 0:
            return False
        # try the threads again
        g.serial = False
        g.n_regions = 0
        g.n_late = 0
        g.wall = g.estimate = 0.0
    for t in range(n_threads):
        g.thread_time[t] = 0.0
    return True


cdef inline void guard_judge(ThreadGuard* g, double wall, int n_threads) noexcept nogil:
    """After a parallel region of ``wall`` seconds: fall back to the calling
    thread where two regions in a row waited ``GUARD_SLACK`` beyond their
    serial estimate, or the regions since the last probe took 1.25 times
    theirs (see the comment above ``skgd_wall_time``)."""
    if n_threads > GUARD_MAX_THREADS:
        return
    cdef double estimate = n_threads * g.thread_time[0]
    g.n_regions += 1
    if g.n_regions == 1:
        return  # (the first region of a probe wakes the threads)
    g.wall += wall
    g.estimate += estimate
    # two regions in a row that waited GUARD_SLACK for a thread (a thread
    # that lost its core keeps losing it; one can be a hiccup), or the
    # regions since the probe clearly slower than on one thread
    if wall > estimate + GUARD_SLACK:
        g.n_late += 1
    else:
        g.n_late = 0
    if g.n_regions == GUARD_MIN_REGIONS and g.n_late == 0 and g.wall <= g.estimate:
        g.backoff = GUARD_BACKOFF  # (the threads pay again)
    if (g.n_late >= 2
            or (g.n_regions > GUARD_MIN_REGIONS and g.wall > 1.25 * g.estimate)):
        g.serial = True
        g.serial_left = g.backoff
        g.backoff = min(2 * g.backoff, <Py_ssize_t> GUARD_MAX_BACKOFF)


cdef struct Update:
    # What the phases of one update share; set before each phase.
    const Py_ssize_t* order     # the update's rows are order[start:end]
    Py_ssize_t start
    Py_ssize_t end
    Py_ssize_t n                # rows in the epoch (bound of the prefetches)
    bint far                    # prefetch far ahead (far_prefetches)
    const int32_t* bounds       # the parts' column ranges (n_parts + 1)
    double* coefs               # per row of the batch: its factor in the step
    int32_t* cuts               # per part and row of the batch: the start and
                                # end of the row's entries in the part's
                                # columns, row k's at cuts[2 (part *
                                # dots_stride + k)] (batch_row, kept_row)
    double* dots                # per part and row of the batch: the part's share
                                # of x.w, row k's at dots[part * dots_stride + k]
    Py_ssize_t dots_stride      # (a whole number of cache lines: the parts
                                # write to lines of their own)
    const double* y             # targets and sample weights (prefetched by the
    const double* sample_weight # first phase, read by the serial one)
    double* sq_norms            # per part: the tracked norms after its writes
    double* l1_norms            # (part 0 starts from the state's, others from 0)
    int32_t* touched            # part t lists its touched columns from touched[bounds[t]]
    Py_ssize_t* n_touched       # per part
    # CSR rows with an optimizer (NULL otherwise): per part, from
    # entry_pos[part * pos_stride], the position in the part's touched list
    # of each entry of the update's rows in the part's columns (-1: a zero
    # entry), and from gsum[bounds[part]] the gathered gradients, by position
    # (see step_part)
    int32_t* entry_pos
    Py_ssize_t pos_stride
    double* gsum
    # plain steps on dense rows (by row chunks, see rows_in_chunks)
    double* losses              # per row of the batch: L(y_i, p_i), and s_i
    double* row_weights         # (the chunks' derivatives, summed serially)
    double intercept
    double* grads               # per chunk: its rows' sum of c_i x_i / wscale_after
    double wscale_after         # the scale after the update's L2 step
    uint8_t* hits               # per chunk (L1 only): columns with a nonzero entry
    Py_ssize_t n_cols
    Py_ssize_t chunk_rows
    # the weights
    double* v
    double* avg_sum
    double* q
    double* slots               # the optimizer's slots (NULL: plain steps)
    double wscale
    double avg_c
    double u                    # the cumulative L1 penalty
    double eta
    double l1_part              # alpha * l1_ratio, 0 without a penalty (the
    double l2_part              # optimizers' proximal step); alpha * (1 - l1_ratio)
    bint norms                  # a penalty: track ||w||^2 (and ||w||_1 if l1)
    bint l1
    bint has_l1                 # plain steps: the cumulative L1 step
    double step                 # the optimizer's update counter T (exact in a double)
    OptConsts oc                # the optimizer's constants
    ThreadGuard guard           # whether the update's phases run on threads


cdef inline int lower_bound(const int32_t* idx, int n, int32_t key) noexcept nogil:
    """The first entry of the sorted ``idx[:n]`` not below ``key``.

    Halving without a branch on the comparison (a conditional move): the
    parts' cut falls anywhere in a row, so a branch would mispredict half
    the time, twice per row and part in every update."""
    cdef int base = 0, half
    if n == 0:
        return 0
    while n > 1:
        half = n >> 1
        base = base + half if idx[base + half] < key else base
        n -= half
    return base + (idx[base] < key)


cdef inline int part_of_row(RowIndex rows, const int32_t* idx, int nnz,
                            const int32_t* bounds, int part, int n_parts,
                            int* a) noexcept nogil:
    """The entries ``a[0]:end`` (``end`` returned) of a row whose columns
    fall in the range of ``part`` (CSR rows with sorted indices; entry ``k``
    of a dense row is column ``k``)."""
    if rows.stride > 0:
        a[0] = bounds[part]
        return bounds[part + 1]
    a[0] = 0 if part == 0 else lower_bound(idx, nnz, bounds[part])
    return nnz if part == n_parts - 1 else lower_bound(idx, nnz, bounds[part + 1])


cdef inline Writes part_writes(Update* u, int part) noexcept nogil:
    """The writes of ``part`` in the current phase of the update."""
    cdef Writes w
    w.v = u.v
    w.avg_sum = u.avg_sum
    w.wscale = u.wscale
    w.w2 = u.wscale * u.wscale
    w.avg_c = u.avg_c
    w.sq_norm = u.sq_norms[part]
    w.l1_norm = u.l1_norms[part]
    w.norms = u.norms
    w.l1 = u.l1
    return w


cdef inline void end_writes(Writes* w, Update* u, int part) noexcept nogil:
    u.sq_norms[part] = w.sq_norm
    u.l1_norms[part] = w.l1_norm


cdef inline int batch_row(const floating* data, RowIndex rows, Update* u,
                          Py_ssize_t k, int part, int n_parts,
                          const floating** x, const int32_t** idx,
                          int* a) noexcept nogil:
    """Row ``order[k]`` of the update: point ``x`` and ``idx`` at it and
    return the end of its entries in ``part`` (their start into ``a``).
    The first phase of an update finds them (binary searches in a CSR
    row), and keeps them in ``u.cuts`` for the second (:func:`kept_row`)."""
    cdef int nnz = row_view(data, rows, u.order[k], x, idx)
    cdef int b = part_of_row(rows, idx[0], nnz, u.bounds, part, n_parts, a)
    cdef int32_t* cut = u.cuts + 2 * (part * u.dots_stride + k - u.start)
    cut[0] = a[0]
    cut[1] = b
    return b


cdef inline int kept_row(const floating* data, RowIndex rows, Update* u,
                         Py_ssize_t k, int part, const floating** x,
                         const int32_t** idx, int* a) noexcept nogil:
    """:func:`batch_row` in the second phase of an update: the entries of
    the part that the first phase found (CSR 500,000 x 262,144, 50 per
    row, minibatch(256) on two threads, alternated builds: a one-epoch fit
    0.1466 -> 0.1361 s with hinge, 0.1516 -> 0.1416 with squared error,
    momentum 0.369 -> 0.358, Adam 0.482 -> 0.463, against searching the
    row's indices again)."""
    cdef const int32_t* cut = u.cuts + 2 * (part * u.dots_stride + k - u.start)
    row_view(data, rows, u.order[k], x, idx)
    a[0] = cut[0]
    return cut[1]


cdef inline void prefetch_batch_row(RowIndex rows, const floating* data,
                                    Update* u, Py_ssize_t k, int part) noexcept nogil:
    """Prefetches of the first phase of an update, the first to read its rows
    (they come in random order: every row starts with cache misses, which
    overlap when asked for ahead): :func:`prefetch_ahead` (each part into
    its own core's cache)."""
    prefetch_ahead(data, rows, u.order, k, u.n, u.y, u.sample_weight, u.far)


cdef void dots_part(const floating* data, RowIndex rows, Update* u,
                    int part, int n_parts) noexcept nogil:
    """Plain steps, the first phase of ``part``: its share of each row's
    ``x.v`` (the row's entries in the part's columns, in storage order)."""
    cdef const floating* x
    cdef const int32_t* idx
    cdef const double* v = u.v
    cdef double p
    cdef Py_ssize_t k
    cdef int kk, a, b
    for k in range(u.start, u.end):
        prefetch_batch_row(rows, data, u, k, part)
        b = batch_row(data, rows, u, k, part, n_parts, &x, &idx, &a)
        p = row_dot(v, x, NULL if rows.stride > 0 else idx, a, b)
        u.dots[part * u.dots_stride + k - u.start] = p


cdef void scatter_part(const floating* data, RowIndex rows, Update* u,
                       int part, int n_parts) noexcept nogil:
    """Plain steps, the writes of ``part``: ``w += c_i x_i`` over the rows
    of the update (after the L2 scaling), then the cumulative L1 step on
    their nonzero coordinates.

    The arithmetic and its order are those of ``add_row`` and ``l1_row``
    row after row, on the part's columns.
    """
    cdef const floating* x
    cdef const int32_t* idx
    cdef Writes w = part_writes(u, part)
    cdef double c
    cdef Py_ssize_t k
    cdef int a, b
    for k in range(u.start, u.end):
        c = u.coefs[k - u.start]
        if c != 0.0:
            b = kept_row(data, rows, u, k, part, &x, &idx, &a)
            add_entries(&w, x, NULL if rows.stride > 0 else idx, a, b,
                        c / w.wscale)
    if u.has_l1:
        for k in range(u.start, u.end):
            b = kept_row(data, rows, u, k, part, &x, &idx, &a)
            l1_entries(&w, u.q, x, idx, a, b, u.u, False)
    end_writes(&w, u, part)


cdef inline void prefetch_slots_of_row(const floating* data, RowIndex rows,
                                      Update* u, Py_ssize_t k, int part,
                                      int n_parts) noexcept nogil:
    """Find the entries of row ``order[k]`` in the columns of ``part``
    (:func:`batch_row`, kept for :func:`kept_row`) and prefetch their slots
    and weights into L2."""
    cdef const floating* x
    cdef const int32_t* idx
    cdef int a, kk
    cdef int b = batch_row(data, rows, u, k, part, n_parts, &x, &idx, &a)
    if rows.stride > 0:
        return  # (a dense row reads its slots in order)
    for kk in range(a, b):
        SKGD_PREFETCH_L2(u.slots + idx[kk] * N_SLOTS)
        SKGD_PREFETCH_L2(u.v + idx[kk])
    if u.avg_c != 0.0:
        for kk in range(a, b):
            SKGD_PREFETCH_L2(u.avg_sum + idx[kk])


cdef void catch_up_part(const floating* data, RowIndex rows, Update* u,
                        int part, int n_parts) noexcept nogil:
    """An optimizer update, the first phase of ``part``: each coordinate of
    the part that the update's rows touch (a nonzero entry) takes the moves
    (and the penalty's proximal steps, at once: threshold
    ``eta * precond * k``) of the ``k`` updates it missed since its last
    touch, at the step ``eta`` of this update (exact for a constant step);
    it is then marked touched (its gathered gradient starts at 0) and
    listed in the part's ``touched``.  Then the part's share of each row's
    ``x.w``, at the caught-up weights (:func:`dots_part`).
    """
    cdef OptConsts c = u.oc
    cdef int kind = c.kind
    cdef const floating* x
    cdef const int32_t* idx
    cdef Writes w = part_writes(u, part)
    cdef double* slots = u.slots
    cdef double* slot
    cdef double* v = u.v
    cdef int32_t* touched = u.touched + u.bounds[part]
    cdef int32_t* pos = (u.entry_pos + part * u.pos_stride
                         if u.entry_pos != NULL else NULL)
    cdef double eta = u.eta, dT = u.step
    cdef double l1_part = u.l1_part, l2_part = u.l2_part
    cdef int64_t T = <int64_t> u.step, missed
    cdef double new, p
    cdef Py_ssize_t k, j, nt = 0, ahead, e = 0
    cdef int kk, a, b
    for k in range(u.start, min(u.end, u.start + SLOT_ROWS_AHEAD)):
        prefetch_slots_of_row(data, rows, u, k, part, n_parts)
    for k in range(u.start, u.end):
        prefetch_batch_row(rows, data, u, k, part)
        if k + SLOT_ROWS_AHEAD < u.end:
            prefetch_slots_of_row(data, rows, u, k + SLOT_ROWS_AHEAD, part, n_parts)
        b = kept_row(data, rows, u, k, part, &x, &idx, &a)
        p = 0.0
        # the slots of a sparse row are random accesses into a table larger
        # than the cache: ask for those a few entries ahead, so that their
        # misses overlap
        for kk in range(a, min(b, a + PREFETCH_AHEAD)):
            SKGD_PREFETCH(slots + idx[kk] * N_SLOTS)
        for kk in range(a, b):
            # (the last entry again near the end: a branch here mispredicted
            # at each part of each row, half the mispredictions of the phase)
            ahead = idx[min(kk + PREFETCH_AHEAD, b - 1)]
            SKGD_PREFETCH(slots + ahead * N_SLOTS)
            SKGD_PREFETCH(v + ahead)
            if x[kk] == 0:
                if pos != NULL:
                    pos[e] = -1
                    e += 1
                continue
            j = idx[kk]
            slot = slots + j * N_SLOTS
            if slot[SLOT_LAST] != dT:
                missed = T - 1 - <int64_t> slot[SLOT_LAST]
                if missed > 0:
                    new = opt_catch_up_weight(&c, kind, slot, missed, v[j], eta,
                                              l1_part, l2_part)
                    write(&w, j, v[j], new, True)
                slot[SLOT_LAST] = dT
                # the gathered gradient starts at 0 (with positions: where
                # the coordinate's gradient is gathered)
                slot[SLOT_G] = <double> nt if pos != NULL else 0.0
                touched[nt] = <int32_t> j
                nt += 1
            if pos != NULL:
                pos[e] = <int32_t> slot[SLOT_G]
                e += 1
            # the part's share of x.w at the caught-up weights (zero
            # entries skipped, as the catch-up skips them)
            p += v[j] * x[kk]
        u.dots[part * u.dots_stride + k - u.start] = p
    u.n_touched[part] = nt
    end_writes(&w, u, part)


cdef void step_part(const floating* data, RowIndex rows, Update* u,
                    int part, int n_parts) noexcept nogil:
    """An optimizer update, the writes of ``part`` after the margins: gather
    the gradient ``g_j`` of the part's columns (the sum over the rows of
    ``c_i x_ij``, ``c_i = s_i dL_i / m``), then step each touched coordinate
    along it: the optimizer's direction, then the penalty's proximal step

        w_j <- prox(w_j - eta d_j),  threshold tau = eta * precond_j,
        prox(z) = soft(z, tau alpha l1_ratio) / (1 + tau alpha (1 - l1_ratio)).
    """
    cdef OptConsts c = u.oc
    cdef int kind = c.kind
    cdef const floating* x
    cdef const int32_t* idx
    cdef Writes w = part_writes(u, part)
    cdef double* slots = u.slots
    cdef double* g = u.slots + SLOT_G
    cdef double* slot
    cdef double* v = u.v
    cdef const int32_t* touched = u.touched + u.bounds[part]
    cdef const int32_t* pos = (u.entry_pos + part * u.pos_stride
                               if u.entry_pos != NULL else NULL)
    cdef double* gsum = u.gsum + u.bounds[part]
    cdef Py_ssize_t nt = u.n_touched[part]
    cdef double eta = u.eta
    cdef double l1_part = u.l1_part, l2_part = u.l2_part
    cdef double ck, new
    cdef Py_ssize_t k, j, e = 0
    cdef int kk, a, b, at
    if pos != NULL:
        # by the positions the catch-up recorded: the sums are a table of
        # the update's touched coordinates, which the cache holds, where
        # the slots' lines (of the whole table) had left it
        for k in range(nt):
            gsum[k] = 0.0
        for k in range(u.start, u.end):
            ck = u.coefs[k - u.start]
            b = kept_row(data, rows, u, k, part, &x, &idx, &a)
            if ck == 0.0:
                e += b - a
                continue
            for kk in range(a, b):
                at = pos[e]
                e += 1
                if at >= 0:
                    gsum[at] += ck * x[kk]
    else:
        for k in range(u.start, u.end):
            ck = u.coefs[k - u.start]
            if ck == 0.0:
                continue
            b = kept_row(data, rows, u, k, part, &x, &idx, &a)
            for kk in range(a, b):
                g[idx[kk] * N_SLOTS] += ck * x[kk]
    for k in range(nt):
        if k + PREFETCH_AHEAD < nt:
            SKGD_PREFETCH(slots + touched[k + PREFETCH_AHEAD] * N_SLOTS)
            SKGD_PREFETCH(v + touched[k + PREFETCH_AHEAD])
            if w.avg_c != 0.0:
                SKGD_PREFETCH(w.avg_sum + touched[k + PREFETCH_AHEAD])
        j = touched[k]
        slot = slots + j * N_SLOTS
        new = opt_step_weight(&c, kind, slot,
                              gsum[k] if pos != NULL else slot[SLOT_G], v[j],
                              eta, l1_part, l2_part)
        write(&w, j, v[j], new, True)
    end_writes(&w, u, part)


cdef enum Phase:
    PHASE_DOTS = 0
    PHASE_SCATTER = 1
    PHASE_CATCH_UP = 2
    PHASE_STEP = 3


cdef inline void run_part(Phase phase, const floating* data, RowIndex rows,
                          Update* u, int part, int n_parts) noexcept nogil:
    if phase == PHASE_DOTS:
        dots_part(data, rows, u, part, n_parts)
    elif phase == PHASE_SCATTER:
        scatter_part(data, rows, u, part, n_parts)
    elif phase == PHASE_CATCH_UP:
        catch_up_part(data, rows, u, part, n_parts)
    else:
        step_part(data, rows, u, part, n_parts)


cdef inline void timed_part(Phase phase, const floating* data, RowIndex rows,
                            Update* u, int part, int n_parts) noexcept nogil:
    """:func:`run_part` on a thread of a region, timed for the guard."""
    cdef double start = skgd_wall_time()
    run_part(phase, data, rows, u, part, n_parts)
    u.guard.thread_time[threadid()] += skgd_wall_time() - start


cdef void run_parts(Phase phase, WeightState st, const floating* data,
                    RowIndex rows, Update* u, int n_parts) noexcept nogil:
    """One column phase of the update on ``n_parts`` parts (a thread each),
    then the tracked norms summed in part order."""
    cdef int t
    u.sq_norms[0] = st.sq_norm
    u.l1_norms[0] = st.l1_norm
    for t in range(1, n_parts):
        u.sq_norms[t] = 0.0
        u.l1_norms[t] = 0.0
    cdef double start
    if guard_parallel(&u.guard, n_parts):
        start = skgd_wall_time()
        for t in prange(n_parts, num_threads=n_parts, schedule="static", chunksize=1):
            timed_part(phase, data, rows, u, t, n_parts)
        guard_judge(&u.guard, skgd_wall_time() - start, n_parts)
    else:
        for t in range(n_parts):
            run_part(phase, data, rows, u, t, n_parts)
    st.sq_norm = u.sq_norms[0]
    st.l1_norm = u.l1_norms[0]
    for t in range(1, n_parts):
        st.sq_norm += u.sq_norms[t]
        st.l1_norm += u.l1_norms[t]


# ----------------------------------------------------------------------
# Plain minibatch steps on dense rows, by row chunks.
#
# A dense row writes every column: split by columns, each thread would
# still fetch every row, and the pass is bound by fetching rows in random
# order (a 800-byte row costs 130-180 ns, as NumPy's gather of rows in
# random order: the arithmetic is a fraction of it).  So the batch's rows
# are cut into chunks of u.chunk_rows (a fixed cut, whatever the number of
# threads) and a thread takes whole chunks, in one parallel region an
# update: for each chunk, first its rows' margins, losses and derivatives
# (the calling thread then only sums them, in row order: dense 200,000 x
# 100, minibatch(256), alternated builds, an epoch 0.0198 -> 0.0178 s with
# hinge, 0.0243 -> 0.0224 with squared error, where the derivatives were
# computed between the phases on one thread), then its rows' c_i x_i /
# wscale summed in row order into the chunk's own buffer, while the rows
# are still in its cache (wscale: the one the update's L2 step leaves,
# known before the step, WeightState.scaled).  Then one pass over the
# columns adds the chunks' sums to the weights in chunk order, keeps the
# averaged sum, applies the cumulative L1 step to the columns the batch's
# rows touch (a nonzero entry) and sums the
# norms afresh: O(n_features) per update, where tracking them cost
# O(n_features) per row.  The model does not depend on the number of
# threads (bit for bit); a one-row update is add_row's, bit for bit.

#: rows per chunk of a dense plain minibatch, and the most chunks of a
#: batch (larger batches take larger chunks: the chunks' buffers, and the
#: work of adding them, stay at most MAX_CHUNKS times the columns)
DEF CHUNK_ROWS = 64
DEF MAX_CHUNKS = 64


cdef inline Py_ssize_t chunk_rows(Py_ssize_t batch_rows) noexcept nogil:
    """The rows per chunk of batches of ``batch_rows`` rows."""
    return max(CHUNK_ROWS, (batch_rows + MAX_CHUNKS - 1) // MAX_CHUNKS)


cdef inline Py_ssize_t n_chunks_of(Update* u) noexcept nogil:
    return (u.end - u.start + u.chunk_rows - 1) // u.chunk_rows


cdef inline Py_ssize_t chunk_start(Update* u, Py_ssize_t chunk,
                                   Py_ssize_t* end) noexcept nogil:
    """The first position of ``chunk`` in ``u.order`` (its end into ``end``)."""
    cdef Py_ssize_t a = u.start + chunk * u.chunk_rows
    end[0] = min(a + u.chunk_rows, u.end)
    return a


@cython.cdivision(True)
cdef inline void chunk_dots(const floating* data, RowIndex rows, Update* u,
                            Py_ssize_t chunk, CyLoss loss) noexcept nogil:
    """First phase of a chunk: for each of its rows, the margin
    ``p = x.v wscale + b`` into ``u.dots``, the loss into ``u.losses``, the
    sample weight into ``u.row_weights`` and the step's factor
    ``c = -eta dL(y, p) s / m`` into ``u.coefs`` (the arithmetic of
    :func:`minibatch_epoch`'s serial loop, which then sums them in row
    order: the same numbers on any number of threads)."""
    cdef const floating* x
    cdef const int32_t* idx
    cdef Py_ssize_t b, k, i
    cdef Py_ssize_t a = chunk_start(u, chunk, &b)
    cdef Py_ssize_t m = u.end - u.start
    cdef double p, d, s, yi
    cdef int nnz
    for k in range(a, b):
        prefetch_ahead(data, rows, u.order, k, u.n, u.y, u.sample_weight, u.far)
        i = u.order[k]
        nnz = row_view(data, rows, i, &x, &idx)
        p = row_dot(u.v, x, NULL, 0, nnz) * u.wscale + u.intercept
        yi = u.y[i]
        s = u.sample_weight[i]
        d = clipped_dloss(loss, yi, p)
        u.dots[k - u.start] = p
        u.losses[k - u.start] = loss.loss(yi, p)
        u.row_weights[k - u.start] = s
        u.coefs[k - u.start] = -u.eta * d * s / m


cdef inline void chunk_gather(const floating* data, RowIndex rows, Update* u,
                              Py_ssize_t chunk) noexcept nogil:
    """Second phase of a chunk: the sum of its rows' ``c_i x_i / wscale``
    into its buffer (and, with an L1 step, the columns its rows touch), with
    the scale the update's L2 step leaves (``u.wscale_after``: the buffer is
    added to the weights after that step)."""
    cdef const floating* x
    cdef const int32_t* idx
    cdef Py_ssize_t n_cols = u.n_cols
    cdef double* g = u.grads + chunk * n_cols
    cdef uint8_t* hit
    cdef Py_ssize_t b, k, j
    cdef Py_ssize_t a = chunk_start(u, chunk, &b)
    cdef double cv
    cdef int nnz
    memset(g, 0, n_cols * sizeof(double))
    for k in range(a, b):
        cv = u.coefs[k - u.start] / u.wscale_after
        if cv != 0.0:
            nnz = row_view(data, rows, u.order[k], &x, &idx)
            for j in range(nnz):
                g[j] += cv * x[j]
    if u.has_l1:
        hit = u.hits + chunk * n_cols
        memset(hit, 0, n_cols)
        for k in range(a, b):
            nnz = row_view(data, rows, u.order[k], &x, &idx)
            for j in range(nnz):
                hit[j] |= x[j] != 0


cdef inline void run_chunk(const floating* data, RowIndex rows,
                           Update* u, Py_ssize_t chunk, CyLoss loss) noexcept nogil:
    """Both phases of a chunk, one after the other: its gather needs only its
    own rows' factors."""
    chunk_dots(data, rows, u, chunk, loss)
    chunk_gather(data, rows, u, chunk)


cdef inline void timed_chunk(const floating* data, RowIndex rows,
                             Update* u, Py_ssize_t chunk, CyLoss loss) noexcept nogil:
    """:func:`run_chunk` on a thread of a region, timed for the guard."""
    cdef double start = skgd_wall_time()
    run_chunk(data, rows, u, chunk, loss)
    u.guard.thread_time[threadid()] += skgd_wall_time() - start


cdef void rows_in_chunks(const floating* data, RowIndex rows,
                         Update* u, int n_threads, CyLoss loss) noexcept nogil:
    """The update's chunks, each in both phases, on ``n_threads`` threads
    (one parallel region an update)."""
    cdef Py_ssize_t n_chunks = n_chunks_of(u)
    cdef Py_ssize_t c
    cdef double start
    if n_chunks > 1 and guard_parallel(&u.guard, n_threads):
        start = skgd_wall_time()
        for c in prange(n_chunks, num_threads=n_threads, schedule="static"):
            timed_chunk(data, rows, u, c, loss)
        guard_judge(&u.guard, skgd_wall_time() - start, n_threads)
    else:
        for c in range(n_chunks):
            run_chunk(data, rows, u, c, loss)


@cython.cdivision(True)
cdef void add_chunks(WeightState st, Update* u) noexcept nogil:
    """The end of the update: the chunks' sums added to the weights (in chunk
    order), the averaged sum kept, the cumulative L1 step ``u.u`` on the
    columns the rows touch, and the norms summed afresh."""
    cdef Py_ssize_t n_cols = u.n_cols
    cdef Py_ssize_t n_chunks = n_chunks_of(u)
    cdef double* v = u.v
    cdef const double* g = u.grads
    cdef double avg_c = u.avg_c, wscale = u.wscale
    cdef double old, new, t, sq0 = 0.0, sq1 = 0.0, l10 = 0.0, l11 = 0.0
    cdef bint hit
    cdef Py_ssize_t j, c
    for j in range(n_cols):
        t = g[j]
        for c in range(1, n_chunks):
            t += g[c * n_cols + j]
        old = v[j]
        new = old + t
        v[j] = new
        if avg_c != 0.0:
            u.avg_sum[j] -= avg_c * (new - old)
        if u.has_l1:
            hit = False
            for c in range(n_chunks):
                hit = hit or u.hits[c * n_cols + j]
            if hit:
                new = l1_coordinate(v, u.q, j, u.u, wscale)
        if j & 1:
            sq1 += new * new
            l11 += fabs(new)
        else:
            sq0 += new * new
            l10 += fabs(new)
    if u.norms:
        st.sq_norm = (sq0 + sq1) * (wscale * wscale)
        if u.l1:
            st.l1_norm = (l10 + l11) * wscale


cdef inline double sqnorm(const floating* x, int nnz) noexcept nogil:
    cdef double s = 0.0
    cdef int k
    for k in range(nnz):
        s += x[k] * x[k]
    return s


cdef inline uint32_t xorshift32(uint32_t* state) noexcept nogil:
    """Next output, in [0, 2**31), of a 32-bit xorshift generator.

    The generator (and the zero-state rule) of scikit-learn's SGD shuffle, so
    that the same ``random_state`` gives the same orderings.
    """
    if state[0] == 0:
        state[0] = 1
    state[0] ^= <uint32_t> (state[0] << 13)
    state[0] ^= <uint32_t> (state[0] >> 17)
    state[0] ^= <uint32_t> (state[0] << 5)
    return state[0] % (<uint32_t> 2147483647 + 1)


def _rebuild_state(fields, arrays, opt):
    st = WeightState(np.zeros(arrays["v"].shape[0]), 0.0, 0, 0.0, 0.0, False)
    for name, value in fields.items():
        setattr(st, name, value)
    # writeable copies: a pickle may be loaded as read-only memory maps
    st.v, st.q, st.avg_sum = (np.array(arrays[name], dtype=np.float64)
                              for name in ("v", "q", "avg_sum"))
    st.opt = opt
    return st


@cython.cdivision(True)
def optimal_steps(double t, Py_ssize_t n, double t0, double alpha,
                  int n_threads=1):
    """``1 / (alpha ((t0 + (t + i)) - 1))`` for ``i < n``: the steps of the
    'optimal' schedule from the counter ``t``, in scikit-learn's order of
    operations (the same numbers as its SGD).  One call: the five NumPy
    operations it replaces took 4 us, an epoch on small data 10.  On
    ``n_threads`` OpenMP threads (each step is computed alone: the same
    numbers)."""
    out = np.empty(n)
    cdef double[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        if n_threads > 1:
            for i in prange(n, schedule="static", num_threads=n_threads):
                o[i] = 1.0 / (alpha * ((t0 + (t + <double> i)) - 1.0))
        else:
            # (no parallel region: 1 us of a small epoch's 0.6)
            for i in range(n):
                o[i] = 1.0 / (alpha * ((t0 + (t + <double> i)) - 1.0))
    return out


@cython.cdivision(True)
def inverse_scaling_steps(double t, Py_ssize_t n, double eta0, double power_t,
                          int n_threads=1):
    """``eta0 / pow(t + i, power_t)`` for ``i < n``: the steps of the
    'invscaling' schedule, with the C library's ``pow`` as scikit-learn's
    SGD computes them (NumPy's vectorised power differed from it in the last
    bit for 5% of the counters, so sgd-mode models differed by 1e-14).  On
    ``n_threads`` OpenMP threads (each step is computed alone: the same
    numbers; a ``pow`` costs 12 ns, 5.9 ms for an epoch of 500,000 rows on
    one thread)."""
    out = np.empty(n)
    cdef double[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        if n_threads > 1:
            for i in prange(n, schedule="static", num_threads=n_threads):
                o[i] = eta0 / pow(t + <double> i, power_t)
        else:
            for i in range(n):
                o[i] = eta0 / pow(t + <double> i, power_t)
    return out


def shuffle(Py_ssize_t[::1] order, uint32_t seed):
    """Permute ``order`` in place (Fisher-Yates), deterministically from ``seed``.

    The same permutation as scikit-learn's ``SequentialDataset.shuffle`` for
    the same seed: its SGD reshuffles its index array with the same seed
    before every epoch, and so do the stochastic modes.
    """
    cdef Py_ssize_t n = order.shape[0], tmp
    cdef uint32_t i, j
    if n < 2:
        return
    with nogil:
        for i in range(<uint32_t> (n - 1)):
            j = i + xorshift32(&seed) % <uint32_t> (n - i)
            tmp = order[i]
            order[i] = order[j]
            order[j] = tmp


def _part_bounds(parts, Py_ssize_t n_columns):
    """The column bounds of the parts of the minibatch pass, checked."""
    if parts is None:
        return np.array([0, n_columns], dtype=np.int32)
    bounds = np.ascontiguousarray(parts, dtype=np.int32)
    if (bounds.ndim != 1 or bounds.shape[0] < 2 or bounds[0] != 0
            or bounds[bounds.shape[0] - 1] != n_columns
            or np.any(np.diff(bounds) < 0)):
        raise ValueError("parts must rise from 0 to the number of columns, "
                         "%d; got %r" % (n_columns, parts))
    return bounds


@cython.cdivision(True)
def run_epoch(WeightState st, CyLoss loss, const floating[::1] data,
              RowIndex rows, const double[::1] y, const double[::1] sample_weight,
              const Py_ssize_t[::1] order, Py_ssize_t batch_size,
              const double[::1] etas, parts=None):
    """Run one epoch of minibatch gradient descent (sgd when ``batch_size=1``).

    Rows are visited in ``order``, ``batch_size`` at a time.  For each batch
    the derivatives are computed with the weights before the step, then one
    step is taken::

        w <- (1 - eta alpha (1 - l1_ratio)) w - eta / m sum_i s_i dL(y_i, p_i) x_i
        b <- b - eta / m sum_i s_i dL(y_i, p_i)

        followed by the cumulative L1 step on the nonzero coordinates of
        the batch's rows,

    with ``m`` the number of rows in the batch and ``s_i`` the sample weight
    (with an optimizer, the gathered gradient takes the optimizer's step,
    see :func:`step_part`).

    Parameters
    ----------
    st : WeightState
        Weights and state, updated in place (``t`` advances by the number of
        rows visited).
    loss : CyLoss
    data : ndarray of float32 or float64
        Dense rows (``X.ravel()`` of a C-ordered array) or CSR ``X.data``.
    rows : RowIndex
    y, sample_weight : ndarray of float64, shape (n_samples,)
        Targets (in {-1, +1} for classification) and weights (sample weight
        times class weight).
    order : ndarray of intp
        Row indices to visit, in order (the training rows of this epoch).
    batch_size : int
        Rows per update.
    etas : ndarray of float64, shape (n_updates,)
        Step size of each update of the epoch (ignored by the
        passive-aggressive step rules, which compute their own).
    parts : ndarray of int32, shape (n_parts + 1,), default=None
        Minibatches (``batch_size > 1``) and optimizers: the columns are cut
        into the ranges ``parts[t]:parts[t + 1]`` (from 0 to
        ``n_features``), and the work of an update on each range runs on a
        thread of its own (see the comment above ``Update``).  CSR data must then have
        sorted indices.  The parts change the results by rounding only (the
        margins are summed per part, then in part order).  Plain steps on
        dense rows split the rows instead, on ``n_parts`` threads, and the
        model does not depend on them (see the comment above
        ``chunk_dots``).  None: one range, on the calling thread.

    Returns
    -------
    sum_loss : float
        Sum of L(y_i, p_i) over the visited rows, p_i taken before the step.
    sum_weighted_loss : float
        Same sum with each term times s_i.
    sum_weight : float
        Sum of s_i over the visited rows.
    sum_penalty : float
        Sum over the visited rows of the penalty value before their step.
    n_updates : int
        Number of updates taken.
    """
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t n_batches = (n + batch_size - 1) // batch_size
    cdef int32_t[::1] bounds
    st.stop_penalty_sum = 0.0
    st.margin_sum = 0.0
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0, 0
    if st.opt is not None and st.step_rule != STEP_GRADIENT:
        raise ValueError("the passive-aggressive steps take no optimizer")
    if etas.shape[0] < n_batches:
        raise ValueError("etas has %d entries, need %d" % (etas.shape[0], n_batches))
    if st.opt is not None or (batch_size > 1 and st.step_rule == STEP_GRADIENT
                              and not st.row_norms):
        bounds = _part_bounds(parts, st.v.shape[0])
        return minibatch_epoch(st, loss, data, rows, y, sample_weight, order,
                               batch_size, etas, bounds)
    return row_epoch(st, loss, data, rows, y, sample_weight, order, batch_size, etas)


#: the most entries (over the parts) whose positions an optimizer's update on
#: CSR rows records (4 bytes each); beyond, it gathers into the slots
DEF COMPACT_MAX_ENTRIES = 1 << 23


cdef Py_ssize_t batch_entry_bound(RowIndex rows, Py_ssize_t n_rows) noexcept:
    """A bound on the stored entries of ``n_rows`` CSR rows: ``n_rows``
    times the longest row, at most all of them."""
    cdef Py_ssize_t i, n = rows.indptr.shape[0] - 1, longest = 0
    cdef const int64_t* ptr = &rows.indptr[0]
    with nogil:
        for i in range(n):
            longest = max(longest, <Py_ssize_t> (ptr[i + 1] - ptr[i]))
    return min(n_rows * longest, <Py_ssize_t> (ptr[n] - ptr[0]))


@cython.cdivision(True)
cdef tuple minibatch_epoch(WeightState st, CyLoss loss, const floating[::1] data,
                           RowIndex rows, const double[::1] y,
                           const double[::1] sample_weight,
                           const Py_ssize_t[::1] order, Py_ssize_t batch_size,
                           const double[::1] etas, const int32_t[::1] bounds):
    """:func:`run_epoch` by updates in phases (see the comment above ``Update``): the
    optimizers at any batch size, plain steps on batches of several rows."""
    cdef Py_ssize_t n = order.shape[0], n_coef = st.v.shape[0]
    cdef Py_ssize_t n_batches = (n + batch_size - 1) // batch_size
    cdef Py_ssize_t n_rows = max(min(batch_size, n), 1)
    cdef int n_parts = bounds.shape[0] - 1
    cdef bint gathered = st.opt is not None
    # plain steps on dense rows: by row chunks on n_parts threads (the
    # margins are then whole, in one part)
    cdef bint chunked = not gathered and rows.stride > 0
    cdef int n_threads = n_parts
    cdef Py_ssize_t rows_per_chunk = chunk_rows(n_rows)
    cdef Py_ssize_t n_chunks = (n_rows + rows_per_chunk - 1) // rows_per_chunk
    cdef bint has_l1 = st.penalty == PENALTY_L1 or st.penalty == PENALTY_ELASTICNET
    cdef double[::1] grads = np.zeros(n_chunks * n_coef if chunked else 1)
    cdef uint8_t[::1] hits = np.zeros(n_chunks * n_coef if chunked and has_l1 else 1,
                                      dtype=np.uint8)
    # sized by the rows of the epoch, not by a (possibly huge) batch_size
    cdef double[::1] coefs = np.zeros(n_rows)
    cdef double[::1] losses = np.zeros(n_rows if chunked else 1)
    cdef double[::1] row_weights = np.zeros(n_rows if chunked else 1)
    # (8 doubles a cache line, and one line between the parts' runs)
    cdef Py_ssize_t dots_stride = (n_rows + 15) // 8 * 8
    cdef double[::1] dots = np.zeros(dots_stride * n_parts)
    cdef int32_t[::1] cuts = np.zeros(2 * dots_stride * n_parts, dtype=np.int32)
    cdef double[::1] sq_norms = np.zeros(n_parts), l1_norms = np.zeros(n_parts)
    cdef Py_ssize_t[::1] n_touched = np.zeros(n_parts, dtype=np.intp)
    cdef int32_t[::1] touched = np.zeros(n_coef if gathered else 1, dtype=np.int32)
    # CSR rows with an optimizer: the gradient gathered by positions (see
    # step_part), where the batch's entries fit in COMPACT_MAX_ENTRIES
    cdef Py_ssize_t pos_stride = (batch_entry_bound(rows, n_rows)
                                  if gathered and rows.stride == 0 else 0)
    cdef bint compact = 0 < pos_stride * n_parts <= COMPACT_MAX_ENTRIES
    cdef int32_t[::1] entry_pos = np.zeros(pos_stride * n_parts if compact else 1,
                                           dtype=np.int32)
    cdef double[::1] gsum = np.zeros(n_coef if compact else 1)
    cdef double l2_share = 1.0 - st.l1_ratio
    cdef bint has_l2 = st.penalty == PENALTY_L2 or st.penalty == PENALTY_ELASTICNET
    cdef Py_ssize_t bi, k, m, i
    cdef int t
    cdef double pen, stop_pen, s, lv, c, ib, p, d, yi, shrink
    cdef double sum_loss = 0.0, sum_wloss = 0.0, sum_w = 0.0, sum_pen = 0.0
    cdef double sum_stop_pen = 0.0, sum_p = 0.0
    cdef int64_t n_updates = 0
    cdef Update u

    if chunked:
        n_parts = 1
    if gathered:
        # per-coordinate steps: no shared scale
        st.fold_scale()
        st.row_norms = False
        u.slots = &st.opt.slots[0, 0]
    else:
        u.slots = NULL
    u.order = &order[0]
    u.n = n
    u.far = far_prefetches(data)
    u.bounds = &bounds[0]
    u.coefs = &coefs[0]
    u.losses = &losses[0]
    u.row_weights = &row_weights[0]
    u.dots = &dots[0]
    u.dots_stride = dots_stride
    u.cuts = &cuts[0]
    u.y = &y[0]
    u.sample_weight = &sample_weight[0]
    u.sq_norms = &sq_norms[0]
    u.l1_norms = &l1_norms[0]
    u.touched = &touched[0]
    guard_init(&u.guard)
    if st.guard_backoff > 0:
        # (where the last epoch left it)
        u.guard.backoff = st.guard_backoff
        u.guard.serial = st.guard_serial_left > 0
        u.guard.serial_left = st.guard_serial_left
    u.entry_pos = &entry_pos[0] if compact else NULL
    u.pos_stride = pos_stride
    u.gsum = &gsum[0]
    u.grads = &grads[0]
    u.hits = &hits[0]
    u.n_cols = n_coef
    u.chunk_rows = rows_per_chunk
    u.n_touched = &n_touched[0]
    u.v = &st.v[0]
    u.avg_sum = &st.avg_sum[0]
    u.q = &st.q[0]
    u.norms = st.penalty != PENALTY_NONE
    u.l1 = u.norms and st.l1_ratio > 0.0
    u.has_l1 = has_l1
    # the optimizers' proximal step (none without a penalty)
    u.l1_part = st.alpha * st.l1_ratio if u.norms else 0.0
    u.l2_part = st.alpha * (1.0 - st.l1_ratio) if u.norms else 0.0

    with nogil:
        for bi in range(n_batches):
            u.start = bi * batch_size
            u.end = min(u.start + batch_size, n)
            m = u.end - u.start
            u.eta = etas[bi]
            # plain steps: the L2 step's factor of the weights
            shrink = max(0.0, 1.0 - l2_share * u.eta * st.alpha)
            pen = penalty_value(st)
            stop_pen = stop_penalty_value(st)
            u.wscale = st.wscale
            u.avg_c = st.avg_c
            # 1. each row's x.w at the weights before the step, summed per
            # part (an optimizer update first catches up the coordinates
            # its rows touch: the margins see the weights the dense
            # formulation has)
            if gathered:
                st.opt.begin_step()
                u.step = <double> st.opt.n_steps
                u.oc = st.opt.c
                run_parts(PHASE_CATCH_UP, st, &data[0], rows, &u, n_parts)
            elif chunked:
                # (with the rows' losses and derivatives, and their sum
                # c_i x_i, on the threads: that sum is added after the L2
                # step, whose scale is known in advance)
                u.intercept = st.intercept
                u.wscale_after = st.scaled(shrink) if has_l2 else st.wscale
                rows_in_chunks(&data[0], rows, &u, n_threads, loss)
            else:
                run_parts(PHASE_DOTS, st, &data[0], rows, &u, n_parts)
            # 2. the rows' losses and derivatives; the parts' shares of x.w
            # added in part order (chunks: their sums, in row order)
            ib = 0.0
            if chunked:
                for k in range(m):
                    s = row_weights[k]
                    lv = losses[k]
                    sum_p += dots[k]
                    sum_loss += lv
                    sum_wloss += s * lv
                    sum_w += s
                    sum_pen += pen
                    sum_stop_pen += stop_pen
                    if coefs[k] != 0.0:
                        ib += coefs[k]
            else:
                for k in range(u.start, u.end):
                    i = order[k]
                    p = dots[k - u.start]
                    for t in range(1, n_parts):
                        p += dots[t * dots_stride + k - u.start]
                    if not gathered:
                        p *= st.wscale
                    p += st.intercept
                    sum_p += p
                    yi = y[i]
                    s = sample_weight[i]
                    lv = loss.loss(yi, p)
                    d = clipped_dloss(loss, yi, p)
                    if not gathered:
                        d = -u.eta * d
                    sum_loss += lv
                    sum_wloss += s * lv
                    sum_w += s
                    sum_pen += pen
                    sum_stop_pen += stop_pen
                    # the mean over the batch
                    c = d * s / m
                    coefs[k - u.start] = c
                    if c != 0.0:
                        ib += c
            # 3. one step for the whole batch
            if gathered:
                u.avg_c = st.avg_c
                run_parts(PHASE_STEP, st, &data[0], rows, &u, n_parts)
                if st.fit_intercept:
                    # unpenalised
                    st.intercept = opt_step_weight(
                        &u.oc, u.oc.kind, u.slots + n_coef * N_SLOTS,
                        ib * st.intercept_decay, st.intercept, u.eta, 0.0, 0.0)
            else:
                if has_l2:
                    st.scale(shrink)
                if u.has_l1:
                    st.u += st.l1_ratio * u.eta * st.alpha
                u.wscale = st.wscale
                u.avg_c = st.avg_c
                u.u = st.u
                if chunked:
                    add_chunks(st, &u)
                else:
                    run_parts(PHASE_SCATTER, st, &data[0], rows, &u, n_parts)
                if st.fit_intercept and ib != 0.0:
                    st.intercept += ib * st.intercept_decay
            end_update(st, m)
            n_updates += 1
    st.stop_penalty_sum = sum_stop_pen
    st.margin_sum = sum_p
    st.guard_serial_left = u.guard.serial_left if u.guard.serial else 0
    st.guard_backoff = u.guard.backoff
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates


@cython.cdivision(True)
cdef tuple row_epoch(WeightState st, CyLoss loss, const floating[::1] data,
                     RowIndex rows, const double[::1] y,
                     const double[::1] sample_weight, const Py_ssize_t[::1] order,
                     Py_ssize_t batch_size, const double[::1] etas):
    """:func:`run_epoch` row after row: plain steps one row at a time (sgd
    mode, scikit-learn's arithmetic), the passive-aggressive step rules, and
    scikit-learn's kept norms (``st.row_norms``)."""
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t n_batches = (n + batch_size - 1) // batch_size
    # sized by the rows of the epoch, not by a (possibly huge) batch_size
    cdef double[::1] upd = np.zeros(max(min(batch_size, n), 1))
    cdef const floating* x
    cdef const int32_t* idx
    cdef int nnz
    cdef Py_ssize_t bi, k, start, end, i, m
    cdef double eta, p, yi, s, lv, d, pen, ib
    cdef double sum_loss = 0.0, sum_wloss = 0.0, sum_w = 0.0, sum_pen = 0.0
    cdef double sum_stop_pen = 0.0, stop_pen, sum_p = 0.0
    cdef double l2_part = 1.0 - st.l1_ratio
    cdef bint has_l2 = st.penalty == PENALTY_L2 or st.penalty == PENALTY_ELASTICNET
    cdef bint has_l1 = st.penalty == PENALTY_L1 or st.penalty == PENALTY_ELASTICNET
    cdef int64_t n_updates = 0
    cdef bint skip
    # dense rows with an L1 step: the step sums the norms afresh over every
    # coordinate, so that the writes before it need not track them (on
    # digits, L1 and elastic-net, the epochs took 1.45-1.55x scikit-learn's
    # time with the tracking, 1.1x without)
    cdef bint dense_l1 = rows.stride > 0 and has_l1
    cdef bint far = far_prefetches(data)
    # dense rows, one per update, kept norms, no L1 step between an add and
    # the next row's dot: the add of a row also sums the next row's x.v at
    # the new weights (add_row's next_x), which that row then takes
    # (``fused``) instead of its own pass over v: the same number.  Only
    # for the losses where every row steps (CyLoss.steps_every_row; 200,000
    # x 100, alternated builds: log loss 0.0600 -> 0.0492 s, squared error
    # 0.0532 -> 0.0456): where some rows step and others do not (hinge,
    # modified Huber: +3-4%), the test of ``fused`` mispredicted more than
    # the fused rows saved
    cdef bint fuse = (rows.stride > 0 and batch_size == 1 and not has_l1
                      and st.row_norms and loss.steps_every_row)
    # dense rows, one per update, with an L1 step: the step sums the next
    # row's x.v at its new weights in the same way (l1_dense_row's
    # ``fused``), for every loss: the step visits every row, stepping or not
    # (standardised digits at the defaults, one-vs-rest fits, alternated
    # builds with the branch-free L1 step: L1 0.171 -> 0.136 s, elastic-net
    # 0.369 -> 0.294, where scikit-learn takes 0.171 and 0.366)
    cdef bint fuse_l1 = dense_l1 and batch_size == 1
    cdef bint fused = False
    cdef double next_dot = 0.0
    cdef const floating* next_x

    with nogil:
        for bi in range(n_batches):
            start = bi * batch_size
            end = min(start + batch_size, n)
            m = end - start
            eta = etas[bi]
            pen = penalty_value(st)
            stop_pen = stop_penalty_value(st)
            ib = 0.0
            skip = False
            # 1. derivatives at the weights before the step
            for k in range(start, end):
                i = order[k]
                prefetch_ahead(&data[0], rows, &order[0], k, n, &y[0],
                               &sample_weight[0], far)
                yi = y[i]
                s = sample_weight[i]
                nnz = row_view(&data[0], rows, i, &x, &idx)
                if fused:
                    # (dot's number: the sum times the scale, which no step
                    # changed since the add that summed it)
                    p = next_dot * st.wscale
                    fused = False
                else:
                    p = dot(st, x, idx, nnz)
                p += st.intercept
                sum_p += p
                lv = loss.loss(yi, p)
                sum_loss += lv
                sum_wloss += s * lv
                sum_w += s
                sum_pen += pen
                sum_stop_pen += stop_pen
                if st.step_rule == STEP_GRADIENT:
                    d = clipped_dloss(loss, yi, p)
                    d = -eta * d
                else:
                    # passive-aggressive (batch_size 1 only, checked in Python)
                    d = passive_aggressive_step(st.step_rule, st.pa_c, lv,
                                                sqnorm(x, nnz))
                    if d < 0.0:
                        skip = True
                        break
                    if st.margin_loss:
                        d *= yi
                    elif yi - p < 0:
                        d *= -1
                upd[k - start] = d * s
            if skip:
                continue
            # 2. one step for the whole batch (linear: the rows are scattered
            # straight into the weights)
            if has_l2:
                st.scale(max(0.0, 1.0 - l2_part * eta * st.alpha))
            for k in range(start, end):
                d = upd[k - start]
                if m > 1:
                    d = d / m
                if d != 0.0:
                    nnz = row_view(&data[0], rows, order[k], &x, &idx)
                    if rows.stride == 0 and st.avg_c != 0.0:
                        # the averaged sum's entries of a CSR row are
                        # random accesses the row's dot did not bring in:
                        # ask for all of them before add_row reads them
                        # (sgd mode on 500,000 x 262,144, average=True, best
                        # of 5 in one process: hinge 0.2135 -> 0.2063 s,
                        # squared error 0.2166 -> 0.2092; also tried: during
                        # the row's dot, for every row, 0.2113 and 0.2161)
                        prefetch_entries(&st.avg_sum[0], idx, nnz)
                    next_x = NULL
                    if fuse and k + 1 < n:
                        next_x = &data[0] + order[k + 1] * rows.stride
                    next_dot = add_row(st, x, NULL if rows.stride > 0 else idx,
                                       nnz, d, not dense_l1, next_x)
                    fused = next_x != NULL
                    ib += d
            if st.fit_intercept and ib != 0.0:
                # scikit-learn damps the intercept step by 0.01 on sparse data
                # (sgd mode only: intercept_decay is 1 otherwise)
                st.intercept += ib * st.intercept_decay
            if has_l1:
                st.u += st.l1_ratio * eta * st.alpha
                for k in range(start, end):
                    nnz = row_view(&data[0], rows, order[k], &x, &idx)
                    if fuse_l1 and k + 1 < n:
                        next_dot = l1_dense_row(
                            st, x, nnz, &data[0] + order[k + 1] * rows.stride, True)
                        fused = True
                    elif dense_l1:
                        l1_dense_row(st, x, nnz, NULL, False)
                    else:
                        l1_row(st, x, idx, nnz)
            # (the L1 step leaves the averaged sum alone, so averaging after
            # it is averaging before it)
            end_update(st, m)
            n_updates += 1
    st.stop_penalty_sum = sum_stop_pen
    st.margin_sum = sum_p
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates
