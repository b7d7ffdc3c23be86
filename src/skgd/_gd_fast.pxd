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
    # None: plain steps; else the optimizer's per-coordinate state
    cdef public Optimizer opt

    cdef void scale(self, double c) noexcept nogil


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
