"""Behaviour of GDClassifier and GDRegressor: API, partial_fit, ecosystem."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

MODES = ("sgd", "minibatch", "batch")


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=600, n_features=12, flip_y=0.05, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=900, n_features=10, n_informative=6, n_classes=3, random_state=1
    )
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("mode", MODES)
def test_shapes_match_sklearn(binary, multiclass, mode):
    X, y = binary
    clf = GDClassifier(mode=mode, random_state=0).fit(X, y)
    assert clf.coef_.shape == (1, X.shape[1])
    assert clf.intercept_.shape == (1,)
    assert clf.decision_function(X).shape == (X.shape[0],)
    Xm, ym = multiclass
    clf = GDClassifier(mode=mode, random_state=0).fit(Xm, ym)
    assert clf.coef_.shape == (3, Xm.shape[1])
    assert clf.intercept_.shape == (3,)
    assert clf.decision_function(Xm).shape == (Xm.shape[0], 3)
    reg = GDRegressor(mode=mode, random_state=0).fit(X, y.astype(float))
    assert reg.coef_.shape == (X.shape[1],)
    assert reg.intercept_.shape == (1,)
    assert reg.t_ > 1 and reg.n_iter_ >= 1 and len(reg.loss_curve_) == reg.n_iter_


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
def test_predict_proba(multiclass, mode, loss):
    X, y = multiclass
    clf = GDClassifier(loss=loss, mode=mode, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all((proba >= 0) & (proba <= 1))
    if loss == "log_loss":
        # monotone in the decision function: same argmax as predict
        np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)


@pytest.mark.parametrize("loss", ["hinge", "perceptron", "squared_hinge"])
def test_no_predict_proba_for_margin_losses(loss):
    clf = GDClassifier(loss=loss)
    assert not hasattr(clf, "predict_proba")
    assert not hasattr(clf, "predict_log_proba")


@pytest.mark.parametrize("mode", MODES)
def test_dense_equals_csr(binary, mode):
    X, y = binary
    kw = dict(mode=mode, random_state=3, max_iter=5, tol=None, batch_size=16)
    if mode == "sgd":
        # sgd mode damps the intercept's steps on CSR input, as scikit-learn
        # does; without an intercept the two paths are the same
        kw["fit_intercept"] = False
    dense = GDClassifier(**kw).fit(X, y)
    sparse = GDClassifier(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(dense.coef_, sparse.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.intercept_, sparse.intercept_, rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_float32_stays_float32(binary, mode):
    X, y = binary
    X32 = X.astype(np.float32)
    kw = dict(mode=mode, random_state=0, max_iter=5, tol=None, loss="log_loss",
              learning_rate="constant", eta0=0.01)
    c32 = GDClassifier(**kw).fit(X32, y)
    c64 = GDClassifier(**kw).fit(X, y)
    assert c32.coef_.dtype == np.float32
    np.testing.assert_allclose(c32.coef_, c64.coef_, rtol=1e-3, atol=1e-4)
    c32s = GDClassifier(**kw).fit(sp.csr_matrix(X32), y)
    assert c32s.coef_.dtype == np.float32


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_partial_fit_streaming_matches_fit(mode, Est):
    X, y = make_classification(n_samples=4000, n_features=20, flip_y=0.02, random_state=2)
    X = StandardScaler().fit_transform(X)
    if Est is GDRegressor:
        rng = np.random.RandomState(0)
        y = X @ rng.randn(20) + 0.1 * rng.randn(len(X))
    # averaged SGD (the estimate to use when the last iterate is noisy) with
    # the default shuffling; plain SGD at the default schedule varies by more
    # than a point between two seeds of fit itself
    n_epochs = 5
    kw = dict(mode=mode, random_state=0, average=True)
    if Est is GDRegressor:
        # the regressor's default schedule (invscaling from 0.01) is slow:
        # compare the last iterates, in order
        kw = dict(mode=mode, random_state=0, shuffle=False, batch_size=8)
    if Est is GDClassifier:
        kw["loss"] = "log_loss"
    full = Est(max_iter=n_epochs, tol=None, **kw).fit(X, y)
    stream = Est(**kw)
    chunks = np.array_split(np.arange(len(y)), 20)
    for _ in range(n_epochs):
        for idx in chunks:
            if Est is GDClassifier:
                stream.partial_fit(X[idx], y[idx], classes=np.unique(y))
            else:
                stream.partial_fit(X[idx], y[idx])
    if Est is GDClassifier:
        assert abs(full.score(X, y) - stream.score(X, y)) <= 0.01
    else:
        assert abs(full.score(X, y) - stream.score(X, y)) <= 0.01
    if mode != "batch":
        # the update counter carries over: same number of updates either way
        assert stream.t_ == pytest.approx(full.t_, abs=20 * n_epochs)


def test_partial_fit_sgd_equals_fit_one_epoch(binary):
    X, y = binary
    kw = dict(random_state=0, shuffle=False, loss="log_loss", learning_rate="invscaling")
    full = GDClassifier(max_iter=1, tol=None, **kw).fit(X, y)
    part = GDClassifier(**kw).partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_allclose(full.coef_, part.coef_)
    assert full.t_ == part.t_


@pytest.mark.parametrize("mode", ["sgd", "minibatch"])
@pytest.mark.parametrize("average", [False, True, 50])
def test_partial_fit_chunks_equal_one_epoch(multiclass, mode, average):
    # shuffle=False, an l2 penalty and chunks that are multiples of
    # batch_size: streaming the chunks is exactly one epoch of fit,
    # averaging state and update counter included
    X, y = multiclass
    kw = dict(mode=mode, batch_size=5, shuffle=False, average=average,
              learning_rate="invscaling", eta0=0.01)
    if mode == "minibatch":
        # the intercept's step factor delta is estimated on the rows of the
        # first call (the first chunk for the stream, all rows for fit)
        kw["fit_intercept"] = False
    full = GDClassifier(max_iter=1, tol=None, **kw).fit(X, y)
    if mode == "minibatch":
        # the cap 1/L_B depends on the rows it is estimated on; here it
        # does not bind, so the steps are the summed row steps either way
        assert 5 * kw["eta0"] < min(c["step_cap"] for c in full._curvature)
    stream = GDClassifier(**kw)
    for chunk in np.array_split(np.arange(len(y)), 6):
        stream.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
    np.testing.assert_allclose(stream.coef_, full.coef_, rtol=1e-10)
    np.testing.assert_allclose(stream.intercept_, full.intercept_, rtol=1e-10)
    assert stream.t_ == full.t_


def test_partial_fit_errors(binary):
    X, y = binary
    clf = GDClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, np.where(y == 1, 7, 0))
    reg = GDRegressor().partial_fit(X, y.astype(float))
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:, :3], y.astype(float))


@pytest.mark.parametrize("y, classes", [
    (np.array([0, 1, 2, 1, 0]), np.array([0, 1, 2])),
    (np.array([3, 0, 4, 3, 1]), np.array([0, 1, 2])),
    (np.array([0.0, 1.0, np.nan, np.nan, 7.0]), np.array([0.0, 1.0])),
    (np.array([1, 2, 3]), np.array([0.5, 1.0, 3.0])),
    (np.array([2.0, 1.0]), np.array([1, 2])),
    (np.array([-5, 10, 0]), np.array([0, 1])),
    (np.array([True, False]), np.array([False])),
    (np.array(["a", "b", "c"]), np.array(["a", "c"])),
])
def test_unseen_labels_as_setdiff1d(y, classes):
    # partial_fit's label check looks numeric labels up by binary search
    from skgd._classifier import _unseen_labels

    unseen = _unseen_labels(y, classes)
    expected = np.setdiff1d(np.unique(y), classes)
    assert unseen.dtype == expected.dtype
    np.testing.assert_array_equal(unseen, expected)


def test_seeds_of_an_integer_random_state_are_kept():
    # kept per (random_state, n, kind): the draws of a fresh RandomState
    from skgd._base import _draw_seeds

    for est, n in ((GDRegressor(random_state=3), 1), (GDClassifier(random_state=3), 1),
                   (GDClassifier(random_state=np.int64(3)), 4)):
        for _ in range(2):
            assert est._seeds(n) == _draw_seeds(np.random.RandomState(3), n,
                                                is_classifier(est))
    # a RandomState instance is drawn from on every call, as before
    rs = np.random.RandomState(0)
    est = GDRegressor(random_state=rs)
    first, second = est._seeds(1), est._seeds(1)
    ref = np.random.RandomState(0)
    assert first == _draw_seeds(ref, 1, False) and second == _draw_seeds(ref, 1, False)


def test_divergence_error_names_epoch():
    # (minibatch mode caps its step at 1/L_B: test_modes.py checks that the
    # same set-up stays finite there)
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    X = X * 1e150
    reg = GDRegressor(mode="sgd", learning_rate="constant", eta0=10.0, max_iter=50)
    with pytest.raises(ValueError, match=r"epoch #\d+.*eta0.*StandardScaler"):
        with np.errstate(all="ignore"):
            reg.fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_batch_mode_needs_no_step_tuning_on_badly_scaled_data():
    # the Lipschitz step adapts to the scale of X: no divergence, exact optimum
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    X = X * 1e3
    reg = GDRegressor(mode="batch", alpha=1e-4, tol=1e-6, max_iter=5000).fit(X, y)
    ridge = Ridge(alpha=len(y) * 1e-4).fit(X, y)
    np.testing.assert_allclose(reg.coef_, ridge.coef_, rtol=1e-4)


def test_convergence_warning():
    X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    with pytest.warns(ConvergenceWarning):
        GDRegressor(max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GDRegressor(max_iter=1, tol=None).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(learning_rate="optimal", alpha=0), "alpha must be > 0"),
        (dict(learning_rate="pa1", loss="log_loss"), "only works with loss 'hinge'"),
        (dict(learning_rate="pa1", mode="batch"), "only exists in mode='sgd'"),
        (dict(penalty="elasticnet", l1_ratio=None), "l1_ratio must be set"),
    ],
)
def test_cross_parameter_errors(binary, params, match):
    X, y = binary
    with pytest.raises(ValueError, match=match):
        GDClassifier(**params).fit(X, y)


def test_early_stopping_partial_fit_error(binary):
    X, y = binary
    with pytest.raises(ValueError, match="early_stopping"):
        GDClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("mode", MODES)
def test_early_stopping_attributes(binary, mode):
    X, y = binary
    clf = GDClassifier(mode=mode, early_stopping=True, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


@pytest.mark.parametrize("mode", ["minibatch", "batch"])
@pytest.mark.parametrize("Est", [GDClassifier, GDRegressor])
def test_validation_score_is_the_models_score(binary, mode, Est):
    """minibatch and batch modes: the last validation score is the fitted
    model's score on the held-out rows (scikit-learn's split), weighted by
    the sample weights and not by the class weights."""
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    X, y = binary
    if Est is GDRegressor:
        y = X @ np.linspace(-1, 1, X.shape[1]) + 0.1 * np.sin(np.arange(len(y)))
    sw = np.random.RandomState(0).uniform(0.2, 2.0, len(y))
    params = dict(mode=mode, early_stopping=True, random_state=3)
    if Est is GDClassifier:
        params["class_weight"] = {0: 4.0}
    est = Est(**params).fit(X, y, sample_weight=sw)
    splitter = StratifiedShuffleSplit if Est is GDClassifier else ShuffleSplit
    _, val = next(splitter(test_size=0.1, random_state=3).split(X, y))
    expected = est.score(X[val], y[val], sample_weight=sw[val])
    assert est.validation_scores_[-1] == pytest.approx(expected, rel=1e-12)


def test_pipeline_and_grid_search(binary):
    X, y = binary
    pipe = make_pipeline(StandardScaler(), GDClassifier(mode="minibatch", random_state=0))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.85
    grid = GridSearchCV(
        GDClassifier(mode="minibatch", learning_rate="constant", random_state=0),
        {"eta0": [0.001, 0.01, 0.1], "batch_size": [8, 64]},
        cv=3,
        n_jobs=2,
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {"eta0", "batch_size"}
    assert grid.cv_results_["mean_test_score"].shape == (6,)
    assert grid.best_score_ > 0.85


def test_grid_over_mode_and_batch_size(binary):
    X, y = binary
    grid = GridSearchCV(
        GDClassifier(random_state=0),
        {"mode": list(MODES), "batch_size": [4, 32]},
        cv=2,
    ).fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_warm_start_and_coef_init(binary):
    X, y = binary
    clf = GDClassifier(mode="batch", loss="log_loss", warm_start=True).fit(X, y)
    coef = clf.coef_.copy()
    clf.fit(X, y)
    # warm start from the optimum: converges at once, stays there
    assert clf.n_iter_ <= 2
    np.testing.assert_allclose(clf.coef_, coef, rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="coef_init"):
        GDClassifier().fit(X, y, coef_init=np.zeros(3))


def test_sparsify_densify(binary):
    X, y = binary
    clf = GDClassifier(penalty="l1", alpha=0.01, random_state=0).fit(X, y)
    dense_pred = clf.predict(X)
    clf.sparsify()
    assert sp.issparse(clf.coef_)
    np.testing.assert_array_equal(clf.predict(X), dense_pred)
    clf.densify()
    assert isinstance(clf.coef_, np.ndarray)


def test_feature_names_in(binary):
    pd = pytest.importorskip("pandas")
    X, y = binary
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = GDClassifier(random_state=0).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    assert clf.n_features_in_ == X.shape[1]


def test_class_weight_balanced_equals_sample_weight(binary):
    X, y = binary
    idx = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:100]]
    X, y = X[idx], y[idx]
    kw = dict(mode="batch", loss="log_loss")
    a = GDClassifier(class_weight="balanced", **kw).fit(X, y)
    w = len(y) / (2 * np.bincount(y))
    b = GDClassifier(**kw).fit(X, y, sample_weight=w[y])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_data_is_never_copied(binary, dtype, sparse):
    # the row view reads the caller's array: no float64 upcast, no densifying
    from skgd._modes import Data

    X = binary[0].astype(dtype)
    X = sp.csr_matrix(X) if sparse else X
    data = Data(X)
    assert data.data.dtype == dtype
    assert np.shares_memory(data.data, X.data if sparse else X)
    if sparse:
        assert np.shares_memory(data.rows.indices, X.indices)


def test_sparse_with_64bit_indices(binary):
    # load_svmlight_file returns int64 indices: accepted, same model
    X, y = binary
    X32 = sp.csr_matrix(X)
    X64 = X32.copy()
    X64.indices = X64.indices.astype(np.int64)
    X64.indptr = X64.indptr.astype(np.int64)
    kw = dict(random_state=0, max_iter=3, tol=None)
    a = GDClassifier(**kw).fit(X32, y)
    b = GDClassifier(**kw).fit(X64, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize("mode", MODES)
def test_n_jobs_gives_the_same_model(multiclass, mode):
    # the one-vs-rest problems run in threads; seeds are drawn per class
    X, y = multiclass
    kw = dict(mode=mode, random_state=0, max_iter=5, tol=None)
    one = GDClassifier(n_jobs=1, **kw).fit(X, y)
    two = GDClassifier(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.intercept_, two.intercept_)


def _unaligned_copy(X):
    """``X`` in a buffer whose address is not a multiple of the item size, as
    the arrays that dask.distributed deserialises from network frames."""
    buf = np.empty(X.nbytes + 1, dtype=np.uint8)[1:]
    U = buf.view(X.dtype).reshape(X.shape)
    U[...] = X
    assert not U.flags.aligned and U.flags.c_contiguous
    return U


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
def test_unaligned_input_copied_once_in_batch_mode(binary, monkeypatch, mode, dtype):
    """NumPy computes batch mode's products on an unaligned array with its
    slow loops instead of BLAS: batch mode copies such input once to an
    aligned buffer; the per-row modes (compiled loops) read it as it is."""
    import skgd._backends

    X, y = binary
    X = X.astype(dtype)
    U = _unaligned_copy(X)
    seen = []
    data_cls = skgd._backends.Data

    def recording_data(arr):
        seen.append(arr)
        return data_cls(arr)

    monkeypatch.setattr(skgd._backends, "Data", recording_data)
    params = dict(mode=mode, loss="log_loss", random_state=0, tol=None, max_iter=3)
    est = GDClassifier(**params).fit(U, y)
    ref = GDClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    np.testing.assert_array_equal(est.intercept_, ref.intercept_)
    assert len(seen) == 2
    if mode == "batch":
        assert seen[0].flags.aligned and not np.shares_memory(seen[0], U)
    else:
        assert seen[0] is U
    # partial_fit too
    seen.clear()
    GDClassifier(**params).partial_fit(U, y, classes=[0, 1])
    assert seen[0].flags.aligned == (mode == "batch")


def _frame(library, X):
    """``X`` as a pandas or polars DataFrame or a pyarrow Table."""
    lib = pytest.importorskip(library)
    columns = [f"f{i}" for i in range(X.shape[1])]
    if library == "pandas":
        return lib.DataFrame(X, columns=columns), columns
    if library == "polars":
        return lib.DataFrame(X, schema=columns), columns
    return lib.table(dict(zip(columns, X.T))), columns


@pytest.mark.parametrize("library", ["pandas", "polars", "pyarrow"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_dataframe_input_keeps_its_float_dtype(binary, library, dtype, mode):
    """float32 columns give a float32 model, as a float32 array does (polars and
    pyarrow frames included, whose column types scikit-learn does not read)."""
    X, y = binary
    X = X.astype(dtype)
    frame, columns = _frame(library, X)
    params = dict(mode=mode, random_state=0, max_iter=5, tol=None)
    for est, target in ((GDClassifier(**params), y), (GDRegressor(**params), y * 1.0)):
        ref = clone(est).fit(X, target)
        est.fit(frame, target)
        assert est.coef_.dtype == ref.coef_.dtype == dtype
        np.testing.assert_array_equal(est.coef_, ref.coef_)
        # the column names where scikit-learn reads them (polars' from
        # scikit-learn 1.9 on)
        if hasattr(StandardScaler().fit(frame), "feature_names_in_"):
            np.testing.assert_array_equal(est.feature_names_in_, columns)
        else:
            assert not hasattr(est, "feature_names_in_")
        pred = est.decision_function(frame) if is_classifier(est) else \
            est.predict(frame)
        assert pred.dtype == dtype
        classes = {"classes": [0, 1]} if is_classifier(est) else {}
        assert clone(est).partial_fit(frame, target, **classes).coef_.dtype == dtype


def test_frames_with_mixed_float_columns_are_float64():
    pl = pytest.importorskip("polars")
    X = np.random.RandomState(0).randn(40, 2)
    y = (X[:, 0] > 0).astype(int)
    frame = pl.DataFrame({"a": X[:, 0].astype(np.float32), "b": X[:, 1]})
    assert GDClassifier(max_iter=2, tol=None).fit(frame, y).coef_.dtype == np.float64
