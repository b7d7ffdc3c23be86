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
  >= 1.9; ``None`` before, and ``skgd._callbacks`` stands in;
- ``_get_threadpool_controller`` (scikit-learn's cached threadpoolctl
  controller, in ``sklearn.utils.parallel``): a controller of skgd's own,
  made once, where it is missing.
"""

import contextlib
import inspect
import threading

import numpy as np
from sklearn.base import _fit_context
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import _check_partial_fit_first_call
from sklearn.utils.validation import _check_sample_weight, _get_feature_names

try:
    from sklearn.utils.parallel import _get_threadpool_controller
except ImportError:  # pragma: no cover - depends on the scikit-learn version
    _get_threadpool_controller = None

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


_controller = None
_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter = None


def _threadpool_controller():
    global _controller
    if _get_threadpool_controller is not None:
        return _get_threadpool_controller()
    if _controller is None:  # pragma: no cover - older scikit-learn only
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_on_one_thread():
    """BLAS limited to one thread while the block runs (as scikit-learn's
    KMeans does around its OpenMP loops).

    The stochastic modes call BLAS only for small products (a row sample's
    Gram matrix, a validation score), and an OpenBLAS call on several
    threads leaves its idle threads spinning for about 0.1 s after it: on
    two cores they took the core of the pass's second OpenMP thread (a
    dense minibatch(256) epoch on 200,000 x 100 ran 0.055-0.11 s on two
    threads just after the step estimate's Gram product, 0.030 s without
    it).  Re-entrant and safe across threads (the one-vs-rest problems of
    ``n_jobs``): the first entry sets the limit (15 us), the last exit
    restores the previous one.
    """
    global _blas_depth, _blas_limiter
    with _blas_lock:
        if _blas_depth == 0:
            _blas_limiter = _threadpool_controller().limit(limits=1, user_api="blas")
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                limiter, _blas_limiter = _blas_limiter, None
                limiter.restore_original_limits()


__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "LinearClassifierMixin",
    "StrOptions",
    "_check_partial_fit_first_call",
    "_fit_context",
    "_get_feature_names",
    "blas_on_one_thread",
    "check_sample_weight",
    "effective_n_threads",
]
