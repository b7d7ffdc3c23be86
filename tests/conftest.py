"""Small seeded data sets and the two ways of running epochs (compiled pass
and NumPy reference) shared by the oracle tests."""

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from skgd._gd_fast import WeightState, run_epoch

from skgd._losses import get_loss
from skgd._modes import Data
from skgd._penalties import get_penalty

N_SAMPLES = 13
N_FEATURES = 6
EMPTY_ROWS = (2, 7)
# an initial weight vector with small entries, so that the L1 part clips some
COEF0 = np.array([0.5, -0.02, 0.0, 1.0, -0.7, 0.01])


def make_data(task="regression", n=N_SAMPLES, d=N_FEATURES, seed=0, density=1.0,
              empty_rows=()):
    """Dense C-ordered float64 ``X`` and targets.

    ``task='binary'`` gives noisy (non-separable) labels in {-1, +1}.
    ``density < 1`` zeroes a random share of the entries; ``empty_rows``
    are zeroed entirely.
    """
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    if density < 1.0:
        X[rng.uniform(size=(n, d)) > density] = 0.0
    X[list(empty_rows)] = 0.0
    score = X @ rng.randn(d) + 0.5 + 0.3 * rng.randn(n)
    if task == "binary":
        score = score + rng.randn(n)
        y = np.where(score > np.median(score), 1.0, -1.0)
    else:
        y = score
    return np.ascontiguousarray(X), y


def make_sparse_data(task="regression", **kw):
    """~50% zeros and two rows with no nonzero at all."""
    return make_data(task, density=0.5, empty_rows=EMPTY_ROWS, **kw)


def as_container(X, container, dtype=np.float64):
    """``X`` as C-ordered dense, CSR (zeros dropped) or CSR storing every entry."""
    X = np.ascontiguousarray(X, dtype=dtype)
    if container == "dense":
        return X
    if container == "csr":
        return sp.csr_matrix(X)
    if container == "csr_all":
        n, d = X.shape
        indices = np.tile(np.arange(d, dtype=np.int32), n)
        indptr = np.arange(0, n * d + 1, d, dtype=np.int32)
        return sp.csr_matrix((X.ravel(), indices, indptr), shape=(n, d))
    raise ValueError(container)


def task_of(loss_name):
    return "regression" if not get_loss(loss_name).classification else "binary"


def default_etas(t, eta0=0.3):
    """Varying step sizes (as a schedule: a function of the counters ``t``)."""
    return eta0 / np.sqrt(np.asarray(t, dtype=np.float64))


def orders(n, n_epochs, shuffle_seed=0):
    """The row ordering of each epoch (shuffled, one seed per epoch)."""
    return [np.random.RandomState(shuffle_seed + e).permutation(n).astype(np.intp)
            for e in range(n_epochs)]


def compiled_epochs(X, y, sample_weight, loss_name, penalty, *, alpha=0.05,
                    l1_ratio=0.15, fit_intercept=True, batch_size=1, n_epochs=2,
                    coef0=COEF0, intercept0=0.1, average_start=0, etas=default_etas,
                    epsilon=0.25, shuffle_seed=0, state=None):
    """Run ``n_epochs`` calls of the compiled pass; return (state, outputs)."""
    loss = get_loss(loss_name, epsilon)
    pen = get_penalty(penalty, alpha, l1_ratio)
    if state is None:
        state = WeightState(np.asarray(coef0, dtype=np.float64), float(intercept0),
                            int(pen.kind), pen.alpha, pen.l1_ratio, fit_intercept, 1,
                            average_start)
    data = Data(X)
    outs = []
    for order in orders(X.shape[0], n_epochs, shuffle_seed):
        n_upd = -(-len(order) // batch_size)
        eta = np.ascontiguousarray(etas(state.t + np.arange(n_upd)), dtype=np.float64)
        outs.append(run_epoch(state, loss.compiled(), data.data, data.rows,
                              np.asarray(y, dtype=np.float64),
                              np.asarray(sample_weight, dtype=np.float64),
                              order, batch_size, eta))
    return state, outs


def reference_epochs(X, y, sample_weight, loss_name, penalty, *, alpha=0.05,
                     l1_ratio=0.15, fit_intercept=True, batch_size=1, n_epochs=2,
                     coef0=COEF0, intercept0=0.1, average_start=0, etas=default_etas,
                     epsilon=0.25, shuffle_seed=0):
    """Same as :func:`compiled_epochs` with the NumPy reference."""
    loss = get_loss(loss_name, epsilon)
    state = ref.ReferenceState(coef0, intercept0, 1, average_start)
    outs = []
    for order in orders(X.shape[0], n_epochs, shuffle_seed):
        n_upd = -(-len(order) // batch_size)
        eta = etas(state.t + np.arange(n_upd))
        outs.append(ref.run_epoch(state, X, y, sample_weight, order, batch_size, eta,
                                  loss, penalty, alpha, l1_ratio, fit_intercept))
    return state, outs


@pytest.fixture(params=["dense", "csr"])
def container(request):
    return request.param


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture
def regression_data():
    return make_data("regression")


@pytest.fixture
def binary_data():
    return make_data("binary")


@pytest.fixture
def sparse_data():
    return make_sparse_data("regression")


@pytest.fixture
def sample_weight():
    return np.random.RandomState(42).uniform(0.2, 2.0, N_SAMPLES)
