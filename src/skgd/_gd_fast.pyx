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
from libc.math cimport fabs, isfinite, sqrt
from libc.stdint cimport int32_t, int64_t, uint32_t

import numpy as np

cimport cython
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
cdef enum:
    # Entries of a row whose optimizer slots are prefetched ahead of their
    # use (a compile-time constant: a global would be reloaded after every
    # store of the loops that use it).
    PREFETCH_AHEAD = 8
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


cdef extern from *:
    """
    #define SKGD_PREFETCH(p) __builtin_prefetch((const void*)(p))
    """
    void SKGD_PREFETCH(const void* p) noexcept nogil


cdef inline void prefetch_row_start(RowIndex rows, Py_ssize_t i, const double* y,
                                    const double* sample_weight) noexcept nogil:
    """Prefetch the target, the weight and the CSR row pointer of row ``i``."""
    SKGD_PREFETCH(y + i)
    SKGD_PREFETCH(sample_weight + i)
    if rows.stride == 0:
        SKGD_PREFETCH(&rows.indptr[i])


cdef inline void prefetch_row(const floating* data, RowIndex rows,
                              Py_ssize_t i) noexcept nogil:
    """Prefetch the values (and CSR column indices) of row ``i``.

    Reads the row pointer of a CSR row: prefetch it first
    (:func:`prefetch_row_start`).
    """
    cdef const floating* x
    cdef const int32_t* idx
    cdef int k
    cdef int nnz = row_view(data, rows, i, &x, &idx)
    k = 0
    while k < nnz:
        SKGD_PREFETCH(x + k)
        k += 64 // sizeof(floating)
    if rows.stride == 0:
        k = 0
        while k < nnz:
            SKGD_PREFETCH(idx + k)
            k += 16


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
        # scikit-learn's stopping objective on sparse rows (see run_epoch)
        self.row_norms = False
        self.row_sq_norm = self.sq_norm
        self.row_l1_norm = self.l1_norm
        self.stop_penalty_sum = 0.0
        self.opt = None

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


cdef inline double stop_penalty_value(WeightState st) noexcept nogil:
    """The penalty in the stopping objective: as scikit-learn computes it.

    On dense rows it is :func:`penalty_value`.  On sparse rows (``row_norms``,
    sgd mode) scikit-learn's tracked norms are those of the coordinates of
    the last row added; the stopping rule uses them, so that sgd mode stops
    at the same epoch as ``SGDClassifier``.
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


cdef inline void add_row(WeightState st, const floating* x, const int32_t* idx,
                         int nnz, double c) noexcept nogil:
    """w += c * x in O(nnz), keeping the norms and the averaged sum consistent.

    The arithmetic, in the same order, is that of ``set_v``, but the state's
    fields are read into locals once: updated through ``st`` for every
    coordinate, ``sq_norm`` and ``l1_norm`` form a chain through memory (the
    compiler must assume the stores to ``v`` may alias them).
    """
    cdef double wscale = st.wscale
    cdef double cv = c / wscale
    cdef double w2 = wscale * wscale
    cdef double avg_c = st.avg_c
    cdef double sq_norm = st.sq_norm
    cdef double l1_norm = st.l1_norm
    cdef double* v = &st.v[0]
    cdef double* avg_sum = &st.avg_sum[0]
    cdef bint norms = st.penalty != PENALTY_NONE
    # the L1 norm only enters the objective when l1_ratio > 0
    cdef bint l1 = norms and st.l1_ratio > 0.0
    cdef double old, new, row_sq = 0.0, row_l1 = 0.0
    cdef int k
    cdef Py_ssize_t j
    if st.row_norms:
        # scikit-learn's WeightVector.add: the norms it tracks become those
        # of the coordinates of this row (its stopping objective uses them)
        for k in range(nnz):
            new = v[idx[k]] + cv * x[k]
            row_sq += new * new
            row_l1 += fabs(new)
        st.row_sq_norm = row_sq * w2
        st.row_l1_norm = row_l1 * wscale
    if not norms and avg_c == 0.0:
        for k in range(nnz):
            v[idx[k]] += cv * x[k]
        return
    for k in range(nnz):
        j = idx[k]
        old = v[j]
        new = old + cv * x[k]
        v[j] = new
        if norms:
            sq_norm += w2 * (new * new - old * old)
            if l1:
                l1_norm += wscale * (fabs(new) - fabs(old))
        if avg_c != 0.0:
            avg_sum[j] -= avg_c * (new - old)
    st.sq_norm = sq_norm
    st.l1_norm = l1_norm


cdef inline void l1_row(WeightState st, const floating* x, const int32_t* idx,
                        int nnz) noexcept nogil:
    """Apply the cumulative L1 penalty to the nonzero coordinates of one row.

    Zero entries are skipped, so that a dense row, a CSR row and a CSR row
    with explicit zeros all give the same model.  Idempotent for a given
    ``u``: a coordinate seen twice in one minibatch is penalised once.
    """
    cdef int k
    cdef Py_ssize_t j
    cdef double z, new, wscale = st.wscale
    for k in range(nnz):
        if x[k] == 0:
            continue
        j = idx[k]
        z = st.v[j]
        new = z
        if wscale * z > 0.0:
            new = max(0.0, z - (st.u + st.q[j]) / wscale)
        elif wscale * z < 0.0:
            new = min(0.0, z + (st.u - st.q[j]) / wscale)
        if new != z:
            # Not compensated in the averaged sum: the truncation applies to
            # the average too, with the weight of the iterates averaged so
            # far (scikit-learn's averaged SGD does the same).
            set_v(st, j, new, False)
            st.q[j] += wscale * (new - z)


cdef double caught_up_dot(WeightState st, const floating* x, const int32_t* idx,
                         int nnz, double eta, int32_t* touched,
                         Py_ssize_t* n_touched) noexcept nogil:
    """``x.w`` for a row of the current optimizer update, each coordinate
    brought up to date first.

    A coordinate the update has not touched yet takes the moves (and the
    penalty's proximal steps, at once: threshold ``eta * precond * k``) of
    the ``k`` updates it missed since its last touch, at the step ``eta`` of
    this update (exact for a constant step); it is then marked touched (its
    gathered gradient starts at 0) and listed in ``touched``.  One pass over
    the row, whose coordinates the rest of the update then finds in cache.

    The arithmetic is that of ``set_v`` (same order), with the state's fields
    in locals (as in ``add_row``): through ``st``, the norms would form a
    chain through memory from one coordinate to the next.
    """
    # the optimizer's constants in a local: read through st.opt, every one
    # of them would be reloaded after each store to the slots or weights
    cdef OptConsts c = st.opt.c
    cdef int kind = c.kind
    cdef Py_ssize_t j, nt = n_touched[0]
    cdef int kk
    cdef int64_t T = st.opt.n_steps, missed
    cdef double p = 0.0, new, old
    cdef double* slots = &st.opt.slots[0, 0]
    cdef double* slot
    cdef double* v = &st.v[0]
    cdef double* avg_sum = &st.avg_sum[0]
    cdef double avg_c = st.avg_c
    cdef double sq_norm = st.sq_norm, l1_norm = st.l1_norm
    cdef double wscale = st.wscale, w2 = st.wscale * st.wscale
    cdef bint norms = st.penalty != PENALTY_NONE
    cdef bint l1 = norms and st.l1_ratio > 0.0
    cdef double l1_part = 0.0, l2_part = 0.0
    cdef double dT = <double> T
    if norms:
        l1_part = st.alpha * st.l1_ratio
        l2_part = st.alpha * (1.0 - st.l1_ratio)
    # the slots of a sparse row are random accesses into a table larger than
    # the cache: ask for those a few entries ahead, so that their misses
    # overlap
    for kk in range(min(nnz, PREFETCH_AHEAD)):
        SKGD_PREFETCH(slots + idx[kk] * N_SLOTS)
    for kk in range(nnz):
        if kk + PREFETCH_AHEAD < nnz:
            SKGD_PREFETCH(slots + idx[kk + PREFETCH_AHEAD] * N_SLOTS)
            SKGD_PREFETCH(v + idx[kk + PREFETCH_AHEAD])
        if x[kk] == 0:
            continue
        j = idx[kk]
        slot = slots + j * N_SLOTS
        if slot[SLOT_LAST] != dT:
            missed = T - 1 - <int64_t> slot[SLOT_LAST]
            if missed > 0:
                old = v[j]
                new = opt_catch_up_weight(&c, kind, slot, missed, old, eta,
                                          l1_part, l2_part)
                v[j] = new
                if norms:
                    sq_norm += w2 * (new * new - old * old)
                    if l1:
                        l1_norm += wscale * (fabs(new) - fabs(old))
                if avg_c != 0.0:
                    avg_sum[j] -= avg_c * (new - old)
            slot[SLOT_LAST] = dT
            slot[SLOT_G] = 0.0
            touched[nt] = <int32_t> j
            nt += 1
        p += v[j] * x[kk]
    n_touched[0] = nt
    st.sq_norm = sq_norm
    st.l1_norm = l1_norm
    return p


cdef inline void gather_row(WeightState st, const floating* x, const int32_t* idx,
                            int nnz, double c) noexcept nogil:
    """Add ``c x`` to the gathered gradient of the row's coordinates."""
    cdef int kk
    cdef double* g = &st.opt.slots[0, SLOT_G]
    for kk in range(nnz):
        g[idx[kk] * N_SLOTS] += c * x[kk]


cdef void optimizer_step(WeightState st, const int32_t* touched, Py_ssize_t nt,
                         double gb, double eta) noexcept nogil:
    """Step the ``nt`` coordinates ``touched`` by the current update along
    their gathered gradient ``g_j`` (the mean over the batch's rows of
    ``s_i dL_i x_ij``, at the caught-up weights before the step): the
    optimizer's direction, then the penalty's proximal step

        w_j <- prox(w_j - eta d_j),  threshold tau = eta * precond_j,
        prox(z) = soft(z, tau alpha l1_ratio) / (1 + tau alpha (1 - l1_ratio)).

    The intercept (gradient ``gb``) is always touched and never penalised.
    Requires ``wscale == 1``.  The arithmetic is that of ``set_v``, with the
    state's fields in locals (see ``caught_up_dot``).
    """
    cdef OptConsts c = st.opt.c
    cdef int kind = c.kind
    cdef Py_ssize_t k, j, n_coef = st.v.shape[0]
    cdef double new, old
    cdef double* slots = &st.opt.slots[0, 0]
    cdef double* slot
    cdef double* v = &st.v[0]
    cdef double* avg_sum = &st.avg_sum[0]
    cdef double avg_c = st.avg_c
    cdef double sq_norm = st.sq_norm, l1_norm = st.l1_norm
    cdef double wscale = st.wscale, w2 = st.wscale * st.wscale
    cdef bint norms = st.penalty != PENALTY_NONE
    cdef bint l1 = norms and st.l1_ratio > 0.0
    cdef double l1_part = 0.0, l2_part = 0.0
    if norms:
        l1_part = st.alpha * st.l1_ratio
        l2_part = st.alpha * (1.0 - st.l1_ratio)
    for k in range(nt):
        if k + PREFETCH_AHEAD < nt:
            SKGD_PREFETCH(slots + touched[k + PREFETCH_AHEAD] * N_SLOTS)
            SKGD_PREFETCH(v + touched[k + PREFETCH_AHEAD])
        j = touched[k]
        slot = slots + j * N_SLOTS
        old = v[j]
        new = opt_step_weight(&c, kind, slot, slot[SLOT_G], old, eta, l1_part, l2_part)
        v[j] = new
        if norms:
            sq_norm += w2 * (new * new - old * old)
            if l1:
                l1_norm += wscale * (fabs(new) - fabs(old))
        if avg_c != 0.0:
            avg_sum[j] -= avg_c * (new - old)
    st.sq_norm = sq_norm
    st.l1_norm = l1_norm
    if st.fit_intercept:
        st.intercept = opt_step_weight(&c, kind, slots + n_coef * N_SLOTS,
                                       gb * st.intercept_decay, st.intercept, eta,
                                       0.0, 0.0)
    if 0 < st.average_start <= st.t:
        st.avg_c += st.wscale
        st.avg_intercept_sum += st.intercept
        st.n_averaged += 1


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


def row_squared_norms(const floating[::1] data, RowIndex rows, Py_ssize_t n_rows):
    """``||x_i||^2`` of the ``n_rows`` rows of a row view, in float64.

    One pass over the data, no temporary of its size (NumPy's ``X * X``
    for a CSR matrix allocates a copy of ``X.data`` and an index array).
    """
    cdef double[::1] out = np.zeros(n_rows)
    cdef const floating* x
    cdef const int32_t* idx
    cdef Py_ssize_t i
    cdef int nnz
    if data.shape[0] == 0:
        return np.asarray(out)
    with nogil:
        for i in range(n_rows):
            nnz = row_view(&data[0], rows, i, &x, &idx)
            out[i] = sqnorm(x, nnz)
    return np.asarray(out)


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


@cython.cdivision(True)
def run_epoch(WeightState st, CyLoss loss, const floating[::1] data,
              RowIndex rows, const double[::1] y, const double[::1] sample_weight,
              const Py_ssize_t[::1] order, Py_ssize_t batch_size,
              const double[::1] etas):
    """Run one epoch of minibatch gradient descent (sgd when ``batch_size=1``).

    Rows are visited in ``order``, ``batch_size`` at a time.  For each batch
    the derivatives are computed with the weights before the step, then one
    step is taken::

        w <- (1 - eta alpha (1 - l1_ratio)) w - eta / m sum_i s_i dL(y_i, p_i) x_i
        b <- b - eta / m sum_i s_i dL(y_i, p_i)

        followed by the cumulative L1 step on the nonzero coordinates of
        the batch's rows,

    with ``m`` the number of rows in the batch and ``s_i`` the sample weight.

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
    # sized by the rows of the epoch, not by a (possibly huge) batch_size
    cdef double[::1] upd = np.zeros(max(min(batch_size, n), 1))
    cdef const floating* x
    cdef const int32_t* idx
    cdef int nnz
    cdef Py_ssize_t bi, k, start, end, i, m, nt = 0
    cdef double eta, p, yi, s, lv, d, pen, ib, norm2
    cdef double sum_loss = 0.0, sum_wloss = 0.0, sum_w = 0.0, sum_pen = 0.0
    cdef double sum_stop_pen = 0.0, stop_pen
    cdef double l2_part = 1.0 - st.l1_ratio
    cdef bint has_l2 = st.penalty == PENALTY_L2 or st.penalty == PENALTY_ELASTICNET
    cdef bint has_l1 = st.penalty == PENALTY_L1 or st.penalty == PENALTY_ELASTICNET
    cdef int64_t n_updates = 0
    cdef bint skip
    # an optimizer: gather the batch gradient first (its step is non-linear)
    cdef bint gathered = st.opt is not None
    cdef Py_ssize_t n_work = st.v.shape[0] if gathered else 1
    cdef int32_t[::1] touched = np.zeros(n_work, dtype=np.int32)

    st.stop_penalty_sum = 0.0
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0, 0
    if gathered:
        if st.step_rule != STEP_GRADIENT:
            raise ValueError("the passive-aggressive steps take no optimizer")
        # per-coordinate steps: no shared scale
        st.fold_scale()
        st.row_norms = False
    if etas.shape[0] < n_batches:
        raise ValueError("etas has %d entries, need %d" % (etas.shape[0], n_batches))

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
            if gathered:
                # a new optimizer update: its rows catch up their coordinates
                # (for the margins) and gather their gradient as they go
                st.opt.begin_step()
                nt = 0
            # 1. derivatives at the weights before the step
            for k in range(start, end):
                i = order[k]
                # Rows come in random order: every row starts with cache
                # misses (row pointer, target, weight, then the row).  Ask
                # for the next rows' lines now, and read this row's target
                # and weight before its dot product, so the misses overlap.
                if k + 2 < n:
                    prefetch_row_start(rows, order[k + 2], &y[0], &sample_weight[0])
                if k + 1 < n:
                    prefetch_row(&data[0], rows, order[k + 1])
                yi = y[i]
                s = sample_weight[i]
                nnz = row_view(&data[0], rows, i, &x, &idx)
                if gathered:
                    p = caught_up_dot(st, x, idx, nnz, eta, &touched[0], &nt)
                else:
                    p = dot(st, x, idx, nnz)
                p += st.intercept
                lv = loss.loss(yi, p)
                sum_loss += lv
                sum_wloss += s * lv
                sum_w += s
                sum_pen += pen
                sum_stop_pen += stop_pen
                if st.step_rule == STEP_GRADIENT:
                    d = loss.dloss(yi, p)
                    if d < -MAX_DLOSS:
                        d = -MAX_DLOSS
                    elif d > MAX_DLOSS:
                        d = MAX_DLOSS
                    if not gathered:
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
                if gathered and d != 0.0:
                    gather_row(st, x, idx, nnz, d * s / m)
                    ib += d * s / m
            if skip:
                continue
            if gathered:
                # 2'. one optimizer step along the gathered gradient
                optimizer_step(st, &touched[0], nt, ib, eta)
                st.t += m
                n_updates += 1
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
                    add_row(st, x, idx, nnz, d)
                    ib += d
            if st.fit_intercept and ib != 0.0:
                # scikit-learn damps the intercept step by 0.01 on sparse data
                # (sgd mode only: intercept_decay is 1 otherwise)
                st.intercept += ib * st.intercept_decay
            if 0 < st.average_start <= st.t:
                st.avg_c += st.wscale
                st.avg_intercept_sum += st.intercept
                st.n_averaged += 1
            if has_l1:
                st.u += st.l1_ratio * eta * st.alpha
                for k in range(start, end):
                    nnz = row_view(&data[0], rows, order[k], &x, &idx)
                    l1_row(st, x, idx, nnz)
            # t counts rows (scikit-learn's t_ in sgd mode)
            st.t += m
            n_updates += 1
    st.stop_penalty_sum = sum_stop_pen
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates
