"""Batch mode's products over CSR data, ``X @ w + b`` and ``X.T @ r``, on threads.

``X`` is a CSR matrix of float32 or float64 (int32 column indices, int64
row pointers); ``w`` and ``r`` are float64 and every sum is accumulated in
float64 (the data are read in their own precision, never copied).  Dense
data go through NumPy's BLAS, which is faster than these loops on dense
rows (``benchmarks/bench_products.py``).

The ``K``-column products of a ``K``-output model (a multinomial one),
``X @ W + b`` and ``X.T @ R`` with ``W`` of shape ``(n_columns, K)`` and
``R`` of shape ``(n_rows, K)`` (C order), walk ``X`` once: each stored
entry reads or updates the ``K`` contiguous numbers of its row of ``W``.
Each of their columns is summed in the order of the one-column product.

Results do not depend on the number of threads, bit for bit:

* ``X @ w`` is one sum per row, each in the row's storage order, whichever
  thread computes it;
* ``X.T @ r`` is computed over a fixed partition of the rows into blocks
  (``bounds``, chosen by the caller from the data's shape only): block
  ``k`` accumulates its rows, in order, into its own row ``buffers[k]``,
  and the blocks' partial sums are then added in block order.  Threads
  take whole blocks, so they change who computes a partial sum, never the
  sum itself.

Without OpenMP (a compiler without it) the loops run on one thread.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint8_t

from cython cimport floating

# columns per task of the final reduction
cdef Py_ssize_t REDUCE_CHUNK = 2048


def csr_matvec(const floating[::1] data, const int32_t[::1] indices,
               const int64_t[::1] indptr, const double[::1] w, double b,
               double[::1] out, int n_threads):
    """``out = X @ w + b`` for ``X`` in CSR form.

    Parameters
    ----------
    data, indices, indptr : ndarray
        The CSR arrays of ``X`` (``n_rows + 1`` row pointers, int32 column
        indices, any order within a row).
    w : ndarray of float64, shape (n_columns,)
        The vector.
    b : float
        Added to every entry of the result (the intercept).
    out : ndarray of float64, shape (n_rows,)
        Overwritten with the result.
    n_threads : int
        OpenMP threads.
    """
    cdef Py_ssize_t n = out.shape[0], i
    cdef int64_t k
    cdef double acc
    with nogil:
        for i in prange(n, schedule="guided", num_threads=n_threads):
            acc = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                acc = acc + data[k] * w[indices[k]]
            out[i] = acc + b


def csr_matmat(const floating[::1] data, const int32_t[::1] indices,
               const int64_t[::1] indptr, const double[:, ::1] W,
               const double[::1] b, double[:, ::1] out, int n_threads):
    """``out = X @ W + b`` for ``X`` in CSR form and ``K`` columns of ``W``.

    Parameters
    ----------
    data, indices, indptr : ndarray
        The CSR arrays of ``X``.
    W : ndarray of float64, shape (n_columns, K)
        The ``K`` vectors, C-ordered.
    b : ndarray of float64, shape (K,)
        Added to every row of the result.
    out : ndarray of float64, shape (n_rows, K)
        Overwritten with the result: column ``c`` equals, bit for bit,
        :func:`csr_matvec` of ``W[:, c]`` and ``b[c]``.
    n_threads : int
        OpenMP threads.
    """
    cdef Py_ssize_t n = out.shape[0], K = out.shape[1], i, c
    cdef int64_t k
    cdef double xk
    cdef const double* wj
    cdef double* oi
    with nogil:
        for i in prange(n, schedule="guided", num_threads=n_threads):
            oi = &out[i, 0]
            for c in range(K):
                oi[c] = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                xk = data[k]
                wj = &W[indices[k], 0]
                for c in range(K):
                    oi[c] = oi[c] + xk * wj[c]
            for c in range(K):
                oi[c] = oi[c] + b[c]


def csr_rmatmat(const floating[::1] data, const int32_t[::1] indices,
                const int64_t[::1] indptr, const double[:, ::1] R,
                const int64_t[::1] bounds, double[:, ::1] buffers,
                double[::1] out, int n_threads):
    """``out = X.T @ R`` for ``X`` in CSR form and ``K`` columns of ``R``.

    As :func:`csr_rmatvec`, over the fixed row blocks ``bounds``, with
    ``buffers`` of shape ``(n_blocks, n_columns * K)`` (block ``k``'s
    partial sums) and ``out`` the ``(n_columns, K)`` result, C-ordered and
    flattened (``n_columns * K`` numbers).
    """
    cdef Py_ssize_t n_blocks = bounds.shape[0] - 1, K = R.shape[1]
    cdef Py_ssize_t size = out.shape[0]
    cdef Py_ssize_t blk, i, j, c
    cdef int64_t k
    cdef double xk
    cdef const double* ri
    cdef double* buf
    cdef double* bj
    if n_blocks == 0 or size == 0:
        return
    with nogil:
        for blk in prange(n_blocks, schedule="dynamic", num_threads=n_threads):
            buf = &buffers[blk, 0]
            for j in range(size):
                buf[j] = 0.0
            for i in range(bounds[blk], bounds[blk + 1]):
                ri = &R[i, 0]
                for k in range(indptr[i], indptr[i + 1]):
                    xk = data[k]
                    bj = buf + indices[k] * K
                    for c in range(K):
                        bj[c] = bj[c] + xk * ri[c]
        _reduce_blocks(buffers, out, n_threads)


def csr_rmatvec(const floating[::1] data, const int32_t[::1] indices,
                const int64_t[::1] indptr, const double[::1] r,
                const int64_t[::1] bounds, double[:, ::1] buffers,
                double[::1] out, int n_threads):
    """``out = X.T @ r`` for ``X`` in CSR form, over fixed row blocks.

    Parameters
    ----------
    data, indices, indptr : ndarray
        The CSR arrays of ``X``.
    r : ndarray of float64, shape (n_rows,)
        The vector.
    bounds : ndarray of int64, shape (n_blocks + 1,)
        Block ``k`` is rows ``bounds[k]`` to ``bounds[k + 1]``.
    buffers : ndarray of float64, shape (n_blocks, n_columns)
        Scratch space (the blocks' partial sums), overwritten.
    out : ndarray of float64, shape (n_columns,)
        Overwritten with the result.
    n_threads : int
        OpenMP threads.
    """
    cdef Py_ssize_t n_blocks = bounds.shape[0] - 1, d = out.shape[0]
    cdef Py_ssize_t blk, i, j
    cdef int64_t k
    cdef double ri
    cdef double* buf
    with nogil:
        for blk in prange(n_blocks, schedule="dynamic", num_threads=n_threads):
            buf = &buffers[blk, 0]
            for j in range(d):
                buf[j] = 0.0
            for i in range(bounds[blk], bounds[blk + 1]):
                ri = r[i]
                for k in range(indptr[i], indptr[i + 1]):
                    buf[indices[k]] = buf[indices[k]] + data[k] * ri
        _reduce_blocks(buffers, out, n_threads)


def csr_rmatvec_one_block(const floating[::1] data, const int32_t[::1] indices,
                          const int64_t[::1] indptr, const double[::1] r,
                          double[::1] out):
    """``out += X.T @ r`` on one thread, the rows in order, straight into
    ``out``: :func:`csr_rmatvec` with one block, without its buffer.

    With ``out`` zero on entry the result is that of :func:`csr_rmatvec`
    with ``bounds = [0, n_rows]``, bit for bit: its buffer sums the same
    terms in the same order from 0.0, and its reduction adds the buffer to
    0.0, which leaves it as it is (a sum started at +0.0 is never -0.0).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, i
    cdef int64_t k
    cdef double ri
    with nogil:
        for i in range(n):
            ri = r[i]
            for k in range(indptr[i], indptr[i + 1]):
                out[indices[k]] = out[indices[k]] + data[k] * ri


cdef void _reduce_blocks(double[:, ::1] buffers, double[::1] out,
                         int n_threads) noexcept nogil:
    """``out[j] = sum_k buffers[k, j]``, added in block order.

    Columns are taken in chunks, so that each thread streams through the
    rows of ``buffers``."""
    cdef Py_ssize_t n_blocks = buffers.shape[0], d = out.shape[0]
    cdef Py_ssize_t n_chunks = (d + REDUCE_CHUNK - 1) // REDUCE_CHUNK
    cdef Py_ssize_t c, j, k, start, stop
    for c in prange(n_chunks, schedule="static", num_threads=n_threads):
        start = c * REDUCE_CHUNK
        stop = min(start + REDUCE_CHUNK, d)
        for j in range(start, stop):
            out[j] = 0.0
        for k in range(n_blocks):
            for j in range(start, stop):
                out[j] = out[j] + buffers[k, j]



# ----------------------------------------------------------------------------
# the squared norms of the rows (minibatch mode's step cap), in one pass; a
# non-finite one flags a non-finite value, so the pass also checks the data

ctypedef fused pointer_t:
    int32_t
    int64_t


cdef inline double row_sq_sum(const floating* x, Py_ssize_t n) noexcept nogil:
    """``sum(x[:n] ** 2)`` in four interleaved partial sums, added
    ``(s0 + s1) + (s2 + s3)`` (one running sum chains an addition per
    value, four overlap)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, v0, v1, v2, v3
    cdef Py_ssize_t k = 0
    while k + 4 <= n:
        # (float32 values squared in float64)
        v0 = x[k]
        v1 = x[k + 1]
        v2 = x[k + 2]
        v3 = x[k + 3]
        s0 = s0 + v0 * v0
        s1 = s1 + v1 * v1
        s2 = s2 + v2 * v2
        s3 = s3 + v3 * v3
        k = k + 4
    while k < n:
        v0 = x[k]
        s0 = s0 + v0 * v0
        k = k + 1
    return (s0 + s1) + (s2 + s3)


def csr_row_norms(const floating[::1] data, const pointer_t[::1] indptr,
                  double[::1] sq_norms, int n_threads):
    """``sq_norms[i] = ||x_i||^2`` for the rows of a CSR matrix, in one pass.

    Parameters
    ----------
    data : ndarray of float32 or float64
        The stored values.
    indptr : ndarray of int32 or int64
        The ``n_rows + 1`` row pointers, checked by the caller (they start at
        0, never decrease and end at most at ``len(data)``).
    sq_norms : ndarray of float64, shape (n_rows,)
        Overwritten with ``||x_i||^2``, each summed in the row's storage
        order by :func:`row_sq_sum`.  A non-finite one means a non-finite
        value in the row, or a square that overflows.
    n_threads : int
        OpenMP threads; each row is summed by one thread, so the results do
        not depend on their number.
    """
    cdef Py_ssize_t n = sq_norms.shape[0], i
    if data.shape[0] == 0:
        sq_norms[:] = 0.0
        return
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            sq_norms[i] = row_sq_sum(&data[0] + indptr[i], indptr[i + 1] - indptr[i])


def dense_row_norms(const floating[:, ::1] X, double[::1] sq_norms, int n_threads):
    """``sq_norms[i] = ||X[i]||^2`` for a C-ordered ``X``, in one pass.

    Each summed in storage order by :func:`row_sq_sum` (the same matrix in
    CSR gives the same norms to rounding: its partial sums hold other
    entries), each row by one of ``n_threads`` OpenMP threads.  Rows summed
    one after the other, each in four partial sums: 200,000 x 100 in 4.9 ms
    on one thread; four or eight rows side by side, one sum each, took
    19.6 and 19.4 ms (their streams of memory, not the additions, held
    them back).
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i
    if d == 0:
        sq_norms[:] = 0.0
        return
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            sq_norms[i] = row_sq_sum(&X[i, 0], d)


def csr_weighted_gram(const floating[::1] data, const int32_t[::1] indices,
                      const int64_t[::1] indptr, const double[::1] c,
                      double[:, ::1] out):
    """``out += X' diag(c) X`` for ``X`` in CSR form (batch mode's Newton
    steps on a few columns), on one thread.

    Each row adds the products of its stored entries, ``c_i x_ia x_ib``,
    into the upper triangle (``out[min(j_a, j_b), max(j_a, j_b)]``: rows in
    any index order); the lower triangle is then copied from it.  The
    ``(n_columns, n_columns)`` result stays in cache where the columns are
    few: ``sum_i nnz_i^2 / 2`` multiply-adds (a9a: 3 ms, where SciPy's
    sparse product of the scaled rows took 35 ms).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, d = out.shape[0], i, j, k
    cdef int64_t a, b
    cdef int32_t ja, jb
    cdef double xa
    with nogil:
        for i in range(n):
            if c[i] == 0.0:
                continue
            for a in range(indptr[i], indptr[i + 1]):
                xa = c[i] * data[a]
                ja = indices[a]
                for b in range(a, indptr[i + 1]):
                    jb = indices[b]
                    if ja <= jb:
                        out[ja, jb] += xa * data[b]
                    else:
                        out[jb, ja] += xa * data[b]
        for j in range(d):
            for k in range(j):
                out[j, k] = out[k, j]


def mark_stored_columns(const int32_t[::1] indices, uint8_t[::1] stored,
                        Py_ssize_t stop_above):
    """Set ``stored[j]`` for the column ``j`` of each of ``indices``, in
    order, until more than ``stop_above`` distinct columns are marked.
    Returns how many are marked: at most ``stop_above`` only if every index
    was read (then ``stored`` marks exactly the columns they hold)."""
    cdef Py_ssize_t n = indices.shape[0], k, count = 0
    cdef int32_t j
    with nogil:
        for k in range(n):
            j = indices[k]
            if not stored[j]:
                stored[j] = 1
                count += 1
                if count > stop_above:
                    break
    return count
