"""Rules that span several parameters, and checks of fit-time arrays."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils.validation import check_array

from . import _products_fast
from ._compat import effective_n_threads
from ._warnings import user_stacklevel


def check_params(est, for_partial_fit=False):
    """Raise ``ValueError`` for parameter combinations that make no sense.

    Single-parameter rules live in ``_parameter_constraints``; this function
    holds the rules that look at more than one parameter.
    """
    if est.early_stopping and for_partial_fit:
        raise ValueError(
            "early_stopping should be False with partial_fit: partial_fit runs "
            "one epoch on the chunk it is given and holds out no validation set."
        )
    if est.learning_rate == "optimal" and est.alpha == 0:
        raise ValueError(
            "alpha must be > 0 since learning_rate is 'optimal'. alpha is used "
            "to compute the optimal learning rate."
        )
    if est.learning_rate in ("pa1", "pa2"):
        needed = "hinge" if is_classifier(est) else "epsilon_insensitive"
        if est.loss != needed:
            raise ValueError(
                f"Learning rate '{est.learning_rate}' only works with loss '{needed}'."
            )
        if est.mode != "sgd":
            raise ValueError(
                f"Learning rate '{est.learning_rate}' (passive-aggressive) computes "
                "each step from one sample's loss and norm; it only exists in "
                f"mode='sgd', not in mode={est.mode!r}."
            )
    if est.optimizer != "sgd" and est.learning_rate in ("pa1", "pa2"):
        raise ValueError(
            f"learning_rate={est.learning_rate!r} (passive-aggressive) computes "
            "its own step from each sample's loss and norm, which an optimizer "
            f"cannot transform; use optimizer='sgd' with it, or optimizer="
            f"{est.optimizer!r} with another learning_rate."
        )
    if getattr(est, "multi_class", "ovr") == "multinomial" and est.loss != "log_loss":
        raise ValueError(
            f"multi_class='multinomial' fits the softmax (multinomial logistic) "
            f"loss, so it needs loss='log_loss'; got loss={est.loss!r}. Use "
            "loss='log_loss', or multi_class='ovr' for one-vs-rest with this loss."
        )
    if est.penalty == "elasticnet" and est.l1_ratio is None:
        raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")
    if est.power_t < 0:
        # scikit-learn's deprecation, with its wording (drop-in)
        warnings.warn(
            "Negative values for `power_t` are deprecated in version 1.8 and will "
            "raise an error in 1.10. Use values in the range [0.0, inf) instead.",
            FutureWarning,
            stacklevel=user_stacklevel(),
        )


def check_init_array(value, shape, name, dtype):
    """Validate ``coef_init`` / ``intercept_init`` and return a float64 copy."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(
            f"Provided {name} does not match dataset: expected shape {shape}, "
            f"got {arr.shape}."
        )
    return arr.copy()


_MAX_INT32 = int(np.iinfo(np.int32).max)


def check_n_columns(X):
    """Refuse sparse input with more columns than 32-bit indices can address."""
    n_features = X.shape[1]
    if n_features > _MAX_INT32:
        raise ValueError(
            f"X has {n_features} columns; skgd's sparse rows index columns with "
            "32-bit integers (at most 2**31 - 1 columns). Hash the features into "
            "fewer columns."
        )


def check_sparse_structure(X):
    """Check a CSR matrix's structure in O(nnz) before a compiled pass reads it.

    The compiled passes trust ``indptr`` and ``indices``: a row pointer past
    the stored values or a column index outside ``[0, n_features)`` would
    read or write out of bounds.  Dense input passes unchecked.
    """
    if not sp.issparse(X):
        return
    check_n_columns(X)
    n_rows, n_features = X.shape
    indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
    remedy = (
        "Rebuild the matrix with scipy.sparse.csr_matrix((data, indices, indptr), "
        "shape=...) and check it with X.check_format(full_check=True)."
    )
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(
            f"Malformed CSR matrix: indptr has shape {indptr.shape}, expected "
            f"({n_rows + 1},) for {n_rows} rows. {remedy}"
        )
    n_stored = min(indices.shape[0], np.asarray(X.data).shape[0])
    if indptr[0] != 0 or (indptr[1:] < indptr[:-1]).any():
        raise ValueError(
            "Malformed CSR matrix: indptr must start at 0 and never decrease. "
            f"{remedy}"
        )
    if indptr[-1] > n_stored:
        raise ValueError(
            f"Malformed CSR matrix: indptr points past the data (its last entry "
            f"is {indptr[-1]}, but only {n_stored} values and column indices are "
            f"stored). {remedy}"
        )
    used = indices[: indptr[-1]]
    if used.size and not _in_range(used, n_features):
        raise ValueError(
            f"Malformed CSR matrix: column indices must lie in [0, {n_features}) "
            f"for {n_features} features; found indices from {used.min()} to "
            f"{used.max()}. {remedy}"
        )


#: below this many values (or steps), a simple compiled loop runs on one
#: thread: the threads' start costs more than they save (:func:`threads_for`)
MIN_PARALLEL_VALUES = 100_000


def threads_for(n_items):
    """The OpenMP threads of a simple compiled loop over ``n_items``
    independent items (the rows' norms, an epoch's steps): scikit-learn's
    count from ``MIN_PARALLEL_VALUES`` items, else 1 (tested first:
    ``effective_n_threads`` costs 0.5 us, most of a small epoch's steps)."""
    return effective_n_threads() if n_items >= MIN_PARALLEL_VALUES else 1


def row_norms(X):
    """``||x_i||^2`` of every row of ``X`` (a C-ordered float array, or a CSR
    matrix whose structure :func:`check_sparse_structure` checked), in
    float64: one compiled pass over the values, on every OpenMP thread from
    ``MIN_PARALLEL_VALUES`` values (each row summed by one thread: the
    numbers do not depend on their count)."""
    norms = np.empty(X.shape[0])
    values = X.data.size if sp.issparse(X) else X.size
    n_threads = threads_for(values)
    if sp.issparse(X):
        _products_fast.csr_row_norms(np.ascontiguousarray(X.data),
                                     np.ascontiguousarray(X.indptr), norms, n_threads)
    else:
        _products_fast.dense_row_norms(X, norms, n_threads)
    return norms


def checked_row_norms(X, est):
    """:func:`row_norms`, which checks on the way that the values of ``X``
    are finite (one pass over them, not two).

    A non-finite value makes its row's norm non-finite; then scikit-learn's
    own check runs and raises its error, as ``validate_data`` would (a
    square that overflows, a finite matrix, passes it).  CSR values stored
    past the last row are checked too.  Minibatch mode's step cap reads the
    norms (:func:`skgd._modes.row_squared_norms` keeps them).
    """
    norms = row_norms(X)
    finite = bool(np.isfinite(norms).all())
    if finite and sp.issparse(X):
        unread = np.asarray(X.data)[int(X.indptr[-1]):]
        finite = unread.size == 0 or bool(np.isfinite(unread).all())
    if not finite:
        check_finite(X, est)
    return norms


def check_finite(X, est):
    """scikit-learn's check that ``X`` has no NaN or infinity (its error)."""
    check_array(X, accept_sparse=True, dtype=None, ensure_all_finite=True,
                ensure_2d=False, ensure_min_samples=0, ensure_min_features=0,
                accept_large_sparse=True, estimator=est, input_name="X")


def _in_range(indices, n_features):
    """Whether every index lies in ``[0, n_features)``.  Signed integers are
    read as unsigned, so that a negative one is huge: one pass, not two."""
    if indices.dtype.kind == "i":
        unsigned = indices.view(np.dtype(f"u{indices.dtype.itemsize}"))
        return bool(unsigned.max() < n_features)
    return bool(indices.min() >= 0 and indices.max() < n_features)


def aligned_for_blas(X):
    """Dense ``X`` copied once to an aligned buffer if its values are unaligned.

    A NumPy view whose address is not a multiple of its item size (e.g. an
    array that dask.distributed deserialised from a network frame:
    ``dask_array.compute()`` on a multi-process cluster) is not handed to
    BLAS: NumPy's own loops compute ``X @ w`` and ``X.T @ r`` 2.5x (float64)
    to 10x (float32) slower.  Batch mode does two such products per
    iteration, so one copy, a single pass over ``X``, is cheaper than its
    first iteration's slow products.  Aligned arrays and sparse matrices are
    returned as they are.
    """
    if sp.issparse(X) or X.flags.aligned:
        return X
    return np.array(X, order="C", copy=True)


# the names of float32 as polars and pyarrow print their column types
_FLOAT32_COLUMN_TYPES = {"polars": "Float32", "pyarrow": "float"}


def float_dtypes(X):
    """The ``dtype`` list for ``validate_data``: float32 input stays float32.

    scikit-learn reads the column types of pandas DataFrames only: a polars
    DataFrame or pyarrow Table (no ``dtype`` attribute) with float32 columns
    would become float64 with ``dtype=[np.float64, np.float32]``.  For such a
    frame whose columns are all float32, float32 comes first; everything else
    keeps scikit-learn's rule (float64 or float32 as they are, other dtypes
    converted to float64).
    """
    library = type(X).__module__.partition(".")[0]
    float32 = _FLOAT32_COLUMN_TYPES.get(library)
    if float32 is not None and not hasattr(X, "dtype"):
        if library == "polars":
            types = getattr(X, "dtypes", None)
        else:
            types = getattr(getattr(X, "schema", None), "types", None)
        if types and all(str(t) == float32 for t in types):
            return [np.float32, np.float64]
    return [np.float64, np.float32]
