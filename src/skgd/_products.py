"""Batch mode's products over CSR data, ``X @ w + b`` and ``X.T @ r``, on threads.

:class:`Products` runs the compiled loops of :mod:`skgd._products_fast` over
one CSR matrix (float32 or float64, read in its own precision, summed in
float64), on the number of threads scikit-learn's own OpenMP code would
use (:func:`skgd._compat.effective_n_threads`).  Dense data keep NumPy's
products: its BLAS is threaded already, and faster than a hand loop
(``benchmarks/bench_products.py``).

``X.T @ r`` is summed over a fixed partition of the rows into blocks, each
with its own buffer of partial sums, added in block order at the end.  The
partition depends only on the shape and the row pointers of ``X``, so a
result is the same, bit for bit, with any number of threads.  The products
of a ``K``-output model (``w`` of shape ``(n_columns, K)``, ``r`` of shape
``(n_rows, K)``) walk the matrix once for the ``K`` columns; ``X.T @ R``
takes the same row blocks, whose buffers hold ``n_columns * K`` partial
sums (:func:`n_blocks` of ``K`` times the entries and columns is the same
count).
"""

import numpy as np

from . import _products_fast
from ._compat import effective_n_threads

#: below this many stored entries, one thread (waking a second one costs
#: more than it saves)
MIN_PARALLEL_WORK = 100_000
#: at most this many row blocks (and ``n_features`` buffers) for ``X.T @ r``
MAX_BLOCKS = 64
#: at least this many stored entries per block and column, so that zeroing
#: and adding up the blocks' buffers stays a small part of ``X.T @ r``
MIN_WORK_PER_BUFFER_ENTRY = 16


def n_blocks(nnz, n_rows, n_columns):
    """The number of row blocks of ``X.T @ r``, from the data's shape only.

    A power of two (so that 2 or 4 threads share the blocks evenly), at
    most :data:`MAX_BLOCKS` and ``n_rows``, with at least
    :data:`MIN_WORK_PER_BUFFER_ENTRY` stored entries per buffer entry.
    """
    k = min(MAX_BLOCKS, max(n_rows, 1),
            max(1, nnz // (MIN_WORK_PER_BUFFER_ENTRY * max(n_columns, 1))))
    return 1 << (int(k).bit_length() - 1)


class Products:
    """``X @ w + b`` and ``X.T @ r`` over one CSR matrix, in float64.

    Parameters
    ----------
    shape : tuple of int
        ``(n_rows, n_columns)``.
    data : ndarray of float32 or float64
        The stored values (contiguous; read-only ones are used as they are).
    indices : ndarray of int32
        Their column indices (any order within a row; duplicates add up).
    indptr : ndarray of int64
        The row pointers, ``n_rows + 1`` of them.

    Notes
    -----
    The buffers of ``X.T @ r`` (``n_blocks x n_columns`` float64, a few
    megabytes at most per ``n_columns`` million) are kept between calls and
    handed to one call at a time, so that threads sharing one ``Products``
    (one-vs-rest with ``n_jobs``) never share a buffer.
    """

    def __init__(self, shape, data, indices, indptr):
        self.n_rows, self.n_columns = shape
        self.data, self.indices, self.indptr = data, indices, indptr
        nnz = int(indptr[-1])
        k = n_blocks(nnz, self.n_rows, self.n_columns)
        # blocks of about equal numbers of entries
        self.bounds = self._row_blocks(k)
        self.parallel = nnz >= MIN_PARALLEL_WORK
        self._free_buffers = []
        # fits calling these products side by side (one-vs-rest problems on
        # joblib threads): they divide the threads (set by their Data)
        self.concurrent_fits = 1

    def _row_blocks(self, k):
        """Bounds of ``k`` row blocks of about equal numbers of entries."""
        nnz = int(self.indptr[-1])
        bounds = np.searchsorted(self.indptr, np.arange(k + 1) * (nnz / k))
        bounds = bounds.astype(np.int64)
        bounds[0], bounds[-1] = 0, self.n_rows
        return bounds

    @classmethod
    def from_csr(cls, X):
        """Over a SciPy CSR matrix (index arrays narrowed or widened if needed)."""
        return cls(X.shape, np.ascontiguousarray(X.data),
                   np.ascontiguousarray(X.indices, dtype=np.int32),
                   np.ascontiguousarray(X.indptr, dtype=np.int64))

    def n_threads(self):
        """Threads for one product: scikit-learn's count, shared by the
        ``concurrent_fits`` running side by side; 1 for small data."""
        if not self.parallel:
            return 1
        return max(1, effective_n_threads() // self.concurrent_fits)

    def matvec(self, w, b=0.0, n_threads=None):
        """``X @ w + b``: ndarray of float64, shape (n_rows,); ``w`` of
        shape (n_columns, K) (``b`` a scalar or K numbers) gives shape
        (n_rows, K)."""
        w = np.ascontiguousarray(w, dtype=np.float64)
        nt = self.n_threads() if n_threads is None else n_threads
        if w.ndim == 2:
            K = w.shape[1]
            b = np.ascontiguousarray(np.broadcast_to(b, (K,)), dtype=np.float64)
            out = np.empty((self.n_rows, K))
            _products_fast.csr_matmat(self.data, self.indices, self.indptr, w, b,
                                      out, nt)
            return out
        out = np.empty(self.n_rows)
        _products_fast.csr_matvec(self.data, self.indices, self.indptr, w, b, out, nt)
        return out

    def rmatvec(self, r, n_threads=None, out=None):
        """``X.T @ r``: ndarray of float64, shape (n_columns,); ``r`` of
        shape (n_rows, K) gives shape (n_columns, K).  ``out``: a float64
        array of that shape to write it into (a caller's products in a loop
        reuse one: a new array of a million columns is fresh pages each
        time, 0.6 ms on 262,144 columns where zeroing a used one takes 0.05)."""
        r = np.ascontiguousarray(r, dtype=np.float64)
        K = 1 if r.ndim == 1 else r.shape[1]
        if out is None:
            out = np.zeros((self.n_columns,) + r.shape[1:])
        else:
            out.fill(0.0)
        if self.n_columns == 0 or self.n_rows == 0 or K == 0:
            return out
        nt = self.n_threads() if n_threads is None else n_threads
        if r.ndim == 1 and len(self.bounds) == 2:
            # one block: its sums go straight into out (the same numbers,
            # without zeroing a buffer and adding it to out)
            _products_fast.csr_rmatvec_one_block(self.data, self.indices,
                                                 self.indptr, r, out)
            return out
        shape = (len(self.bounds) - 1, self.n_columns * K)
        buffers = self._take_buffers(shape)
        try:
            if r.ndim == 1:
                _products_fast.csr_rmatvec(self.data, self.indices, self.indptr, r,
                                           self.bounds, buffers, out, nt)
            else:
                _products_fast.csr_rmatmat(self.data, self.indices, self.indptr, r,
                                           self.bounds, buffers, out.reshape(-1), nt)
        finally:
            self._free_buffers.append(buffers)
        return out

    def _take_buffers(self, shape):
        """A free buffer of this shape, or a new one (list.pop and append
        are atomic: threads sharing the object need no lock)."""
        for _ in range(len(self._free_buffers)):
            try:
                buffers = self._free_buffers.pop()
            except IndexError:
                break
            if buffers.shape == shape:
                return buffers
            # kept for later calls of its own shape
            self._free_buffers.insert(0, buffers)
        return np.empty(shape)
