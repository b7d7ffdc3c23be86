"""Coordinate descent on the quadratic model of an L1-penalised problem.

Batch mode's exact route for a smooth loss with an L1 part
(:mod:`skgd._l1_newton`) takes proximal Newton steps: at ``theta0 = (w,
b)`` it minimises the loss's quadratic model plus the penalty,

    g' D + 1/2 D' A' C A D + l1 ||w + D_w||_1 + l2 / 2 ||w + D_w||^2,

over ``D = theta - theta0``, with ``g`` the loss's gradient at ``theta0``,
``A`` the rows with a column of ones for the intercept (the last
coordinate, never penalised) and ``C`` the rows' weighted curvatures.  The
two functions here minimise it by cyclic coordinate descent (the steps of
glmnet; Friedman, Hastie and Tibshirani, 2010), each coordinate exactly:

    theta_j <- soft(a_j theta_j - G_j, l1) / (a_j + l2),

``G_j`` the model's gradient in ``theta_j`` without the penalty and ``a_j``
its curvature.  :func:`gram_sweeps` reads ``H = A' C A`` (few columns: a
coordinate costs ``len(H)``); :func:`column_sweeps` reads the columns of
``A`` (CSC or Fortran-ordered dense: a coordinate costs its column's stored
values).  Both keep the product of the step ``D`` they have taken so far
(``H D``, or ``A D``) and sweep as glmnet does: every coordinate once, then
the nonzero ones until they settle, then every coordinate again, until a
whole sweep changes no coordinate's gradient by more than ``tol``.  One
thread, a fixed order: the result does not depend on any thread count.
"""
from libc.math cimport INFINITY, fabs
from libc.stdint cimport int32_t, int64_t

cimport cython
import numpy as np

from skgd._optim_fast cimport soft_threshold

ctypedef fused floating:
    float
    double


cdef inline double coordinate(double theta, double grad, double a, double l1,
                              double l2, bint penalised) noexcept nogil:
    """The exact minimiser of the model along one coordinate whose gradient
    (without the penalty) is ``grad`` and curvature ``a``; the coordinate
    as it is when the model is flat along it (``a + l2 <= 0``)."""
    if not penalised:
        return theta - grad / a if a > 0.0 else theta
    if a + l2 <= 0.0:
        return theta
    return soft_threshold(a * theta - grad, l1) / (a + l2)


cdef struct Sweep:
    # What a pass over coordinates reads and updates: the model's gradient
    # at its point g, the coordinates theta (n_pen of them penalised, the
    # rest: the intercept), and the product of the step so far (``hd = H
    # D`` on the Hessian, ``e = A D`` on the columns)
    const double* g
    double* theta
    double l1
    double l2
    Py_ssize_t n_pen
    # on the Hessian (m x m, C-ordered)
    const double* H
    Py_ssize_t m
    double* hd
    # on the columns (CSC, or Fortran-ordered dense), n rows of weights
    # cw, curvatures diag
    bint dense
    const void* data
    const int32_t* indices
    const int64_t* indptr
    Py_ssize_t n
    const double* cw
    double* e
    const double* diag


ctypedef double (*PassFn)(Sweep* sw, const Py_ssize_t* coords,
                          Py_ssize_t n_coords) noexcept nogil


cdef inline double moved(Sweep* sw, Py_ssize_t j, double change,
                         double a) noexcept nogil:
    """The size of a coordinate's change in the units of a gradient."""
    return fabs(change) * (a + (sw.l2 if j < sw.n_pen else 0.0))


@cython.boundscheck(False)
@cython.wraparound(False)
cdef double gram_pass(Sweep* sw, const Py_ssize_t* coords,
                      Py_ssize_t n_coords) noexcept nogil:
    """One pass over ``coords`` on the Hessian; returns the largest change
    (:func:`moved`)."""
    cdef Py_ssize_t m = sw.m, k, j, i
    cdef const double* col
    cdef double old, new, change, worst = 0.0, a
    for k in range(n_coords):
        j = coords[k]
        a = sw.H[j * m + j]
        old = sw.theta[j]
        new = coordinate(old, sw.g[j] + sw.hd[j], a, sw.l1, sw.l2, j < sw.n_pen)
        change = new - old
        if change != 0.0:
            sw.theta[j] = new
            col = sw.H + j * m  # (H is symmetric: its row j is its column)
            for i in range(m):
                sw.hd[i] += col[i] * change
            worst = max(worst, moved(sw, j, change, a))
    return worst


@cython.boundscheck(False)
@cython.wraparound(False)
cdef double column_pass(Sweep* sw, const Py_ssize_t* coords,
                        Py_ssize_t n_coords, const floating* data) noexcept nogil:
    """One pass over ``coords`` on the columns (coordinate ``n_pen``: the
    intercept's, if it is one of them); returns the largest change."""
    cdef Py_ssize_t k, j, i, lo, d = sw.n_pen, n = sw.n
    cdef const int32_t* idx = sw.indices
    cdef const int64_t* ptr = sw.indptr
    cdef const double* cw = sw.cw
    cdef double* e = sw.e
    cdef double grad, old, new, change, worst = 0.0, a
    for k in range(n_coords):
        j = coords[k]
        a = sw.diag[j]
        grad = sw.g[j]
        if j == d:
            for i in range(n):
                grad += cw[i] * e[i]
        elif sw.dense:
            lo = j * n
            for i in range(n):
                grad += cw[i] * e[i] * data[lo + i]
        else:
            for i in range(ptr[j], ptr[j + 1]):
                grad += cw[idx[i]] * e[idx[i]] * data[i]
        old = sw.theta[j]
        new = coordinate(old, grad, a, sw.l1, sw.l2, j < d)
        change = new - old
        if change == 0.0:
            continue
        sw.theta[j] = new
        if j == d:
            for i in range(n):
                e[i] += change
        elif sw.dense:
            lo = j * n
            for i in range(n):
                e[i] += data[lo + i] * change
        else:
            for i in range(ptr[j], ptr[j + 1]):
                e[idx[i]] += data[i] * change
        worst = max(worst, moved(sw, j, change, a))
    return worst


cdef double column_pass_f(Sweep* sw, const Py_ssize_t* coords,
                          Py_ssize_t n_coords) noexcept nogil:
    return column_pass(sw, coords, n_coords, <const float*> sw.data)


cdef double column_pass_d(Sweep* sw, const Py_ssize_t* coords,
                          Py_ssize_t n_coords) noexcept nogil:
    return column_pass(sw, coords, n_coords, <const double*> sw.data)


cdef tuple sweeps(PassFn one_pass, Sweep* sw, Py_ssize_t m, int64_t max_visits,
                  double tol):
    """glmnet's order of passes (see the module docstring) over the ``m``
    coordinates, until a whole sweep changes no coordinate by more than
    ``tol`` or ``max_visits`` coordinates have been visited; returns
    ``(visits, change)``, ``change`` the largest of the last whole sweep
    (inf if the budget ended the passes in between)."""
    cdef Py_ssize_t[::1] every = np.arange(m, dtype=np.intp)
    cdef Py_ssize_t[::1] active = np.empty(max(m, 1), dtype=np.intp)
    cdef Py_ssize_t j, n_active
    cdef int64_t visits = 0
    cdef double change = np.inf
    if m == 0:
        return 0, 0.0
    with nogil:
        while visits + m <= max_visits:
            change = one_pass(sw, &every[0], m)
            visits += m
            if change <= tol:
                break
            n_active = 0
            for j in range(m):
                if sw.theta[j] != 0.0 or j >= sw.n_pen:
                    active[n_active] = j
                    n_active += 1
            # the nonzero coordinates until they settle
            while visits + n_active <= max_visits:
                visits += n_active
                if one_pass(sw, &active[0], n_active) <= tol:
                    break
                if visits >= max_visits or n_active == 0:
                    break
            change = INFINITY
    return visits, change


@cython.boundscheck(False)
@cython.wraparound(False)
def gram_sweeps(const double[:, ::1] H, const double[::1] g, double[::1] theta,
                double[::1] hd, double l1, double l2, Py_ssize_t n_pen,
                int64_t max_visits, double tol):
    """Minimise the model ``g' D + D' H D / 2`` plus the penalty (``l1``,
    ``l2``) on the first ``n_pen`` coordinates of ``theta`` (the others,
    the intercept, unpenalised), in place: ``theta`` starts at the point
    ``theta0`` of the model and ends at its minimiser, ``hd = H (theta -
    theta0)`` (zeros at the start).  Returns ``(visits, change)``: the
    coordinates visited (at most ``max_visits``, each costing ``len(H)``)
    and the largest change of a coordinate (in the units of its gradient)
    in the last whole sweep, inf if the budget cut the passes short."""
    cdef Sweep sw
    cdef Py_ssize_t m = H.shape[0]
    if m == 0:
        return 0, 0.0
    sw.g, sw.theta, sw.l1, sw.l2, sw.n_pen = &g[0], &theta[0], l1, l2, n_pen
    sw.H, sw.m, sw.hd = &H[0, 0], m, &hd[0]
    return sweeps(gram_pass, &sw, m, max_visits, tol)


cdef class Columns:
    """The columns of a problem's rows, for :func:`column_sweeps`: CSC
    arrays (int32 ``indices``, int64 ``indptr``), or a Fortran-ordered
    dense array (``indices`` None: column ``j`` is ``data[j n:(j + 1) n]``).
    float32 values are read in float64."""
    cdef readonly object data
    cdef readonly object indices
    cdef readonly object indptr
    cdef readonly Py_ssize_t n_rows
    cdef readonly Py_ssize_t n_columns

    def __init__(self, X):
        import scipy.sparse as sp
        self.n_rows, self.n_columns = X.shape
        if sp.issparse(X):
            X = sp.csc_matrix(X)
            X.sort_indices()
            self.data = np.ascontiguousarray(X.data)
            self.indices = np.ascontiguousarray(X.indices, dtype=np.int32)
            self.indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
        else:
            self.data = np.asfortranarray(X).ravel(order="F")
            self.indices = None
            self.indptr = None


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void column_curvatures(Sweep* sw, const floating* data, double* diag,
                            Py_ssize_t m) noexcept nogil:
    """``a_j = sum_i c_i a_ij^2`` of every coordinate (the intercept's: sum c_i)."""
    cdef Py_ssize_t j, i, n = sw.n, d = sw.n_pen
    cdef double a
    for j in range(d):
        a = 0.0
        if sw.dense:
            for i in range(n):
                a += sw.cw[i] * data[j * n + i] * data[j * n + i]
        else:
            for i in range(sw.indptr[j], sw.indptr[j + 1]):
                a += sw.cw[sw.indices[i]] * data[i] * data[i]
        diag[j] = a
    if m > d:
        a = 0.0
        for i in range(n):
            a += sw.cw[i]
        diag[d] = a


def column_sweeps(Columns cols, const double[::1] cw, const double[::1] g,
                  double[::1] theta, double[::1] e, double l1, double l2,
                  int64_t max_visits, double tol):
    """:func:`gram_sweeps` on the columns ``cols`` of the rows, whose
    weighted curvatures are ``cw``: ``theta`` (``n_columns`` coordinates,
    plus the intercept's last when it is fitted) starts at the model's
    point and ends at its minimiser, ``e = A (theta - theta0)`` (zeros at
    the start, one per row).  Returns ``(visits, change)`` (a visit costs
    its column's stored values, twice)."""
    cdef Sweep sw
    cdef Py_ssize_t m = theta.shape[0]
    cdef double[::1] diag = np.zeros(max(m, 1))
    cdef const float[::1] data_f
    cdef const double[::1] data_d
    cdef const int32_t[::1] idx
    cdef const int64_t[::1] ptr
    if m == 0:
        return 0, 0.0
    sw.g, sw.theta, sw.l1, sw.l2, sw.n_pen = &g[0], &theta[0], l1, l2, cols.n_columns
    sw.n, sw.cw, sw.e, sw.diag = cols.n_rows, &cw[0], &e[0], &diag[0]
    sw.dense, sw.indices, sw.indptr = cols.indices is None, NULL, NULL
    if not sw.dense:
        idx, ptr = cols.indices, cols.indptr
        sw.indptr = &ptr[0]
        if idx.shape[0]:  # (else no column has a stored value to read)
            sw.indices = &idx[0]
    if cols.data.dtype == np.float32:
        data_f = cols.data
        sw.data = &data_f[0] if data_f.shape[0] else NULL
        column_curvatures(&sw, <const float*> sw.data, &diag[0], m)
        return sweeps(column_pass_f, &sw, m, max_visits, tol)
    data_d = cols.data
    sw.data = &data_d[0] if data_d.shape[0] else NULL
    column_curvatures(&sw, <const double*> sw.data, &diag[0], m)
    return sweeps(column_pass_d, &sw, m, max_visits, tol)
