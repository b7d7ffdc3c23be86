"""Data backends: where the rows of a fit live, chosen from the type of ``X``.

``fit`` asks :func:`backend_for` for the backend of its ``X`` and then
drives it without knowing which one it has:

* ``check_supported(est)``: raise for parameters the backend cannot fit;
* ``validate(est, X, y, y_numeric)``: the checked ``X`` and ``y`` (and
  ``n_features_in_`` / ``feature_names_in_``, as scikit-learn's
  ``validate_data`` sets them), and the squared norms of the rows when the
  check computed them (None otherwise), for ``data``;
* ``classes(y)``: the sorted labels of a classifier's ``y``;
* ``check_sample_weight(sample_weight, X, allow_all_zero_weights)`` and
  ``balanced_class_weight(classes, y)``;
* ``by_class(values, classes, y)``: ``values[c]`` for the class ``c`` of
  each row (a multinomial fit's class indices and class weights);
* ``data(X, mode, sq_norms)``: the data object the runners read (``matvec``,
  ``rmatvec``), which builds the problems of its rows
  (``data.problem(...)``), and each problem names its runners
  (``problem.runner_types()``);
* ``defers_finite_check(est)``: whether the values of ``X`` are checked by
  the fit's first epoch instead of by ``validate`` (then the rest of the
  fit runs in ``values_reported_first(est, X)``).

Row vectors (targets, weights) are arrays of the backend's kind: NumPy
arrays here, dask arrays with the row blocks of ``X`` for
:class:`skgd._dask.DaskBackend`.  The estimator forms a problem's targets
and weights from them with NumPy functions (``np.where``, ``==``, ``*``),
which dask arrays implement lazily.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._compat import check_sample_weight
from ._dask import DaskBackend, is_dask_collection
from ._modes import Data
from ._validation import (
    aligned_for_blas,
    check_finite,
    check_sparse_structure,
    checked_row_norms,
    float_dtypes,
)


class InMemoryBackend:
    """NumPy arrays and SciPy sparse matrices, in the client's memory."""

    def check_supported(self, est):
        """Every mode and option runs in memory."""

    def validate(self, est, X, y, y_numeric=False, reset=True):
        """``validate_data`` as scikit-learn's SGD estimators call it; float32
        stays float32, CSR is checked for a usable index structure.

        Returns ``(X, y, sq_norms)``.  In minibatch mode, whose step cap
        reads the squared norms of the rows, and in batch mode, which
        refuses rows whose squares overflow, the pass that sums them also
        checks that the values are finite (:func:`checked_row_norms`,
        scikit-learn's error if not), in place of ``validate_data``'s own
        pass; ``sq_norms`` is None in the other modes.  In sgd mode the
        values are checked by the first epoch
        (:meth:`defers_finite_check`).  The errors are those of
        ``validate_data``, in its order: when it fails, it runs again with
        its check of the values.
        """
        by_norms = getattr(est, "mode", None) in ("minibatch", "batch")
        kwargs = dict(accept_sparse="csr", dtype=float_dtypes(X), order="C",
                      accept_large_sparse=True, y_numeric=y_numeric, reset=reset)
        if not (by_norms or self.defers_finite_check(est)):
            X, y = validate_data(est, X, y, **kwargs)
            check_sparse_structure(X)
            return X, y, None
        try:
            X_checked, y_checked = validate_data(est, X, y, ensure_all_finite=False,
                                                 **kwargs)
        except ValueError:
            # its first error (a non-finite X before a bad y)
            validate_data(est, X, y, **kwargs)
            raise
        X, y = X_checked, y_checked
        try:
            check_sparse_structure(X)
        except ValueError:
            check_finite(X, est)  # a non-finite value is reported first
            raise
        return X, y, checked_row_norms(X, est) if by_norms else None

    def defers_finite_check(self, est):
        """Whether a fit of ``est`` checks that the values of ``X`` are
        finite in its first epoch rather than before it: in sgd mode, whose
        pass computes the margin of every training row (one NaN or infinite
        value makes its row's margin, and the epoch's sum of them, not
        finite: ``EpochResult.finite_margins``), so that the fit reads its
        data once less (``validate_data``'s check: 7 ms of a 50 ms fit on
        200,000 x 100).  Then scikit-learn's check runs, and raises its
        error, when an epoch finds a margin that is not finite, when the
        fit fails on its way (:meth:`values_reported_first`), and when a
        ``partial_fit`` chunk is skipped.  Not with early stopping, whose
        validation rows no epoch reads.
        """
        return (getattr(est, "mode", None) == "sgd"
                and not getattr(est, "early_stopping", False))

    @contextlib.contextmanager
    def values_reported_first(self, est, X):
        """The rest of a fit whose values' check was deferred
        (:meth:`defers_finite_check`): any error on its way is preceded by
        the check, so that a non-finite value is reported first, as
        ``validate_data`` reports it before any later error."""
        if not self.defers_finite_check(est):
            yield
            return
        try:
            yield
        except Exception:
            try:
                check_finite(X, est)
            except ValueError as err:
                raise err from None  # (the later error is no context of it)
            raise

    def check_unread_values(self, est, X):
        """The deferred check of a chunk that no epoch reads (a skipped
        ``partial_fit`` chunk), if it was deferred."""
        if self.defers_finite_check(est):
            check_finite(X, est)

    def classes(self, y):
        """``np.unique(y)``, after scikit-learn's check of the targets.

        Integer labels (a 1-D integer array, as ``validate_data`` leaves
        them) pass ``check_classification_targets`` whatever their values
        (it finds 'binary' or 'multiclass'; its one other act, a warning when
        more than half the labels are distinct, is kept), and are counted
        with ``np.bincount`` when their range is small: one pass over ``y``
        and no sort, where the check and ``np.unique`` hash ``y`` twice
        (15 ms of a 500,000-row fit).
        """
        classes = _small_int_unique(y)
        if classes is None:
            check_classification_targets(y)
            return np.unique(y)
        n = y.shape[0]
        if len(classes) > 2 and n > 20 and len(classes) > round(0.5 * n):
            check_classification_targets(y)  # its warning
        return classes

    def check_sample_weight(self, sample_weight, X, allow_all_zero_weights=False):
        return check_sample_weight(
            sample_weight, X, allow_all_zero_weights=allow_all_zero_weights
        )

    def balanced_class_weight(self, classes, y):
        return compute_class_weight("balanced", classes=classes, y=y)

    def by_class(self, values, classes, y):
        """``values[c]`` for the class ``c`` of each row (``classes`` sorted,
        holding every label of ``y``)."""
        return np.asarray(values)[np.searchsorted(classes, y)]

    def data(self, X, mode, sq_norms=None):
        """:class:`skgd._modes.Data` over ``X`` (with the squared norms of
        its rows, if known); batch mode hands the values to BLAS every
        iteration, so unaligned ones are copied once."""
        if sp.issparse(X):
            data = Data(X)
        else:
            if mode == "batch":
                X = aligned_for_blas(X)
            data = Data(np.ascontiguousarray(X))
        if sq_norms is not None:
            data.sq_norms = sq_norms
        return data


def _small_int_unique(y):
    """``np.unique(y)`` by counting, for a non-empty 1-D NumPy array of
    integers whose range is at most about its length; None otherwise."""
    if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu"
            and y.shape[0] > 0):
        return None
    lo, hi = int(y.min()), int(y.max())
    if hi - lo > 2 * y.shape[0] + 1024:
        return None
    # (the difference of two labels fits in 64 bits when the range is small)
    wide = y if y.dtype.itemsize == 8 else y.astype(np.int64)
    shifted = wide - wide.dtype.type(lo) if lo else wide
    counts = np.bincount(shifted.astype(np.intp, copy=False))
    labels = np.flatnonzero(counts).astype(wide.dtype) + wide.dtype.type(lo)
    return labels.astype(y.dtype, copy=False)


IN_MEMORY = InMemoryBackend()
DASK = DaskBackend()


def backend_for(X):
    """The backend of ``X``: dask for a dask collection, else in memory."""
    return DASK if is_dask_collection(X) else IN_MEMORY
