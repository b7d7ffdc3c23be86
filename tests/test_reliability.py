"""Odd, faulty and hostile input: nothing crashes, nothing is half-fitted,
nothing is silently dropped (issue 8)."""

import pickle
import signal
import threading
import tracemalloc
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.validation import check_array, check_is_fitted

from skgd import GDClassifier, GDRegressor

MODES = ["sgd", "minibatch", "batch"]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def sparse_problem(n=60, d=12, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n, d, density=0.3, format="csr", random_state=rng)
    y = np.arange(n) % 3
    return X, y


def read_only(X):
    X = X.copy()
    for a in (X.data, X.indices, X.indptr):
        a.flags.writeable = False
    return X


def fitted_state(est):
    """Every attribute that is not a constructor parameter, for comparisons."""
    params = est.get_params(deep=False)
    return {k: v for k, v in vars(est).items() if k not in params}


def assert_same_state(before, after):
    assert before.keys() == after.keys()
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value, err_msg=name)
        elif name not in ("_callback_fit_ctx",):
            assert repr(after[name]) == repr(value), name


# ---------------------------------------------------------------------------
# 1. read-only and strided input
@pytest.mark.parametrize("mode", MODES)
def test_read_only_csr_fits_without_copy(mode):
    X, y = sparse_problem()
    ref = GDClassifier(mode=mode, random_state=0).fit(X, y)
    clf = GDClassifier(mode=mode, random_state=0).fit(read_only(X), y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)


@pytest.mark.parametrize("mode", MODES)
def test_memory_mapped_csr(mode, tmp_path):
    X, y = sparse_problem()
    joblib.dump(X, tmp_path / "X.joblib")
    X_mm = joblib.load(tmp_path / "X.joblib", mmap_mode="r")
    assert not X_mm.indices.flags.writeable
    ref = GDRegressor(mode=mode, random_state=0).fit(X, y)
    reg = GDRegressor(mode=mode, random_state=0).fit(X_mm, y)
    np.testing.assert_array_equal(reg.coef_, ref.coef_)


def test_read_only_data_is_not_copied():
    from skgd._modes import Data

    X = read_only(sparse_problem()[0])
    data = Data(X)
    assert np.shares_memory(data.data, X.data)
    assert np.shares_memory(np.asarray(data.rows.indices), X.indices)
    dense = X.toarray()
    dense.flags.writeable = False
    assert np.shares_memory(Data(dense).data, dense)


@pytest.mark.parametrize("mode", MODES)
def test_strided_csr_data(mode):
    X, y = sparse_problem()
    doubled = np.repeat(X.data, 2)
    X_strided = sp.csr_matrix((doubled[::2], X.indices, X.indptr), shape=X.shape)
    assert not X_strided.data.flags.c_contiguous
    ref = GDClassifier(mode=mode, random_state=0).fit(X, y)
    clf = GDClassifier(mode=mode, random_state=0).fit(X_strided, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)


def test_one_vs_rest_with_memory_mapping():
    # joblib memory-maps arrays above max_nbytes for its worker processes
    X, y = sparse_problem(n=90)
    with joblib.parallel_backend("loky", max_nbytes=1):
        ovr = OneVsRestClassifier(GDClassifier(random_state=0), n_jobs=2).fit(X, y)
    ref = OneVsRestClassifier(GDClassifier(random_state=0)).fit(X, y)
    for a, b in zip(ovr.estimators_, ref.estimators_):
        np.testing.assert_array_equal(a.coef_, b.coef_)


# ---------------------------------------------------------------------------
# 2. process-based parallelism
@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
@pytest.mark.parametrize("mode", MODES)
def test_process_backends_give_the_thread_model(iris, backend, mode):
    X, y = iris
    params = dict(mode=mode, n_jobs=2, random_state=0, average=True, max_iter=20,
                  tol=None)
    with joblib.parallel_backend("threading"):
        ref = GDClassifier(**params).fit(X, y)
    with joblib.parallel_backend(backend):
        clf = GDClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    np.testing.assert_array_equal(clf.intercept_, ref.intercept_)
    assert clf.t_ == ref.t_
    # the state handed back carries on as the threads' does
    with joblib.parallel_backend(backend):
        clf.partial_fit(X, y)
    ref.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)


def test_fit_data_pickles(iris):
    from skgd._modes import Data

    X = sp.csr_matrix(iris[0])
    data = pickle.loads(pickle.dumps(Data(X)))
    np.testing.assert_array_equal(data.matvec(np.ones(4)), X @ np.ones(4))


# ---------------------------------------------------------------------------
# 4. a failed fit leaves the estimator as it was
def bad_fits(X, y):
    one_class = (X, np.zeros_like(y))
    nan_y = (X, np.r_[np.nan, y[1:]])
    return {"one class": one_class, "nan in y": nan_y}


@pytest.mark.parametrize("case", ["one class", "nan in y"])
def test_rejected_refit_keeps_previous_model(iris, case):
    X, y = iris
    clf = GDClassifier(random_state=0).fit(X, y)
    before = fitted_state(clf)
    with pytest.raises(ValueError):
        clf.fit(*bad_fits(X, y)[case])
    assert_same_state(before, fitted_state(clf))
    np.testing.assert_array_equal(clf.predict(X), GDClassifier(random_state=0)
                                  .fit(X, y).predict(X))


@pytest.mark.parametrize("case", ["one class", "nan in y"])
def test_rejected_first_fit_leaves_unfitted(iris, case):
    X, y = iris
    clf = GDClassifier(random_state=0)
    with pytest.raises(ValueError):
        clf.fit(*bad_fits(X, y)[case])
    assert fitted_state(clf) == {}


def test_rejected_first_partial_fit_leaves_unfitted(iris):
    X, y = iris
    clf = GDClassifier()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    assert fitted_state(clf) == {}
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, y, classes=[0, 1])
    assert fitted_state(clf) == {}
    reg = GDRegressor()
    with pytest.raises(ValueError):
        reg.partial_fit(X, np.r_[np.nan, y[1:]])
    assert fitted_state(reg) == {}


def test_rejected_refit_then_partial_fit_continues(iris):
    X, y = iris
    reg = GDRegressor(random_state=0).fit(X, y)
    twin = GDRegressor(random_state=0).fit(X, y)
    with pytest.raises(ValueError):
        reg.fit(X[:, :2], np.r_[np.nan, y[1:]])
    reg.partial_fit(X, y)
    twin.partial_fit(X, y)
    np.testing.assert_array_equal(reg.coef_, twin.coef_)
    assert reg.t_ == twin.t_


def test_overflow_keeps_previous_model(iris):
    X, y = iris
    reg = GDRegressor(random_state=0).fit(X, y)
    before = fitted_state(reg)
    reg.set_params(learning_rate="constant", eta0=1e10)
    with pytest.raises(ValueError, match="(overflow|diverged)"):
        reg.fit(X * 1e5, y)
    assert_same_state(before, fitted_state(reg))
    reg.predict(X)


def test_overflow_on_first_fit_leaves_unfitted(iris):
    X, y = iris
    reg = GDRegressor(learning_rate="constant", eta0=1e10, random_state=0)
    with pytest.raises(ValueError, match="(overflow|diverged)"):
        reg.fit(X * 1e5, y)
    assert fitted_state(reg) == {}
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(reg)


@pytest.mark.parametrize("mode", MODES)
def test_keyboard_interrupt_keeps_previous_model(iris, mode):
    X, y = iris
    clf = GDClassifier(mode=mode, random_state=0).fit(X, y)
    before = fitted_state(clf)
    # long enough for the timer (30-70 us an epoch on iris: 30-70 s a
    # problem), but finite: a signal that never arrives fails the test
    # instead of hanging the suite
    clf.set_params(max_iter=10**6, tol=None, warm_start=True)
    main = threading.main_thread().ident
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
    # Python's own handler: a suite started in the background by a
    # non-interactive shell inherits SIGINT ignored (POSIX), and Python
    # then keeps it ignored (such a run hung here with max_iter=10**8)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, y)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, handler)
    assert_same_state(before, fitted_state(clf))
    clf.predict(X)


# ---------------------------------------------------------------------------
# 4b. sgd mode checks the values of X in the epoch that reads them
#: fits whose first epoch checks the values (the last one: up front, its
#: validation rows are not in the epoch); hinge takes no step on a row
#: whose margin is NaN, so only the check can catch it
DEFERRED_CHECK_FITS = {
    "hinge": (GDClassifier, dict(), "binary"),
    "regressor": (GDRegressor, dict(), "continuous"),
    "ovr threads": (GDClassifier, dict(n_jobs=2), "multiclass"),
    "multinomial": (GDClassifier, dict(loss="log_loss", multi_class="multinomial"),
                    "multiclass"),
    "adam": (GDClassifier, dict(optimizer="adam"), "binary"),
    "pa1 averaged": (GDClassifier, dict(learning_rate="pa1", average=True), "binary"),
    "early stopping": (GDRegressor, dict(early_stopping=True), "continuous"),
}


def deferred_check_case(name, seed=0):
    cls, params, target = DEFERRED_CHECK_FITS[name]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((120, 6))
    y = {"binary": (X[:, 0] > 0).astype(int), "multiclass": rng.integers(0, 3, 120),
         "continuous": X[:, 0] + 0.1 * rng.standard_normal(120)}[target]
    return cls(random_state=0, max_iter=5, tol=None, **params), X, y


def expected_error(est, X):
    """The error scikit-learn's check raises for these values."""
    with pytest.raises(ValueError) as ref:
        check_array(X, accept_sparse=True, estimator=est, input_name="X")
    return str(ref.value)


@pytest.mark.parametrize("name", list(DEFERRED_CHECK_FITS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("container", ["dense", "csr", "float32"])
@pytest.mark.parametrize("row", [0, 77, 119])
def test_sgd_mode_rejects_non_finite_values_as_validate_data(name, bad, container,
                                                             row):
    est, X, y = deferred_check_case(name)
    Xb = X.copy()
    Xb[row, 3] = bad
    make = {"dense": np.asarray, "csr": sp.csr_matrix,
            "float32": lambda A: A.astype(np.float32)}[container]
    Xb = make(Xb)
    message = expected_error(est, Xb)
    with pytest.raises(ValueError) as err:
        est.fit(Xb, y)
    assert str(err.value) == message
    assert fitted_state(est) == {}
    # a fitted model stays as it was, in fit and in partial_fit
    est.fit(make(X), y)
    before = fitted_state(est)
    for call in (est.fit, est.partial_fit):
        with pytest.raises(ValueError) as err:
            call(Xb, y)
        assert str(err.value) == message
        assert_same_state(before, fitted_state(est))


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_sgd_mode_reads_finite_values_once(monkeypatch, container):
    """sgd mode does not run validate_data's pass over the values of X (its
    epoch checks them); minibatch mode's row norms do it, also in one pass."""
    import sklearn.utils.validation as skv

    X, y = sparse_problem(n=200, d=30)
    X = X if container == "csr" else X.toarray()
    values = X.data if container == "csr" else X
    reads = []
    original = skv._assert_all_finite

    def counting(array, *args, **kwargs):
        reads.append(np.shares_memory(array, values) or array.size == values.size)
        return original(array, *args, **kwargs)

    monkeypatch.setattr(skv, "_assert_all_finite", counting)
    for mode in ("sgd", "minibatch"):
        reads.clear()
        GDClassifier(mode=mode, random_state=0).fit(X, y)
        assert not any(reads), mode
    reads.clear()
    GDClassifier(early_stopping=True, random_state=0).fit(X, y)
    assert any(reads)


def test_sgd_mode_reports_non_finite_values_before_other_errors():
    est, X, y = deferred_check_case("hinge")
    X[5, 0] = np.nan
    message = expected_error(est, X)
    cases = [
        (est.fit, (X, np.zeros_like(y)), {}),  # one class
        (est.fit, (X, y), {"sample_weight": np.ones(3)}),
        (est.partial_fit, (X, y), {}),  # no classes on the first call
        (est.partial_fit, (X, y), {"classes": [0, 1], "sample_weight": np.zeros(120)}),
        (GDRegressor().partial_fit, (X, y), {"sample_weight": np.zeros(120)}),
    ]
    for call, args, kwargs in cases:
        with pytest.raises(ValueError) as err:
            call(*args, **kwargs)
        assert str(err.value).replace("GDRegressor", "GDClassifier") == message


def test_sgd_mode_overflow_with_finite_values_keeps_its_error(iris):
    """A margin that overflows on finite values is not reported as a
    non-finite value: the fit goes on to its own overflow error."""
    X, y = iris
    X = X * 1e300
    with pytest.raises(ValueError, match="Floating-point under-/overflow"):
        GDClassifier(learning_rate="constant", eta0=1e10, random_state=0).fit(X, y)


# ---------------------------------------------------------------------------
# 5. malformed CSR
def malformed(kind):
    X = sp.csr_matrix(np.arange(1.0, 13.0).reshape(4, 3))
    data, indices, indptr = X.data.copy(), X.indices.copy(), X.indptr.copy()
    if kind == "indptr past data":
        indptr[-1] = 10**6
    elif kind == "decreasing indptr":
        indptr[2] = 0
    elif kind == "column >= n_features":
        indices[5] = 3
    elif kind == "negative column":
        indices[0] = -1
    bad = sp.csr_matrix((4, 3))
    # assign the arrays without SciPy's constructor checks
    bad.data, bad.indices, bad.indptr = data, indices, indptr
    return bad, np.array([0, 1, 0, 1])


@pytest.mark.parametrize("kind", ["indptr past data", "decreasing indptr",
                                  "column >= n_features", "negative column"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_malformed_csr_is_a_clear_error(kind, mode, method):
    X, y = malformed(kind)
    clf = GDClassifier(mode=mode)
    kwargs = {"classes": [0, 1]} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match="Malformed CSR matrix|index|indices"):
        getattr(clf, method)(X, y, **kwargs)


def test_malformed_csr_messages():
    from skgd._validation import check_sparse_structure

    for kind, msg in [("indptr past data", "points past the data"),
                      ("decreasing indptr", "never decrease"),
                      ("column >= n_features", r"\[0, 3\)")]:
        with pytest.raises(ValueError, match=msg):
            check_sparse_structure(malformed(kind)[0])


@pytest.mark.parametrize("kind", ["indptr past data", "decreasing indptr",
                                  "column >= n_features", "negative column"])
@pytest.mark.parametrize("Est, method", [
    (GDClassifier, "predict"), (GDClassifier, "decision_function"),
    (GDClassifier, "predict_proba"), (GDClassifier, "score"),
    (GDRegressor, "predict"), (GDRegressor, "score")])
def test_malformed_csr_at_predict_is_a_clear_error(kind, Est, method):
    # predict trusted the CSR that validate_data passes on: SciPy's product
    # read X @ coef out of bounds (a segfault on an indptr past the data)
    X, y = malformed(kind)
    kw = {"loss": "log_loss"} if Est is GDClassifier else {}
    # (not X.toarray(): SciPy's conversion would write out of bounds)
    est = Est(random_state=0, **kw).fit(np.arange(12.0).reshape(4, 3), y)
    before = fitted_state(est)
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(ValueError, match="Malformed CSR matrix"):
        getattr(est, method)(*args)
    assert_same_state(before, fitted_state(est))


def overflowing_squares(sparse=False, n=50, seed=0):
    """Finite rows whose squared norms overflow float64 (1e300 ** 2)."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 5))
    y = (X[:, 0] > 0).astype(int)
    X[:2, 0] = 1e300
    return (sp.csr_matrix(X) if sparse else X), y


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_minibatch_overflowing_squares_is_a_clear_error(sparse, Est):
    # the row norms overflow: the smoothness estimate's Lanczos handed NaN to
    # LAPACK's stebz, which failed with a LinAlgError
    X, y = overflowing_squares(sparse)
    est = Est(mode="minibatch", random_state=0).fit(np.ones((4, 5)), [0, 1, 0, 1])
    before = fitted_state(est)
    # the error alone, no NumPy RuntimeWarning from the step estimate first
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="Floating-point under-/overflow.*step "
                           "size.*StandardScaler"):
            est.fit(X, y)
    assert_same_state(before, fitted_state(est))


@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_minibatch_partial_fit_overflowing_chunk_is_a_clear_error(Est):
    # a later chunk's rows only raise L_max: a step cap of 1 / inf = 0 would
    # leave the weights as they were, silently
    X, y = overflowing_squares()
    kw = {"classes": [0, 1]} if Est is GDClassifier else {}
    est = Est(mode="minibatch", batch_size=4, random_state=0)
    est.partial_fit(X[2:], y[2:], **kw)
    before = fitted_state(est)
    with pytest.raises(ValueError, match="Floating-point under-/overflow.*step size"):
        est.partial_fit(X[:10], y[:10])
    assert_same_state(before, fitted_state(est))


@pytest.mark.parametrize("penalty", ["l2", "l1"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_batch_overflowing_data_is_a_clear_error(Est, sparse, penalty, capfd):
    # batch mode returned zero weights (L-BFGS: no warning at all; the
    # gradient's norm was inf, its direction 0), and its polish handed an
    # infinite Hessian to LAPACK's SVD, which printed "On entry to DLASCL
    # parameter number 4 had an illegal value"
    X, y = overflowing_squares(sparse)
    est = Est(mode="batch", penalty=penalty, random_state=0)
    est.fit(np.ones((4, 5)), [0, 1, 0, 1])
    before = fitted_state(est)
    with pytest.raises(ValueError, match="Floating-point under-/overflow.*StandardScaler"):
        est.fit(X, y)
    assert_same_state(before, fitted_state(est))
    out, err = capfd.readouterr()
    assert "illegal value" not in out + err


@pytest.mark.parametrize("scale", [1.0, 1e150])
def test_batch_first_step_is_free_of_the_data_scale(scale):
    # rows of norm 1e150 (squares still finite): the first L-BFGS step (unit
    # norm) overflowed the predictions, 40 halvings did not reach the steps
    # of 1e-150 these data take, and the fit returned w = 0 with no warning.
    # Without a penalty (which would underflow at that scale: alpha |w|^2 ~
    # 1e-300 alpha), the optimum is the unscaled problem's (scikit-learn's
    # unpenalised LogisticRegression) divided by the scale.
    from numpy.testing import assert_allclose
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.standard_normal(200) > 0).astype(int)
    est = GDClassifier(mode="batch", loss="log_loss", penalty=None,
                       fit_intercept=False, tol=1e-10, max_iter=1000)
    est.fit(X * scale, y)
    oracle = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12,
                                max_iter=10_000).fit(X, y)
    assert_allclose(est.coef_ * scale, oracle.coef_, rtol=1e-6)


# ---------------------------------------------------------------------------
# 6. wrong sizes
def test_partial_fit_zero_weights_of_wrong_length(iris):
    X, y = iris
    for est, kw in [(GDClassifier(), {"classes": [0, 1, 2]}), (GDRegressor(), {})]:
        with pytest.raises(ValueError, match="sample_weight"):
            est.partial_fit(X, y, sample_weight=np.zeros(3), **kw)
        assert fitted_state(est) == {}


def test_huge_batch_size_is_sized_by_the_rows(iris):
    X, y = iris
    huge = GDClassifier(mode="minibatch", batch_size=10**12, random_state=0).fit(X, y)
    whole = GDClassifier(mode="minibatch", batch_size=len(y), random_state=0).fit(X, y)
    np.testing.assert_array_equal(huge.coef_, whole.coef_)


def test_too_many_columns_fail_before_allocating():
    n_features = 2**31
    X = sp.csr_matrix(
        (np.ones(2), np.array([0, n_features - 1], dtype=np.int64),
         np.array([0, 1, 2], dtype=np.int64)),
        shape=(2, n_features),
    )
    for est in (GDClassifier(), GDRegressor()):
        # 2**31 float64 weights would be 16 GiB: the error comes first
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match=r"at most 2\*\*31 - 1 columns"):
                est.fit(X, np.array([0, 1]))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2**20


@pytest.mark.parametrize("mode", MODES)
def test_warm_start_after_sparsify(iris, mode):
    X, y = iris
    clf = GDClassifier(mode=mode, warm_start=True, random_state=0).fit(X, y)
    twin = GDClassifier(mode=mode, random_state=0)
    twin.fit(X, y, coef_init=clf.coef_, intercept_init=clf.intercept_)
    clf.sparsify().fit(X, y)
    np.testing.assert_array_equal(clf.coef_, twin.coef_)


@pytest.mark.parametrize("mode", ["minibatch", "batch"])
@pytest.mark.parametrize("weights", ["overflow", "zero sum", "negative sum"])
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_bad_weight_sum(iris, weights, Est, mode):
    # the weighted mean loss needs a total weight that is finite and > 0;
    # minibatch mode reported all-negative weights as an overflow of the
    # rows' squared norms (its step estimate was NaN)
    X, y = iris
    n = len(y)
    sample_weight = {
        "overflow": np.full(n, 1e308),
        "zero sum": np.r_[np.ones(n // 2), -np.ones(n - n // 2)],
        "negative sum": -np.ones(n),
    }[weights]
    with pytest.raises(ValueError, match=f"sum to .*; {mode} mode minimises"):
        Est(mode=mode).fit(X, y, sample_weight=sample_weight)
    est = Est(mode=mode)
    kw = {"classes": np.unique(y)} if Est is GDClassifier else {}
    with pytest.raises(ValueError, match=f"sum to .*; {mode} mode minimises"):
        est.partial_fit(X, y, sample_weight=sample_weight, **kw)
    assert not hasattr(est, "coef_")


# ---------------------------------------------------------------------------
# 7. drop-in messages, as scikit-learn's own SGD tests check them
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_negative_power_t_warns_as_sklearn(iris, Est):
    X, y = iris
    with pytest.warns(FutureWarning, match="Negative values for `power_t` are deprecated"
                      ) as record:
        Est(power_t=-1.0, learning_rate="constant", max_iter=2, tol=None).fit(X, y)
    assert record[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        Est(power_t=0.5, learning_rate="constant", max_iter=2, tol=None).fit(X, y)


def test_overflow_message_as_sklearn():
    # scikit-learn's test_underflow_or_overflow, in sgd mode (the drop-in)
    with np.errstate(all="raise"):
        rng = np.random.RandomState(0)
        X = rng.normal(size=(100, 10))
        X[:, :2] *= 1e300
        X_scaled = MinMaxScaler().fit_transform(X)
        y = (X_scaled @ rng.normal(size=10) > 0.0).astype(np.int32)
        model = GDClassifier(alpha=0.1, loss="squared_hinge", max_iter=500)
        model.fit(X_scaled, y)
        assert np.isfinite(model.coef_).all()
        msg = (r"Floating-point under-/overflow occurred at epoch #.*"
               " Scaling input data with StandardScaler or MinMaxScaler"
               " might help.")
        with pytest.raises(ValueError, match=msg):
            model.fit(X, y)


def test_zero_validation_weights_message_as_sklearn(iris):
    X, y = iris
    clf = GDClassifier(early_stopping=True, validation_fraction=0.4, random_state=0)
    msg = ("The sample weights for validation set are all zero, consider using a"
           " different random state.")
    with pytest.raises(ValueError, match=msg):
        clf.fit(X, y, sample_weight=np.zeros_like(y))


def _badly_scaled(task):
    """Columns of a problem multiplied by 1e-2 ... 1e2 (an unscaled data set)."""
    from sklearn.datasets import make_classification, make_regression

    if task == "binary":
        X, y = make_classification(600, 20, n_informative=8, flip_y=0.05,
                                   random_state=0)
    else:
        X, y = make_regression(600, 20, noise=5.0, random_state=0)
    return X * np.logspace(-2, 2, X.shape[1]), y


@pytest.mark.parametrize("Est, loss", [(GDClassifier, "log_loss"),
                                       (GDRegressor, "squared_error"),
                                       (GDRegressor, "huber")])
def test_batch_never_stops_silently_far_from_the_optimum(Est, loss):
    """On badly scaled data batch mode's iterations slow down long before
    the optimum; the stalled objective used to end the fit there, with no
    warning (squared error: 7 times F* on columns scaled 1e-2 ... 1e2).  A
    smooth problem with a penalty now stops only when its duality gap is
    at most tol / 10 of the objective: at the defaults, a model whose
    objective is more than 1e-3 above the optimum (scikit-learn's
    LogisticRegression / Ridge, a tight tolerance) comes with a
    ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Ridge

    from skgd._losses import get_loss

    X, y = _badly_scaled("binary" if Est is GDClassifier else "regression")
    alpha, n = 1e-4, len(y)
    lossf = get_loss(loss, epsilon=0.1)
    target = 2.0 * y - 1 if Est is GDClassifier else y

    def objective(w, b):
        return float(np.mean(lossf.loss(target, X @ w + b)) + alpha / 2 * w @ w)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = Est(mode="batch", loss=loss, alpha=alpha).fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    f = objective(est.coef_.ravel(), float(np.ravel(est.intercept_)[0]))
    if loss == "log_loss":
        best = LogisticRegression(C=1 / (n * alpha), tol=1e-10, max_iter=100_000)
    elif loss == "squared_error":
        best = Ridge(alpha=n * alpha, solver="svd")
    else:
        best = Est(mode="batch", loss=loss, alpha=alpha, tol=1e-9, max_iter=100_000)
    best.fit(X, y)
    f_star = min(objective(best.coef_.ravel(), float(np.ravel(best.intercept_)[0])), f)
    assert warned or f - f_star <= 1e-3 * f_star, (f, f_star)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_smooth_duality_gap_bounds_the_suboptimality(loss, fit_intercept):
    """The duality gap batch mode stops on (:func:`skgd._batch.duality_gap`,
    at the loss's derivatives) bounds ``F - F*`` from above at any point
    (F* from LogisticRegression / Ridge, tight tolerances), and is 0 to
    rounding at the optimum."""
    from sklearn.linear_model import LogisticRegression, Ridge

    from skgd._batch import duality_gap
    from skgd._losses import get_loss
    from skgd._penalties import get_penalty

    X, y = _badly_scaled("binary" if loss == "log_loss" else "regression")
    X = X[:200, :6] / np.abs(X[:200, :6]).max(axis=0)
    y = y[:200]
    n, alpha = len(y), 0.01
    lossf, pen = get_loss(loss), get_penalty("l2", alpha, 0.0)
    target = 2.0 * y - 1 if loss == "log_loss" else y
    s = np.full(n, 1.0 / n)
    if loss == "log_loss":
        best = LogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=10_000,
                                  fit_intercept=fit_intercept).fit(X, y)
    else:
        best = Ridge(alpha=n * alpha, solver="svd", fit_intercept=fit_intercept).fit(X, y)
    w_star = best.coef_.ravel()
    b_star = float(np.ravel(best.intercept_)[0]) if fit_intercept else 0.0

    def objective(w, b):
        return float(s @ lossf.loss(target, X @ w + b) + alpha / 2 * w @ w)

    f_star = objective(w_star, b_star)
    rng = np.random.RandomState(0)
    for scale in (0.0, 0.01, 0.3, 3.0):
        w = w_star + scale * rng.randn(len(w_star))
        b = b_star + (scale * rng.randn() if fit_intercept else 0.0)
        f = objective(w, b)
        gap, _ = duality_gap(lossf, target, s, lossf.dloss(target, X @ w + b), f, pen,
                             fit_intercept, lambda r: X.T @ r)
        assert gap >= f - f_star - 1e-12
        if scale == 0.0:
            assert gap <= 1e-7 * f_star


# ----------------------------------------------------------------------
# minibatch mode: a plateau far below the safe step is not convergence
SMALL_STEPS = "times below the largest safe step"


def _ridge_objective(X, y, alpha=1e-4):
    """``F(w, b) -> value`` of squared error + L2, and ``F*`` (closed form)."""
    n = X.shape[0]
    Xc = X - X.mean(axis=0)
    w = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(X.shape[1]),
                        Xc.T @ (y - y.mean()) / n)
    b = y.mean() - X.mean(axis=0) @ w

    def objective(w, b):
        r = X @ w + b - y
        return 0.5 * np.mean(r * r) + 0.5 * alpha * w @ w

    return objective, objective(w, b)


def _text_regression():
    """L2-normalised sparse rows (500 columns, 10 entries each), a linear
    target, standardised."""
    from sklearn.preprocessing import normalize

    rng = np.random.RandomState(0)
    X = normalize(sp.random(2000, 500, density=0.02, format="csr", random_state=rng))
    y = X @ rng.randn(500) + 0.1 * rng.randn(2000)
    return X, (y - y.mean()) / y.std()


def _small_scale_data(data):
    """Features of small scale: scikit-learn's diabetes data as shipped
    (columns of unit norm), or L2-normalised text; ``(X, y, F, F*)``."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True) if data == "diabetes" else _text_regression()
    objective, optimum = _ridge_objective(X.toarray() if sp.issparse(X) else X, y)
    return X, y, objective, optimum


@pytest.mark.parametrize("n_features", [20, 500])
def test_minibatch_regressor_does_not_stop_on_the_scale_of_its_start(n_features):
    # targets of large variance (make_regression: the objective starts at
    # thousands and ends near 5): with the plateau rule's margin at tol
    # times the starting objective, minibatch mode stopped in silence at
    # 2.1x the optimum (500 features; sgd mode, scikit-learn's SGD, ends
    # 0.9% above it); relative to the best objective so far it ends 1.2%
    # above.  The bound is test_defaults': at most 1.3x sgd mode's objective.
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=700, n_features=n_features, n_informative=5,
                           noise=5, random_state=0)
    objective, optimum = _ridge_objective(X, y)
    fits = {}
    for mode in ("minibatch", "sgd"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            est = GDRegressor(mode=mode, random_state=0).fit(X, y)
        assert est.n_iter_ < est.max_iter
        fits[mode] = objective(est.coef_, est.intercept_[0])
    assert fits["minibatch"] <= 1.3 * fits["sgd"]


@pytest.mark.parametrize("data", ["diabetes", "text"])
def test_minibatch_warns_when_its_steps_are_far_below_the_safe_step(data):
    # 'invscaling' from eta0=0.01 (scikit-learn's default schedule for its
    # regressor, skgd's before 'auto') on features of small scale: steps 750
    # to 4,500 times below 1 / L_B; the plateau rule stopped there in silence
    # (diabetes: R^2 = -0.66 where the optimum has 0.52; text: 0.66 against
    # 0.99)
    from sklearn.exceptions import ConvergenceWarning

    X, y, objective, optimum = _small_scale_data(data)
    for batch_size in (32, 256):
        est = GDRegressor(mode="minibatch", learning_rate="invscaling",
                          batch_size=batch_size, random_state=0)
        with pytest.warns(ConvergenceWarning, match=SMALL_STEPS):
            est.fit(X, y)
        assert est.n_iter_ < est.max_iter  # the plateau rule stopped it
        # the warning tells the truth: the model is far from the optimum,
        # 100 times the relative decrease the plateau rule asks for (it was
        # 2x the optimum when the rule's margin was tol times the starting
        # objective; it is about 1.6x with tol times the best objective)
        assert objective(est.coef_, est.intercept_[0]) > (1 + 100 * est.tol) * optimum
        # and its first remedy works: steps from the data, no warning
        est.set_params(learning_rate="optimal")
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*" + SMALL_STEPS)
            est.fit(X, y)
        assert objective(est.coef_, est.intercept_[0]) < 1.01 * optimum


@pytest.mark.parametrize("alpha", [1e-4, 0.0])
@pytest.mark.parametrize("data", ["diabetes", "text"])
def test_regressor_defaults_reach_the_optimum_on_small_scale_features(data, alpha):
    # learning_rate='auto' (the default): steps from the data in minibatch
    # mode ('optimal' capped at 1 / L_B; with alpha=0, the cap), so the
    # defaults reach the optimum where 'invscaling' stopped far from it
    from sklearn.exceptions import ConvergenceWarning

    X, y, objective, optimum = _small_scale_data(data)
    if alpha == 0.0:
        objective, optimum = _ridge_objective(
            X.toarray() if sp.issparse(X) else X, y, alpha=0.0)
    # within the stopping rule's own scale: tol times the objective at the
    # start (the least-squares optimum of the text data is 0.0038, its start
    # 0.5)
    start = objective(np.zeros(X.shape[1]), 0.0)
    for batch_size in (32, 256):
        est = GDRegressor(mode="minibatch", alpha=alpha, batch_size=batch_size,
                          random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            est.fit(X, y)
        assert objective(est.coef_, est.intercept_[0]) - optimum < est.tol * start


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("scale", [1e-3, 1e-4])
def test_minibatch_intercept_learns_on_features_of_small_scale(scale, sparse):
    # the intercept's step factor delta balanced its curvature against the
    # coefficients' without their L2 strength: where that dominates (scale
    # 1e-3, alpha=1e-4) delta was 1e-6 and a fit ended with the intercept
    # at 0.23 where the optimum's is 4.98 (91% of the achievable decrease
    # to go; scale 1e-4: 99.9%)
    from sklearn.datasets import make_regression

    X, y = make_regression(3000, 10, noise=1.0, random_state=0)
    X, y = X * scale, y / y.std() + 5.0
    objective, optimum = _ridge_objective(X, y)
    start = objective(np.zeros(X.shape[1]), 0.0)
    est = GDRegressor(mode="minibatch", random_state=0)
    est.fit(sp.csr_matrix(X) if sparse else X, y)
    # within the stopping rule's own scale, as test_regressor_defaults_...
    assert objective(est.coef_, est.intercept_[0]) - optimum < est.tol * start


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_auto_learning_rate_is_sklearns_default_in_sgd_mode():
    # 'auto' is 'invscaling', bit for bit, in sgd mode (SGDRegressor's
    # numbers); 'optimal' in a minibatch fit with tol; where no stopping
    # rule divides the steps (minibatch tol=None, partial_fit) 'invscaling'
    # from eta0, or from cap / B where that is larger (see the next test)
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    Xs = StandardScaler().fit_transform(X)
    cases = [("sgd", None, X, {}), ("sgd", 1e-3, X, {}),
             ("minibatch", 1e-3, X, {"learning_rate": "optimal"}),
             # standardised: cap / B = 0.0065 below eta0 = 0.01
             ("minibatch", None, Xs, {"learning_rate": "invscaling"})]
    for mode, tol, data, named_kw in cases:
        kw = dict(mode=mode, random_state=0, max_iter=5, tol=tol)
        auto = GDRegressor(**kw).fit(data, y)
        named = GDRegressor(**(named_kw or {"learning_rate": "invscaling"}), **kw)
        named.fit(data, y)
        assert auto.get_params()["learning_rate"] == "auto"
        np.testing.assert_array_equal(auto.coef_, named.coef_)
        np.testing.assert_array_equal(auto.intercept_, named.intercept_)
    # as shipped (columns of unit norm): the first batch steps by the cap
    kw = dict(mode="minibatch", random_state=0, max_iter=5, tol=None)
    auto = GDRegressor(**kw).fit(X, y)
    cap = auto._curvature[0]["step_cap"]
    assert cap / auto.batch_size > 100 * auto.eta0
    named = GDRegressor(learning_rate="invscaling", eta0=cap / auto.batch_size, **kw)
    named.fit(X, y)
    np.testing.assert_array_equal(auto.coef_, named.coef_)


@pytest.mark.parametrize("data", ["diabetes", "text"])
def test_regressor_streams_reach_the_optimum_on_small_scale_features(data):
    # partial_fit and tol=None at the defaults: no stopping rule divides the
    # steps, so 'auto' decays them as 'invscaling' does, but from the cap
    # 1 / L_B where that is larger than eta0's first step; from eta0 = 0.01
    # a stream stayed near its start (diabetes as shipped: R^2 0.03, where
    # the optimum has 0.51).  After 20 passes: 6e-5 (diabetes) and 6e-3
    # (text) of the achievable decrease to go, against 0.80 and 0.82
    X, y, objective, optimum = _small_scale_data(data)
    start = objective(np.zeros(X.shape[1]), 0.0)

    def share(est):
        """The share of the achievable decrease still to go."""
        return (objective(est.coef_, est.intercept_[0]) - optimum) / (start - optimum)

    def stream(est, passes=20, chunks=20):
        rng = np.random.RandomState(0)
        for _ in range(passes):
            for chunk in np.array_split(rng.permutation(len(y)), chunks):
                est.partial_fit(X[chunk], y[chunk])
        return share(est)

    assert stream(GDRegressor(mode="minibatch", random_state=0)) < 0.05
    assert stream(GDRegressor(mode="minibatch", learning_rate="invscaling",
                              random_state=0)) > 0.5
    fit = GDRegressor(mode="minibatch", tol=None, max_iter=20, random_state=0)
    assert share(fit.fit(X, y)) < 0.05


@pytest.mark.parametrize("case", ["regressor", "classifier", "generated"])
def test_minibatch_does_not_warn_on_scaled_data(case):
    # where the defaults fit well (standardised rows and target), the steps
    # stay within 100 times the safe one: no warning
    from sklearn.datasets import load_breast_cancer, load_diabetes, make_regression
    from sklearn.preprocessing import StandardScaler

    if case == "classifier":
        X, y = load_breast_cancer(return_X_y=True)
        est = GDClassifier(mode="minibatch", random_state=0)
    else:
        X, y = (load_diabetes(return_X_y=True) if case == "regressor"
                else make_regression(5000, 50, noise=5.0, random_state=0))
        y = (y - y.mean()) / y.std()
        est = GDRegressor(mode="minibatch", random_state=0)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*" + SMALL_STEPS)
        est.fit(X, y)
    assert est.score(X, y) > 0.5


# ----------------------------------------------------------------------
# minibatch mode: a plateau far from the optimum on unscaled features
FAR = "far from the optimum: one gradient step"


def _logistic_optimum(X, y, alpha=1e-4):
    """``(F, F*)`` of L2 logistic regression (labels in {0, 1}), the optimum
    from scikit-learn's LogisticRegression with tight tolerances."""
    from sklearn.linear_model import LogisticRegression

    n = X.shape[0]
    ys = 2.0 * y - 1.0

    def objective(w, b):
        return np.mean(np.logaddexp(0.0, -ys * (X @ w + b))) + 0.5 * alpha * w @ w

    best = LogisticRegression(C=1.0 / (n * alpha), tol=1e-12, max_iter=100000).fit(X, y)
    return objective, objective(best.coef_.ravel(), best.intercept_[0])


@pytest.mark.parametrize("data", ["breast_cancer", "wine", "iris"])
def test_minibatch_warns_far_from_the_optimum_on_unscaled_features(data):
    # features of very different scales (breast cancer: areas near 1e3 and
    # ratios near 1e-2; wine: proline near 1e3) or far from centred (iris:
    # lengths near 5, spread near 1): the minibatch steps, safe for the
    # largest direction, barely move along the others, and the plateau rule
    # used to stop there in silence (wine, class 1: accuracy 0.62 where
    # LogisticRegression has 1.0)
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    loader = {"breast_cancer": load_breast_cancer, "wine": load_wine,
              "iris": load_iris}[data]
    X, y = loader(return_X_y=True)
    y = (y == 1).astype(int)
    objective, optimum = _logistic_optimum(X, y)
    est = GDClassifier(mode="minibatch", loss="log_loss", random_state=0)
    with pytest.warns(ConvergenceWarning, match=FAR):
        est.fit(X, y)
    assert est.n_iter_ < est.max_iter
    # the warning tells the truth: at least 1% of the fit's own decrease is
    # left to gain (the oracle's optimum, not the one step's bound)
    start = objective(np.zeros(X.shape[1]), 0.0)
    fitted = objective(est.coef_.ravel(), est.intercept_[0])
    assert fitted - optimum > 0.01 * (start - fitted)
    # standardised, the same fit is close to the optimum and says nothing
    Xs = StandardScaler().fit_transform(X)
    objective, optimum = _logistic_optimum(Xs, y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*" + FAR)
        est.fit(Xs, y)
    start = objective(np.zeros(X.shape[1]), 0.0)
    fitted = objective(est.coef_.ravel(), est.intercept_[0])
    assert fitted - optimum < 0.05 * (start - fitted)


@pytest.mark.parametrize("sparse", [False, True])
def test_diagonal_step_decrease_is_a_real_decrease(sparse):
    # the probe's first number is F(w, b); its decrease is positive away
    # from the optimum and vanishes at it (oracle: a tight batch fit)
    from sklearn.datasets import load_breast_cancer

    from skgd._modes import Data, diagonal_step_decrease, objective_at
    from skgd._losses import get_loss
    from skgd._penalties import get_penalty

    X, y = load_breast_cancer(return_X_y=True)
    X = X / X.std(axis=0)
    if sparse:
        X = sp.csr_matrix(X)
    ys = np.where(y == 1, 1.0, -1.0)
    problem = Data(X).problem(ys, np.ones(len(y)), get_loss("log_loss"),
                              get_penalty("l2", 1e-3, 0.0), True)
    w = np.full(X.shape[1], 0.1)
    value, decrease = diagonal_step_decrease(problem, w, 0.5)
    assert value == pytest.approx(objective_at(problem, w, 0.5), rel=1e-12)
    assert decrease > 0.01 * value
    best = GDClassifier(mode="batch", loss="log_loss", alpha=1e-3, tol=None,
                        max_iter=500).fit(X, y)
    value, decrease = diagonal_step_decrease(problem, best.coef_.ravel(),
                                             best.intercept_[0])
    assert 0.0 <= decrease < 1e-9 * value


def test_multinomial_minibatch_warns_far_from_the_optimum_on_unscaled_features():
    # the same probe on a softmax problem: unscaled wine (proline near 1e3)
    # stopped in silence at accuracy 0.62; oracle: scikit-learn's
    # multinomial LogisticRegression with tight tolerances
    from scipy.special import logsumexp
    from sklearn.datasets import load_wine
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    alpha = 1e-4
    X, y = load_wine(return_X_y=True)

    def objective(X, W, b):
        Z = X @ W.T + b
        return (np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y])
                + 0.5 * alpha * np.sum(W * W))

    for scaled in (False, True):
        Xs = StandardScaler().fit_transform(X) if scaled else X
        best = LogisticRegression(C=1.0 / (len(y) * alpha), tol=1e-12,
                                  max_iter=100000).fit(Xs, y)
        optimum = objective(Xs, best.coef_, best.intercept_)
        start = np.log(3.0)
        est = GDClassifier(mode="minibatch", loss="log_loss",
                           multi_class="multinomial", random_state=0)
        if scaled:
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message=".*" + FAR)
                est.fit(Xs, y)
        else:
            with pytest.warns(ConvergenceWarning, match=FAR):
                est.fit(Xs, y)
        fitted = objective(Xs, est.coef_, est.intercept_)
        if scaled:
            assert fitted - optimum < 0.05 * (start - fitted)
        else:
            assert fitted - optimum > 0.01 * (start - fitted)


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
def test_normalised_optimizers_warn_on_a_target_of_large_scale(optimizer):
    # Adagrad, RMSprop and Adam step in units of the weights: on diabetes
    # (standardised features, the target as shipped: mean 152) they stopped
    # far from the optimum (R^2 -2.2 to -3.4, optimum 0.52); the warning
    # names the target, and standardising it reaches the optimum's score
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = GDRegressor(mode="minibatch", optimizer=optimizer, random_state=0)
    with pytest.warns(ConvergenceWarning, match="TransformedTargetRegressor"):
        est.fit(X, y)
    assert est.score(X, y) < 0.0
    wrapped = TransformedTargetRegressor(est, transformer=StandardScaler())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*" + FAR)
        wrapped.fit(X, y)
    assert wrapped.score(X, y) > 0.5
