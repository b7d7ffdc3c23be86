"""Batch mode's products over CSR data, ``X @ w + b`` and ``X.T @ r``, on threads.

``X`` is a CSR matrix of float32 or float64 (int32 column indices, int64
row pointers); ``w`` and ``r`` are float64 and every sum is accumulated in
float64 (the data are read in their own precision, never copied).  Dense
data go through NumPy's BLAS, which is faster than these loops on dense
rows (``benchmarks/bench_products.py``).

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
from libc.stdint cimport int32_t, int64_t

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
