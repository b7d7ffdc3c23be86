"""scikit-learn's private helpers, imported in one place.

skgd relies on a few helpers that scikit-learn does not promise to keep
(names starting with ``_`` or living in private modules).  They are all
imported here, so that a change in scikit-learn breaks one module, and the
differences between the supported versions are handled once.  The oldest
supported versions are declared in ``pyproject.toml``; ``.ci/run`` runs the
suite against them as well as against the newest.

Differences handled here:

- ``_check_sample_weight(allow_all_zero_weights=...)``: scikit-learn >= 1.8
  (older ones accept all-zero weights, as with the flag set);
- ``sklearn.callback`` (``CallbackSupportMixin``, whose private
  ``_init_callback_context`` and ``_skl_callbacks`` skgd uses): scikit-learn
  >= 1.9; ``None`` before, and ``skgd._callbacks`` stands in.
"""

import inspect

import numpy as np
from sklearn.base import _fit_context
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import _check_partial_fit_first_call
from sklearn.utils.validation import _check_sample_weight, _get_feature_names

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - exercised with older scikit-learn only
    CallbackSupportMixin = None

_HAS_ALLOW_ZERO = (
    "allow_all_zero_weights" in inspect.signature(_check_sample_weight).parameters
)


def check_sample_weight(sample_weight, X, allow_all_zero_weights=False):
    """Float64 weights of shape (n_samples,), unit weights when None.

    As scikit-learn's SGD: all-zero weights are refused (scikit-learn >= 1.8)
    unless ``allow_all_zero_weights`` (early stopping, whose validation split
    gives a more precise message).
    """
    kwargs = {"allow_all_zero_weights": allow_all_zero_weights} if _HAS_ALLOW_ZERO \
        else {}
    return _check_sample_weight(sample_weight, X, dtype=np.float64, **kwargs)


def effective_n_threads():
    """The number of OpenMP threads scikit-learn's own compiled loops would use.

    All (physical) cores by default, limited by ``OMP_NUM_THREADS`` and by
    ``threadpoolctl.threadpool_limits(..., user_api="openmp")``; 1 when
    scikit-learn was built without OpenMP.
    """
    return _openmp_effective_n_threads()


__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "LinearClassifierMixin",
    "StrOptions",
    "_check_partial_fit_first_call",
    "_fit_context",
    "_get_feature_names",
    "check_sample_weight",
    "effective_n_threads",
]
