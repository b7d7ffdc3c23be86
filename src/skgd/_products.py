"""Batch mode's products ``X @ w + b`` and ``X.T @ r`` on OpenMP threads.

:class:`Products` runs the compiled loops of :mod:`skgd._products_fast` over
one matrix (CSR, or C-ordered dense; float32 or float64, read in its own
precision, summed in float64), on the number of threads scikit-learn's own
OpenMP code would use (:func:`skgd._compat.effective_n_threads`).

``X.T @ r`` is summed over a fixed partition of the rows into blocks, each
with its own buffer of partial sums, added in block order at the end.  The
partition depends only on the shape (and, for CSR, the row pointers) of
``X``, so a result is the same, bit for bit, with any number of threads.
"""

import numpy as np
import scipy.sparse as sp

from . import _products_fast
from ._compat import effective_n_threads

#: below this many stored entries, one thread (waking a second one costs
#: more than it saves)
MIN_PARALLEL_WORK = 50_000
#: at most this many row blocks (and ``n_features`` buffers) for ``X.T @ r``
MAX_BLOCKS = 64
#: at least this many stored entries per block and column, so that zeroing
#: and adding up the blocks' buffers stays a small part of ``X.T @ r``
MIN_WORK_PER_BUFFER_ENTRY = 16


def n_blocks(work, n_rows, n_columns):
    """The number of row blocks of ``X.T @ r``, from the data's shape only.

    A power of two (so that 2 or 4 threads share the blocks evenly), at
    most :data:`MAX_BLOCKS` and ``n_rows``, with at least
    :data:`MIN_WORK_PER_BUFFER_ENTRY` stored entries per buffer entry.
    """
    k = min(MAX_BLOCKS, max(n_rows, 1),
            max(1, work // (MIN_WORK_PER_BUFFER_ENTRY * max(n_columns, 1))))
    return 1 << (int(k).bit_length() - 1)


class Products:
    """``X @ w + b`` and ``X.T @ r`` over one matrix, in float64.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_rows, n_columns)
        A C- or F-ordered float32/float64 array, or a CSR matrix whose
        arrays are given by ``data``, ``indices`` (int32) and ``indptr``
        (int64).  Other arrays go through NumPy.
    data, indices, indptr : ndarray, default=None
        The CSR arrays of ``X`` (used as they are, read-only ones included).

    Notes
    -----
    The buffers of ``X.T @ r`` (``n_blocks x n_columns`` float64) are kept
    between calls and handed to one call at a time, so that threads sharing
    one ``Products`` (one-vs-rest with ``n_jobs``) never share a buffer.
    """

    def __init__(self, X, data=None, indices=None, indptr=None):
        self.n_rows, self.n_columns = X.shape
        self.sparse = sp.issparse(X)
        # an F-ordered array is the C-ordered array of its transpose: its
        # products are those of X.T, with the roles of the two swapped
        self.transposed = False
        self.numpy = False
        if self.sparse:
            self.data, self.indices, self.indptr = data, indices, indptr
            work = int(indptr[-1])
        else:
            float_dtype = X.dtype in (np.float32, np.float64)
            self.transposed = float_dtype and X.ndim == 2 and not X.flags.c_contiguous \
                and X.flags.f_contiguous
            self.X = X.T if self.transposed else X
            # other layouts and dtypes (not made by Data) go through NumPy
            self.numpy = not (float_dtype and self.X.flags.c_contiguous)
            work = X.size
        n_rows, n_columns = self.X.shape if self.transposed else X.shape
        k = n_blocks(work, n_rows, n_columns)
        if self.sparse:  # blocks of equal numbers of entries
            bounds = np.searchsorted(indptr, np.arange(k + 1) * (work / k))
        else:
            bounds = np.arange(k + 1) * (n_rows / k)
        self.bounds = np.round(bounds).astype(np.int64)
        self.bounds[0], self.bounds[-1] = 0, n_rows
        self.parallel = work >= MIN_PARALLEL_WORK
        self._free_buffers = []

    def n_threads(self):
        return effective_n_threads() if self.parallel else 1

    def matvec(self, w, b=0.0, n_threads=None):
        """``X @ w + b``: ndarray of float64, shape (n_rows,)."""
        w = np.ascontiguousarray(w, dtype=np.float64)
        if self.numpy:
            return np.asarray(self.X @ w.astype(self.X.dtype), dtype=np.float64) + b
        if self.transposed:
            out = self._transposed_product(w, n_threads)
            out += b
            return out
        out = np.empty(self.n_rows)
        nt = self.n_threads() if n_threads is None else n_threads
        if self.sparse:
            _products_fast.csr_matvec(self.data, self.indices, self.indptr, w,
                                      b, out, nt)
        else:
            _products_fast.dense_matvec(self.X, w, b, out, nt)
        return out

    def rmatvec(self, r, n_threads=None):
        """``X.T @ r``: ndarray of float64, shape (n_columns,)."""
        r = np.ascontiguousarray(r, dtype=np.float64)
        if self.numpy:
            return np.asarray(self.X.T @ r.astype(self.X.dtype), dtype=np.float64)
        if self.transposed:
            out = np.empty(self.n_columns)
            nt = self.n_threads() if n_threads is None else n_threads
            _products_fast.dense_matvec(self.X, r, 0.0, out, nt)
            return out
        return self._transposed_product(r, n_threads)

    def _transposed_product(self, r, n_threads):
        """``A.T @ r`` for ``A`` the stored matrix (``X``, or ``X.T`` if F-ordered)."""
        n_rows, n_columns = self.X.shape if not self.sparse else \
            (self.n_rows, self.n_columns)
        out = np.zeros(n_columns)
        if n_columns == 0 or n_rows == 0:
            return out
        nt = self.n_threads() if n_threads is None else n_threads
        try:  # list.pop and append are atomic: no lock needed
            buffers = self._free_buffers.pop()
        except IndexError:
            buffers = np.empty((len(self.bounds) - 1, n_columns))
        try:
            if self.sparse:
                _products_fast.csr_rmatvec(self.data, self.indices, self.indptr,
                                           r, self.bounds, buffers, out, nt)
            else:
                _products_fast.dense_rmatvec(self.X, r, self.bounds, buffers,
                                             out, nt)
        finally:
            self._free_buffers.append(buffers)
        return out
