"""The top eigenvalue of a small dense symmetric matrix, compiled.

Minibatch mode's step estimate (:func:`skgd._modes.minibatch_smoothness`)
asks for the top eigenvalue of a Gram matrix of at most
``EXACT_GRAM_COLUMNS`` columns, to rounding, two to four times per fit.
In Python each Lanczos step cost about 60 microseconds of calls (a product,
two reorthogonalisations, LAPACK's bisection on the tridiagonal matrix), and
the steps run until the top Ritz value stops moving: 30 to 100 steps, 2 ms a
call on 101 columns.  Here the same recursion is a few loops in C, on one
thread, in a fixed order: the number does not depend on BLAS or its threads
(LAPACK's dense solvers did, by one ulp with OpenBLAS 0.3.21).
"""
from libc.math cimport NAN, fabs, isfinite, sqrt
from libc.stdlib cimport free, malloc

cimport cython


cdef inline double dot(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    """``a . b`` in four partial sums (four chains of additions, in a fixed
    order)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t i, m = n - n % 4
    for i in range(0, m, 4):
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
    for i in range(m, n):
        s0 += a[i] * b[i]
    return (s0 + s1) + (s2 + s3)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef double tridiagonal_top(const double* alpha, const double* beta,
                            Py_ssize_t m, double* work) noexcept nogil:
    """The largest eigenvalue of the symmetric tridiagonal matrix with
    diagonal ``alpha[:m]`` and off-diagonal ``beta[:m - 1]``, by bisection
    on Sturm counts (the number of eigenvalues below ``x`` is the number of
    negative pivots of ``T - x I = L D L'``), from Gershgorin's interval
    until it is as narrow as the rounding of its ends.  The matrix is
    divided by its largest entry first (``work``: 2 m numbers), so that the
    squares of the off-diagonal do not overflow."""
    cdef double lo, hi, mid, d, radius, scale = 0.0
    cdef double* a = work
    cdef double* b2 = work + m
    cdef Py_ssize_t i, below
    if m == 1:
        return alpha[0]
    for i in range(m):
        scale = max(scale, fabs(alpha[i]))
    for i in range(m - 1):
        scale = max(scale, fabs(beta[i]))
    if scale == 0.0:
        return 0.0
    for i in range(m):
        a[i] = alpha[i] / scale
    for i in range(m - 1):
        b2[i] = (beta[i] / scale) * (beta[i] / scale)
    lo = hi = a[0]
    for i in range(m):
        radius = 0.0
        if i > 0:
            radius += fabs(beta[i - 1]) / scale
        if i < m - 1:
            radius += fabs(beta[i]) / scale
        lo = min(lo, a[i] - radius)
        hi = max(hi, a[i] + radius)
    # invariant: fewer than m eigenvalues below lo, all m below or at hi
    while True:
        mid = 0.5 * (lo + hi)
        if not (lo < mid < hi):
            return hi * scale
        below = 0
        d = a[0] - mid
        for i in range(m):
            if i > 0:
                if d == 0.0:
                    # (a zero pivot: taken as the smallest negative number)
                    d = -2.2250738585072014e-308
                d = (a[i] - mid) - b2[i - 1] / d
            if d < 0.0:
                below += 1
        if below == m:
            hi = mid
        else:
            lo = mid


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def symmetric_top_eigenvalue(const double[:, ::1] A, const double[::1] v0,
                             double rtol):
    """Top eigenvalue of the symmetric PSD matrix ``A`` by Lanczos from
    ``v0``, the recursion of :func:`skgd._modes.lanczos_top_eigenvalue` (full
    reorthogonalisation, twice; at most ``len(A)`` steps; stops when the top
    Ritz value moved by at most ``rtol`` relative over a step, or when the
    residual is below ``1e-10`` times the matrix's scale).  Returns NaN when
    a product is not finite (the caller raises)."""
    cdef Py_ssize_t n = A.shape[0], k = n, j, i, l, t
    cdef double* Q
    cdef double* alpha
    cdef double* beta
    cdef double* r
    cdef double* c
    cdef double* work
    cdef double s, b, scale, top = 0.0, previous, a
    if n == 0:
        return 0.0
    if A.shape[1] != n or v0.shape[0] != n:
        raise ValueError("A must be square and v0 as long as its side")
    # one block: Q (k x n), alpha, beta, c (k each), r (n), work (2 k)
    Q = <double*> malloc((k * n + 5 * k + n) * sizeof(double))
    if Q == NULL:
        raise MemoryError()
    alpha = Q + k * n
    beta = alpha + k
    c = beta + k
    work = c + k
    r = work + 2 * k
    with nogil:
        s = 0.0
        for i in range(n):
            s += v0[i] * v0[i]
        s = sqrt(s)
        for i in range(n):
            Q[i] = v0[i] / s
        for j in range(k):
            # r = A q_j (A's rows times q_j's entries, summed: A is
            # symmetric, and a sum of rows runs in vector registers where a
            # row's dot product is one chain of additions), alpha_j = q_j . r
            for i in range(n):
                r[i] = 0.0
            for l in range(n):
                a = Q[j * n + l]
                for i in range(n):
                    r[i] += a * A[l, i]
            alpha[j] = dot(&Q[j * n], r, n)
            # r -= Q' (Q r), twice
            for t in range(2):
                for l in range(j + 1):
                    c[l] = dot(&Q[l * n], r, n)
                for l in range(j + 1):
                    a = c[l]
                    for i in range(n):
                        r[i] -= a * Q[l * n + i]
            b = sqrt(dot(r, r, n))
            if not (isfinite(alpha[j]) and isfinite(b)):
                top = NAN
                break
            scale = 0.0
            for l in range(j + 1):
                scale = max(scale, fabs(alpha[l]))
            for l in range(j):
                scale = max(scale, fabs(beta[l]))
            previous = top
            top = tridiagonal_top(alpha, beta, j + 1, work)
            if (b <= 1e-10 * max(scale, 1e-300) or j == k - 1
                    or (j >= 2 and top - previous <= rtol * top)):
                break
            beta[j] = b
            for i in range(n):
                Q[(j + 1) * n + i] = r[i] / b
    free(Q)
    return top
