"""Data backends: where the rows of a fit live, chosen from the type of ``X``.

``fit`` asks :func:`backend_for` for the backend of its ``X`` and then
drives it without knowing which one it has:

* ``check_supported(est)``: raise for parameters the backend cannot fit;
* ``validate(est, X, y, y_numeric)``: the checked ``X`` and ``y`` (and
  ``n_features_in_`` / ``feature_names_in_``, as scikit-learn's
  ``validate_data`` sets them);
* ``classes(y)``: the sorted labels of a classifier's ``y``;
* ``check_sample_weight(sample_weight, X, allow_all_zero_weights)`` and
  ``balanced_class_weight(classes, y)``;
* ``by_class(values, classes, y)``: ``values[c]`` for the class ``c`` of
  each row (a multinomial fit's class indices and class weights);
* ``data(X, mode)``: the data object the runners read (``matvec``,
  ``rmatvec``), which builds the problems of its rows
  (``data.problem(...)``), and each problem names its runners
  (``problem.runner_types()``).

Row vectors (targets, weights) are arrays of the backend's kind: NumPy
arrays here, dask arrays with the row blocks of ``X`` for
:class:`skgd._dask.DaskBackend`.  The estimator forms a problem's targets
and weights from them with NumPy functions (``np.where``, ``==``, ``*``),
which dask arrays implement lazily.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._compat import check_sample_weight
from ._dask import DaskBackend, is_dask_collection
from ._modes import Data
from ._validation import aligned_for_blas, check_sparse_structure, float_dtypes


class InMemoryBackend:
    """NumPy arrays and SciPy sparse matrices, in the client's memory."""

    def check_supported(self, est):
        """Every mode and option runs in memory."""

    def validate(self, est, X, y, y_numeric=False, reset=True):
        """``validate_data`` as scikit-learn's SGD estimators call it; float32
        stays float32, CSR is checked for a usable index structure."""
        X, y = validate_data(
            est, X, y, accept_sparse="csr", dtype=float_dtypes(X), order="C",
            accept_large_sparse=True, y_numeric=y_numeric, reset=reset,
        )
        check_sparse_structure(X)
        return X, y

    def classes(self, y):
        check_classification_targets(y)
        return np.unique(y)

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

    def data(self, X, mode):
        """:class:`skgd._modes.Data` over ``X``; batch mode hands the values
        to BLAS every iteration, so unaligned ones are copied once."""
        if sp.issparse(X):
            return Data(X)
        if mode == "batch":
            X = aligned_for_blas(X)
        return Data(np.ascontiguousarray(X))


IN_MEMORY = InMemoryBackend()
DASK = DaskBackend()


def backend_for(X):
    """The backend of ``X``: dask for a dask collection, else in memory."""
    return DASK if is_dask_collection(X) else IN_MEMORY
