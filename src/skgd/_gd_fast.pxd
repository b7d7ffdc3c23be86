# The row view and the per-problem state of the compiled passes, exported
# so that other compiled modules (new passes, threaded products) cimport them.
# Their documentation is in skgd/_gd_fast.pyx.

from libc.math cimport fabs
from libc.stdint cimport int32_t, int64_t

from cython cimport floating

from skgd._optim_fast cimport Optimizer


cpdef enum PenaltyKind:
    # The one table of penalty codes; skgd._penalties reads it from here.
    PENALTY_NONE = 0
    PENALTY_L1 = 1
    PENALTY_L2 = 2
    PENALTY_ELASTICNET = 3


cdef class RowIndex:
    # const: read-only (e.g. memory-mapped) index arrays are used as they are
    cdef readonly const int32_t[::1] indices
    cdef readonly const int64_t[::1] indptr
    cdef readonly Py_ssize_t stride


cdef inline int row_view(const floating* data, RowIndex rows, Py_ssize_t i,
                         const floating** x, const int32_t** idx) noexcept nogil:
    """Point ``x`` and ``idx`` at row ``i``; return its number of entries."""
    cdef int64_t start
    if rows.stride > 0:
        x[0] = data + i * rows.stride
        idx[0] = &rows.indices[0]
        return <int> rows.stride
    start = rows.indptr[i]
    x[0] = data + start
    idx[0] = &rows.indices[0] + start
    return <int> (rows.indptr[i + 1] - start)


# Prefetches of the passes that visit rows in random order (shared by
# skgd._gd_fast and skgd._softmax_fast).
cdef extern from *:
    """
    #define SKGD_PREFETCH(p) __builtin_prefetch((const void*)(p))
    #define SKGD_PREFETCH_L2(p) __builtin_prefetch((const void*)(p), 0, 1)
    """
    void SKGD_PREFETCH(const void* p) noexcept nogil
    void SKGD_PREFETCH_L2(const void* p) noexcept nogil  # (not into L1)

#: rows ahead of the current one whose entries are prefetched into L2 (and
#: twice as far, a CSR row's pointer), in data of more than FAR_BYTES of
#: values.  Rows visited in random order are bound by their cache misses,
#: and one core keeps only so many in flight into L1: asked for 8 rows
#: ahead into L2 (the next row still into L1), sgd-mode epochs took 0.027 s
#: instead of 0.038 (dense 200,000 x 100) and 0.115 instead of 0.143 (CSR
#: 500,000 x 262,144, 50 per row); 6 to 24 rows ahead measured alike.  On
#: data the caches hold they are wasted work: digits (0.9 MB) took 10%
#: longer with them.
cdef enum:
    ROW_AHEAD = 8
    FAR_BYTES = 4194304


cdef inline void prefetch_row_start(RowIndex rows, Py_ssize_t i, const double* y,
                                    const double* sample_weight) noexcept nogil:
    """Prefetch the target, the weight and the CSR row pointer of row ``i``."""
    SKGD_PREFETCH(y + i)
    SKGD_PREFETCH(sample_weight + i)
    if rows.stride == 0:
        SKGD_PREFETCH(&rows.indptr[i])


cdef inline void prefetch_span(const char* p, Py_ssize_t n_bytes,
                               bint far) noexcept nogil:
    """Prefetch ``n_bytes`` from ``p``, a cache line (64 bytes) at a time,
    into L1 (``far`` False) or L2."""
    cdef Py_ssize_t at = 0
    while at < n_bytes:
        if far:
            SKGD_PREFETCH_L2(p + at)
        else:
            SKGD_PREFETCH(p + at)
        at += 64


cdef inline void prefetch_row(const floating* data, RowIndex rows,
                              Py_ssize_t i, bint far) noexcept nogil:
    """Prefetch the values (and CSR column indices) of row ``i``, into L1
    (``far`` False) or L2.

    Reads the row pointer of a CSR row: prefetch it first
    (:func:`prefetch_row_start`).
    """
    cdef const floating* x
    cdef const int32_t* idx
    cdef int nnz = row_view(data, rows, i, &x, &idx)
    prefetch_span(<const char*> x, nnz * sizeof(floating), far)
    if rows.stride == 0:
        prefetch_span(<const char*> idx, nnz * sizeof(int32_t), far)


cdef inline void prefetch_ahead(const floating* data, RowIndex rows,
                                const Py_ssize_t* order, Py_ssize_t k,
                                Py_ssize_t n, const double* y,
                                const double* sample_weight,
                                bint far) noexcept nogil:
    """The prefetches of a pass visiting ``order[k]`` (of ``order[:n]``):
    the target, weight and row pointer of row ``k + 2`` and the entries of
    row ``k + 1`` into L1; with ``far`` (:func:`far_prefetches`), the
    entries of row ``k + ROW_AHEAD`` and the row pointer of row
    ``k + 2 ROW_AHEAD`` into L2."""
    if k + 2 < n:
        prefetch_row_start(rows, order[k + 2], y, sample_weight)
    if k + 1 < n:
        prefetch_row(data, rows, order[k + 1], False)
    if far and k + ROW_AHEAD < n:
        prefetch_row(data, rows, order[k + ROW_AHEAD], True)
        if rows.stride == 0 and k + 2 * ROW_AHEAD < n:
            SKGD_PREFETCH_L2(&rows.indptr[order[k + 2 * ROW_AHEAD]])


cdef inline void prefetch_entries(const double* v, const int32_t* idx,
                                  int nnz) noexcept nogil:
    """Prefetch ``v[idx[k]]`` for ``k < nnz`` (into L1)."""
    cdef int k
    for k in range(nnz):
        SKGD_PREFETCH(v + idx[k])


cdef inline bint far_prefetches(const floating[::1] data) noexcept nogil:
    """Whether the passes over ``data`` prefetch rows far ahead."""
    return data.shape[0] * sizeof(floating) > FAR_BYTES


cdef class WeightState:
    cdef public double[::1] v
    cdef public double wscale
    cdef public double intercept
    cdef public double sq_norm
    cdef public double l1_norm
    cdef public double u
    cdef public double[::1] q
    cdef public double[::1] avg_sum
    cdef public double avg_c
    cdef public double avg_intercept_sum
    cdef public int64_t n_averaged
    cdef public int64_t t
    cdef public int penalty
    cdef public double alpha
    cdef public double l1_ratio
    cdef public bint fit_intercept
    cdef public int64_t average_start
    cdef public int step_rule
    cdef public double pa_c
    cdef public bint margin_loss
    cdef public double intercept_decay
    # sgd mode: scikit-learn's arithmetic where it differs from the
    # minibatch passes: the norms its stopping objective reads (those of
    # the last row added, row_sq_norm / row_l1_norm) and an L1 step on
    # every stored entry of a row, zero or not
    cdef public bint row_norms
    cdef public double row_sq_norm
    cdef public double row_l1_norm
    cdef public double stop_penalty_sum
    # the sum of the margins the last epoch computed (not kept: an epoch's
    # report): not finite when a row held a NaN or an infinite value (or the
    # weights overflowed), which is how sgd mode checks its input's values
    # in the pass that reads them (skgd._base.BaseGD._epoch_loop)
    cdef public double margin_sum
    # None: plain steps; else the optimizer's per-coordinate state
    cdef public Optimizer opt
    # the threads' guard of the minibatch passes, carried from one epoch to
    # the next (the machine's load, not the model's state: not pickled):
    # the regions still to run on one thread, and those after the next
    # failure (0: none yet)
    cdef public int64_t guard_serial_left
    cdef public int64_t guard_backoff

    cdef void scale(self, double c) noexcept nogil
    cdef double scaled(self, double c) noexcept nogil


cdef inline void set_v(WeightState st, Py_ssize_t j, double new,
                       bint keep_average) noexcept nogil:
    """Set v[j], keeping the norms (and the averaged sum if asked) consistent."""
    cdef double old = st.v[j]
    st.v[j] = new
    if st.penalty != PENALTY_NONE:
        st.sq_norm += st.wscale * st.wscale * (new * new - old * old)
        if st.l1_ratio > 0.0:
            st.l1_norm += st.wscale * (fabs(new) - fabs(old))
    if keep_average and st.avg_c != 0.0:
        st.avg_sum[j] -= st.avg_c * (new - old)


cdef inline double penalty_value(WeightState st) noexcept nogil:
    if st.penalty == PENALTY_NONE:
        return 0.0
    return st.alpha * ((1.0 - st.l1_ratio) * 0.5 * st.sq_norm
                       + st.l1_ratio * st.l1_norm)
