"""The compiled pass ``skgd._gd_fast.run_epoch`` against the NumPy reference
``tests/_reference.py`` (dense loops over rows, no weight scale, eager
cumulative L1 on the touched coordinates)."""

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import (
    COEF0,
    N_SAMPLES,
    as_container,
    compiled_epochs,
    default_etas,
    make_data,
    make_sparse_data,
    reference_epochs,
    task_of,
)
from numpy.testing import assert_allclose, assert_array_equal
from skgd._gd_fast import RowIndex, WeightState, run_epoch

from skgd._losses import CLASSIFICATION_LOSSES, get_loss
from skgd._modes import Data
from skgd._penalties import get_penalty

ALL_LOSSES = list(CLASSIFICATION_LOSSES)  # includes every regression loss
PENALTIES = [None, "l2", "l1", "elasticnet"]
BATCH_SIZES = [1, 3, N_SAMPLES]
RTOL, ATOL = 1e-10, 1e-12


def _weights(seed=42, n=N_SAMPLES):
    return np.random.RandomState(seed).uniform(0.2, 2.0, n)


def assert_same_run(state, outs, rstate, routs, rtol=RTOL, atol=ATOL):
    """Compiled and reference runs agree: weights, intercept, counters, sums."""
    assert_allclose(state.coef(), rstate.w, rtol=rtol, atol=atol)
    assert_allclose(state.intercept, rstate.b, rtol=rtol, atol=atol)
    assert state.t == rstate.t
    for out, rout in zip(outs, routs):
        assert out[4] == rout[4]  # number of updates
        assert_allclose(out[:4], rout[:4], rtol=rtol, atol=atol)


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_run_epoch_matches_reference(batch_size, loss, penalty, fit_intercept,
                                     container):
    # sparse-ish data with two all-zero rows, random sample weights, two
    # epochs (the cumulative-penalty state carries over), shuffled orders
    X, y = make_sparse_data(task_of(loss))
    Xc = as_container(X, container)
    sw = _weights()
    kw = dict(batch_size=batch_size, fit_intercept=fit_intercept)
    state, outs = compiled_epochs(Xc, y, sw, loss, penalty, **kw)
    rstate, routs = reference_epochs(Xc, y, sw, loss, penalty, **kw)
    assert_same_run(state, outs, rstate, routs)
    if not fit_intercept:
        assert state.intercept == 0.1
    # the tracked norms give the penalty of the current weights
    assert_allclose(
        state.penalty_value(),
        ref.penalty_value(rstate.w, penalty, 0.05, 0.15), rtol=1e-10, atol=1e-14,
    )


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("penalty", PENALTIES)
def test_run_epoch_unit_weights_many_epochs(penalty, batch_size, container):
    """Longer runs (10 epochs) stay on the reference path."""
    X, y = make_data("binary", density=0.7, empty_rows=(4,))
    kw = dict(batch_size=batch_size, n_epochs=10, alpha=0.02)
    sw = np.ones(N_SAMPLES)
    Xc = as_container(X, container)
    state, outs = compiled_epochs(Xc, y, sw, "log_loss", penalty, **kw)
    rstate, routs = reference_epochs(Xc, y, sw, "log_loss", penalty, **kw)
    assert_same_run(state, outs, rstate, routs)


# ----------------------------------------------------------------------------
# dense == CSR


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("average_start", [0, 5])
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_kept_norms_are_the_norms_of_the_weights(batch_size, penalty, average_start,
                                                container):
    # the running objective reads ||w||^2 and ||w||_1 as the pass keeps them:
    # tracked write by write, or (dense rows with an L1 step, sgd mode)
    # summed afresh by the step; either way the norms of the weights
    X, y = make_sparse_data("binary")
    state, _ = compiled_epochs(as_container(X, container), y, _weights(), "hinge",
                               penalty, batch_size=batch_size, n_epochs=3,
                               average_start=average_start)
    w = state.coef()
    assert_allclose(state.sq_norm, w @ w, rtol=1e-12)
    if penalty != "l2":
        assert_allclose(state.l1_norm, np.abs(w).sum(), rtol=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "log_loss", "squared_error", "huber"])
@pytest.mark.parametrize("penalty", [None, "l2"])
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_dense_equals_csr_with_zeros(batch_size, penalty, loss):
    """Without an L1 part, zeros (and empty rows) change nothing."""
    X, y = make_sparse_data(task_of(loss))
    sw = _weights()
    kw = dict(batch_size=batch_size, n_epochs=3)
    sd, od = compiled_epochs(as_container(X, "dense"), y, sw, loss, penalty, **kw)
    sc, oc = compiled_epochs(as_container(X, "csr"), y, sw, loss, penalty, **kw)
    assert_allclose(sd.coef(), sc.coef(), rtol=0, atol=1e-12)
    assert_allclose(sd.intercept, sc.intercept, rtol=0, atol=1e-12)
    assert_allclose(np.array(od), np.array(oc), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "log_loss", "squared_error"])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_dense_equals_csr_storing_every_entry(batch_size, penalty, loss):
    """A CSR matrix that stores every entry (explicit zeros included) touches
    the same coordinates as dense rows, so every penalty agrees."""
    X, y = make_sparse_data(task_of(loss))
    sw = _weights()
    kw = dict(batch_size=batch_size, n_epochs=3)
    sd, _ = compiled_epochs(as_container(X, "dense"), y, sw, loss, penalty, **kw)
    sc, _ = compiled_epochs(as_container(X, "csr_all"), y, sw, loss, penalty, **kw)
    assert_allclose(sd.coef(), sc.coef(), rtol=0, atol=1e-12)
    assert_allclose(sd.intercept, sc.intercept, rtol=0, atol=1e-12)


@pytest.mark.parametrize("penalty", PENALTIES)
def test_csr_unsorted_and_int64_indices(penalty):
    X, y = make_sparse_data()
    A = sp.csr_matrix(X)
    # reverse the entries of every row; int64 index arrays
    data, indices = A.data.copy(), A.indices.copy()
    for i in range(A.shape[0]):
        s = slice(A.indptr[i], A.indptr[i + 1])
        data[s], indices[s] = data[s][::-1], indices[s][::-1]
    B = sp.csr_matrix((data, indices.astype(np.int64), A.indptr.astype(np.int64)),
                      shape=A.shape)
    assert not B.has_sorted_indices
    sw = _weights()
    sa, _ = compiled_epochs(A, y, sw, "squared_error", penalty, batch_size=3)
    sb, _ = compiled_epochs(B, y, sw, "squared_error", penalty, batch_size=3)
    assert_allclose(sa.coef(), sb.coef(), rtol=1e-13, atol=1e-14)
    assert_allclose(sa.intercept, sb.intercept, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_csr_without_any_nonzero(batch_size, penalty):
    """An all-zero CSR matrix (nnz = 0): only the intercept (and the L2
    shrinkage) move, as in the reference."""
    n, d = 9, 4
    X = sp.csr_matrix((n, d))
    y = np.linspace(-1.0, 2.0, n)
    sw = _weights(n=n)
    coef0 = np.array([0.3, -0.2, 0.0, 1.0])
    kw = dict(batch_size=batch_size, coef0=coef0)
    state, outs = compiled_epochs(X, y, sw, "squared_error", penalty, **kw)
    rstate, routs = reference_epochs(X, y, sw, "squared_error", penalty, **kw)
    assert_same_run(state, outs, rstate, routs)
    assert state.intercept != 0.1
    if penalty in (None, "l1"):
        # untouched coordinates never receive the (lazy) L1 penalty
        assert_array_equal(state.coef(), coef0)


# ----------------------------------------------------------------------------
# float32


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_float32_data(batch_size, penalty, container):
    """float32 data is read as is and accumulated in float64: the pass equals
    the reference on the float32 values, and is close to the float64 run."""
    X, y = make_sparse_data()
    sw = _weights()
    X32 = as_container(X, container, np.float32)
    assert Data(X32).data.dtype == np.float32
    kw = dict(batch_size=batch_size, n_epochs=3)
    s32, o32 = compiled_epochs(X32, y, sw, "squared_error", penalty, **kw)
    r32, ro32 = reference_epochs(X32, y, sw, "squared_error", penalty, **kw)
    assert_same_run(s32, o32, r32, ro32)
    s64, _ = compiled_epochs(as_container(X, container), y, sw, "squared_error",
                             penalty, **kw)
    assert_allclose(s32.coef(), s64.coef(), rtol=1e-5, atol=1e-6)
    assert_allclose(s32.intercept, s64.intercept, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# averaging

@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("average_start", [1, 6, 1000])
@pytest.mark.parametrize("penalty", [None, "l2"])
def test_averaging_matches_reference(penalty, average_start, batch_size, container):
    """The averaged weights are the mean of the iterates of the updates with
    ``t >= average_start`` (average_start=1000: never reached).

    Only without an L1 part: with one, the averaged sum follows scikit-learn
    (the L1 truncation of a weight also truncates the average, scaled by the
    weight of the iterates averaged since the last weight-scale reset), which
    is not a mean of iterates; it is checked against scikit-learn in
    test_modes.py and by the special case below."""
    X, y = make_sparse_data()
    Xc = as_container(X, container)
    sw = _weights()
    kw = dict(batch_size=batch_size, average_start=average_start, n_epochs=3)
    state, outs = compiled_epochs(Xc, y, sw, "squared_error", penalty, **kw)
    rstate, routs = reference_epochs(Xc, y, sw, "squared_error", penalty, **kw)
    assert_same_run(state, outs, rstate, routs)
    assert state.n_averaged == rstate.n_averaged
    assert_allclose(state.average_coef(), rstate.average_coef(), rtol=RTOL, atol=ATOL)
    assert_allclose(state.average_intercept(), rstate.average_intercept(),
                    rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_average_of_the_last_update_is_the_last_iterate(penalty, batch_size,
                                                        container):
    """Averaging only the last update gives that update's iterate (with any
    penalty), and averaging never started leaves a zero average."""
    X, y = make_sparse_data()
    Xc = as_container(X, container)
    sw = _weights()
    # t counts rows: the last update starts at row 2 n - m_last (+ 1)
    m_last = N_SAMPLES - batch_size * (-(-N_SAMPLES // batch_size) - 1)
    t_last = 1 + 2 * N_SAMPLES - m_last
    kw = dict(batch_size=batch_size, n_epochs=2)
    last, _ = compiled_epochs(Xc, y, sw, "squared_error", penalty,
                              average_start=t_last, **kw)
    assert last.n_averaged == 1
    assert_allclose(last.average_coef(), last.coef(), rtol=1e-13, atol=1e-15)
    assert_allclose(last.average_intercept(), last.intercept, rtol=1e-13)
    never, _ = compiled_epochs(Xc, y, sw, "squared_error", penalty,
                               average_start=t_last + 1, **kw)
    assert never.n_averaged == 0
    assert_array_equal(never.average_coef(), 0.0)
    assert_allclose(never.coef(), last.coef(), rtol=0, atol=0)


@pytest.mark.parametrize("penalty", [None, "l2"])
def test_averaging_resumes_from_saved_average(penalty):
    """A new state built from (coef, intercept, average, n_averaged) continues
    the average exactly (what partial_fit does between calls)."""
    X, y = make_sparse_data()
    Xc = as_container(X, "csr")
    sw = _weights()
    kw = dict(batch_size=2, average_start=4)
    whole, _ = compiled_epochs(Xc, y, sw, "squared_error", penalty, n_epochs=2, **kw)
    first, _ = compiled_epochs(Xc, y, sw, "squared_error", penalty, n_epochs=1, **kw)
    pen = get_penalty(penalty, 0.05, 0.15)
    resumed = WeightState(first.coef(), first.intercept, int(pen.kind), pen.alpha,
                          pen.l1_ratio, True, first.t, 4, first.average_coef(),
                          first.average_intercept(), first.n_averaged)
    # second epoch: same ordering as the second epoch of `whole`
    resumed, _ = compiled_epochs(Xc, y, sw, "squared_error", penalty, n_epochs=1,
                                 shuffle_seed=1, state=resumed, **kw)
    assert resumed.t == whole.t
    assert resumed.n_averaged == whole.n_averaged
    assert_allclose(resumed.coef(), whole.coef(), rtol=1e-12, atol=1e-14)
    assert_allclose(resumed.average_coef(), whole.average_coef(), rtol=1e-12,
                    atol=1e-14)
    assert_allclose(resumed.average_intercept(), whole.average_intercept(),
                    rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------
# weight scale, clipping, edge cases


# (averaging with an L1 part is not a mean of iterates: see the averaging tests)
@pytest.mark.parametrize("penalty, average_start",
                         [("l2", 0), ("l2", 1), ("elasticnet", 0)])
@pytest.mark.parametrize("eta_alpha", [0.9, 1.5])
@pytest.mark.parametrize("container", ["dense", "csr"])
def test_strong_shrinkage_rescales_or_zeroes(container, eta_alpha, penalty,
                                             average_start):
    """eta*alpha = 0.9 shrinks by 0.1 per update (the scale is folded into v
    after 9 updates); eta*alpha >= 1 sets the weights to zero (never negative)."""
    X, y = make_sparse_data()
    sw = _weights()
    kw = dict(alpha=eta_alpha, etas=lambda t: np.ones(len(t)), l1_ratio=0.0001,
              average_start=average_start, n_epochs=2)
    Xc = as_container(X, container)
    state, outs = compiled_epochs(Xc, y, sw, "squared_error", penalty, **kw)
    rstate, routs = reference_epochs(Xc, y, sw, "squared_error", penalty, **kw)
    assert_same_run(state, outs, rstate, routs)
    # the lazy average avg_sum + avg_c * v cancels terms of size
    # |w| * (old wscale / new wscale), up to 1 / MIN_WSCALE = 1e9 times |w|:
    # rounding of order 1e-16 * 1e9 is inherent to the representation
    assert_allclose(state.average_coef(), rstate.average_coef(), rtol=1e-6,
                    atol=1e-8)
    assert_allclose(state.penalty_value(),
                    ref.penalty_value(rstate.w, penalty, eta_alpha, 0.0001),
                    rtol=1e-8, atol=1e-12)


def test_derivative_is_clipped():
    """|dL| is clipped at 1e12 (overflow guard), as in the reference."""
    X, y = make_data()
    y = y * 1e14
    sw = np.ones(N_SAMPLES)
    kw = dict(etas=lambda t: np.full(len(t), 1e-13), n_epochs=1, penalty=None)
    state, outs = compiled_epochs(X, y, sw, "squared_error", **kw)
    rstate, routs = reference_epochs(X, y, sw, "squared_error", **kw)
    assert_same_run(state, outs, rstate, routs)
    # every |dL| = |p - y| ~ 1e14 is clipped: each step moves b by eta * 1e12
    assert_allclose(abs(state.intercept - 0.1), 0.1 * abs(np.sign(y).sum()),
                    rtol=1e-6)


def _bare_state(d=3):
    return WeightState(np.zeros(d), 0.0, 0, 0.0, 0.0, True)


def test_empty_order_and_short_etas():
    X = np.ones((4, 3))
    data = Data(X)
    y, sw = np.ones(4), np.ones(4)
    cy = get_loss("squared_error").compiled()
    st = _bare_state()
    out = run_epoch(st, cy, data.data, data.rows, y, sw, np.array([], dtype=np.intp),
                    2, np.array([]))
    assert out == (0.0, 0.0, 0.0, 0.0, 0) and st.t == 1
    with pytest.raises(ValueError, match="etas has 1 entries, need 2"):
        run_epoch(st, cy, data.data, data.rows, y, sw, np.arange(4, dtype=np.intp),
                  2, np.array([0.1]))


def test_order_selects_and_repeats_rows():
    """Only the rows in ``order`` are visited, repeats included."""
    X, y = make_data()
    sw = _weights()
    order = np.array([3, 3, 0, 12, 5], dtype=np.intp)
    etas = np.array([0.1, 0.2, 0.05])
    cy, loss = get_loss("huber", 0.25).compiled(), get_loss("huber", 0.25)
    st = WeightState(COEF0, 0.1, 3, 0.05, 0.5, True)
    data = Data(X)
    out = run_epoch(st, cy, data.data, data.rows, y, sw, order, 2, etas)
    rst = ref.ReferenceState(COEF0, 0.1)
    rout = ref.run_epoch(rst, X, y, sw, order, 2, etas, loss, "elasticnet", 0.05, 0.5)
    assert_same_run(st, [out], rst, [rout])


def test_row_index_dense_and_csr_views():
    """RowIndex exposes what the pass reads: indices, indptr, stride."""
    X = np.arange(6.0).reshape(2, 3)
    dense = Data(X)
    assert dense.rows.stride == 3
    assert_array_equal(dense.rows.indices, [0, 1, 2])
    csr = Data(sp.csr_matrix(X))
    assert csr.rows.stride == 0
    assert_array_equal(csr.rows.indptr, [0, 2, 5])
    assert isinstance(csr.rows, RowIndex)


# ----------------------------------------------------------------------
# the minibatch pass on column parts (threads)
def _part_runs(X, y, sw, penalty, optimizer, batch_size, average_start, parts_list):
    """Two epochs of the compiled pass for each ``parts`` of ``parts_list``."""
    from skgd._optim_fast import Optimizer
    from skgd._optimizers import KINDS

    pen = get_penalty(penalty, 0.05, 0.3)
    data = Data(X)
    runs = []
    for parts in parts_list:
        st = WeightState(np.linspace(-0.5, 0.5, X.shape[1]), 0.1, int(pen.kind),
                         pen.alpha, pen.l1_ratio, True, 1, average_start)
        if optimizer is not None:
            st.opt = Optimizer(int(KINDS[optimizer]), X.shape[1] + 1, momentum=0.8,
                               beta_1=0.85, beta_2=0.99, rho=0.7, eps=1e-6)
        outs = []
        for order in [np.random.RandomState(e).permutation(X.shape[0]).astype(np.intp)
                      for e in range(2)]:
            n_upd = -(-len(order) // batch_size)
            etas = np.ascontiguousarray(default_etas(st.t + np.arange(n_upd), 0.1))
            outs.append(run_epoch(st, get_loss("log_loss").compiled(), data.data,
                                  data.rows, y, sw, order, batch_size, etas, parts))
        runs.append((st, outs))
    return runs


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
@pytest.mark.parametrize("average_start", [0, 30])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("n, batch_size", [(200, 64), (200, 65), (200, 150),
                                           (200, 200), (4500, 4500)])
def test_dense_row_chunks_match_reference(n, batch_size, penalty, average_start, loss):
    # plain minibatches of dense rows go by chunks of 64 rows (a thread takes
    # whole chunks; their sums are added in chunk order): several chunks, a
    # partial last one, and a column that most chunks never touch (the L1
    # step must skip it, as for CSR rows); batches of more than 64 x 64 rows
    # take 64 larger chunks
    d = 23
    X, y = make_data(task_of(loss), n=n, d=d, density=0.3, seed=3)
    X[:, 7] = 0.0
    X[[3, 90, 150], 7] = [1.5, -2.0, 0.7]
    sw = _weights(n=n)
    coef0 = np.linspace(-0.5, 0.5, d)
    kw = dict(batch_size=batch_size, coef0=coef0, average_start=average_start,
              n_epochs=3)
    state, outs = compiled_epochs(X, y, sw, loss, penalty, **kw)
    rstate, routs = reference_epochs(X, y, sw, loss, penalty, **kw)
    assert_same_run(state, outs, rstate, routs)
    if penalty in (None, "l2"):
        # (with an L1 part the average is not a mean of iterates: see
        # test_averaging_matches_reference)
        assert state.n_averaged == rstate.n_averaged
        assert_allclose(state.average_coef(), rstate.average_coef(), rtol=RTOL,
                        atol=ATOL)
    w = state.coef()
    if penalty is not None:
        # the norms the objective reads, summed afresh per update
        assert_allclose(state.sq_norm, w @ w, rtol=1e-12)
    if penalty in ("l1", "elasticnet"):
        assert_allclose(state.l1_norm, np.abs(w).sum(), rtol=1e-12)
    # and CSR rows (a pass of its own) give the same model
    sc, oc = compiled_epochs(sp.csr_matrix(X), y, sw, loss, penalty, **kw)
    assert_allclose(sc.coef(), w, rtol=1e-12, atol=1e-14)
    assert_allclose(sc.average_coef(), state.average_coef(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("batch_size", [1, 64, 150, 4500])
def test_dense_row_chunks_do_not_depend_on_the_threads(batch_size, penalty, dtype):
    # the chunks are cut the same whatever the threads, so the model is the
    # same bit for bit on 1, 2 or 4 threads (``parts`` gives their number)
    n = max(300, batch_size)
    X, y = make_data("binary", n=n, d=23, density=0.6, seed=5)
    X = X.astype(dtype)
    sw = _weights(n=n)
    runs = _part_runs(X, y, sw, penalty, None, batch_size, 40,
                      [None, [0, 11, 23], [0, 5, 9, 15, 23]])
    st0, outs0 = runs[0]
    for st, outs in runs[1:]:
        assert_array_equal(np.asarray(st.v), np.asarray(st0.v))
        assert st.intercept == st0.intercept and st.sq_norm == st0.sq_norm
        assert_array_equal(st.average_coef(), st0.average_coef())
        assert outs == outs0


@pytest.mark.parametrize("container", ["dense", "csr", "csr32"])
@pytest.mark.parametrize("optimizer", [None, "momentum", "adam", "adagrad"])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_column_parts_give_the_same_weights(container, optimizer, penalty, batch_size):
    # the work of an update split by columns (one thread per part): each
    # row's x.w is summed per part, then across the parts in part order, so
    # the parts change the rounding of the margins only; one part is the pass
    # without parts, bit for bit (an empty part included in the others)
    X, y = make_data("binary", n=150, d=23, density=0.3, seed=3)
    Xc = {"dense": X, "csr": sp.csr_matrix(X),
          "csr32": sp.csr_matrix(X.astype(np.float32))}[container]
    sw = _weights(n=150)
    parts_list = [None, [0, 23], [0, 11, 23], [0, 3, 3, 17, 23], [0, 1, 2, 3, 4, 23]]
    runs = _part_runs(Xc, y, sw, penalty, optimizer, batch_size, 40, parts_list)
    st0, outs0 = runs[0]
    st1, outs1 = runs[1]
    assert_array_equal(np.asarray(st1.v), np.asarray(st0.v))
    assert st1.intercept == st0.intercept and st1.sq_norm == st0.sq_norm
    assert_array_equal(st1.average_coef(), st0.average_coef())
    assert outs1 == outs0
    for st, outs in runs[2:]:
        assert_allclose(st.coef(), st0.coef(), rtol=1e-12, atol=1e-14)
        assert_allclose(st.intercept, st0.intercept, rtol=1e-12, atol=1e-14)
        assert_allclose(st.average_coef(), st0.average_coef(), rtol=1e-12, atol=1e-14)
        assert_allclose(np.asarray(st.q), np.asarray(st0.q), rtol=1e-12, atol=1e-14)
        if optimizer is not None:
            for name in ("m", "s"):
                assert_allclose(getattr(st.opt, name), getattr(st0.opt, name),
                                rtol=1e-10, atol=1e-14)
            assert_array_equal(st.opt.last, st0.opt.last)
        for out, out0 in zip(outs, outs0):
            assert out[4] == out0[4]
            assert_allclose(out[:4], out0[:4], rtol=1e-12)


def test_column_parts_are_checked():
    X, y = make_data("binary", n=20, d=5)
    for parts in ([0, 6], [1, 5], [0, 3, 2, 5], [5], [[0, 5]]):
        with pytest.raises(ValueError, match="parts must rise from 0"):
            _part_runs(X, y, np.ones(20), "l2", None, 4, 0, [parts])


def test_pass_parts_of_the_data():
    from threadpoolctl import threadpool_limits

    from skgd._modes import MIN_PARALLEL_BATCH

    rng = np.random.RandomState(0)
    # columns drawn with very unequal frequencies: the parts share the
    # entries, not the columns
    n, d = 4000, 1000
    cols = np.minimum(rng.zipf(1.3, size=n * 10) - 1, d - 1)
    X = sp.csr_matrix((rng.rand(n * 10), (np.repeat(np.arange(n), 10), cols)),
                      shape=(n, d))
    X.sum_duplicates()
    data = Data(X)
    per_row = X.nnz / n
    big = int(np.ceil(MIN_PARALLEL_BATCH / per_row))
    with threadpool_limits(2, user_api="openmp"):
        parts = data.pass_parts(big)
        assert data.pass_parts(big - 1) is None  # too few entries per batch
        assert data.pass_parts(1) is None
    with threadpool_limits(1, user_api="openmp"):
        assert data.pass_parts(big) is None
    from skgd._compat import effective_n_threads
    if effective_n_threads() < 2:
        pytest.skip("one OpenMP thread")
    assert parts[0] == 0 and parts[-1] == d and len(parts) == 3
    share = np.mean(X.indices < parts[1])
    assert 0.4 < share < 0.6
    # unsorted CSR rows: one thread
    Xu = X.copy()
    Xu.indices = Xu.indices.copy()
    for i in range(n):
        a, b = Xu.indptr[i], Xu.indptr[i + 1]
        Xu.indices[a:b] = Xu.indices[a:b][::-1].copy()
        Xu.data[a:b] = Xu.data[a:b][::-1].copy()
    Xu.has_sorted_indices = False
    with threadpool_limits(2, user_api="openmp"):
        assert Data(Xu).pass_parts(big) is None
        assert Data(X.toarray()).pass_parts(big)[1] == d // 2
