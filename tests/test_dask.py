"""Dask input on a real (in-process) distributed cluster.

* batch mode: ``fit`` on dask input sums the gradient over the blocks on the
  workers and gives the in-memory batch fit to rounding (the in-memory fit
  without its final exact polish, which needs the rows in memory:
  ``skgd._batch.polish``), one-vs-rest and multinomial (the softmax loss
  and its K-column gradient per block), which also reaches
  ``LogisticRegression``'s optimum;
* sgd / minibatch: ``dask_ml.wrappers.Incremental`` streams the blocks
  through ``partial_fit``, as a loop of ``partial_fit`` calls on the blocks.
"""

import threading
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

import skgd._dask as skgd_dask  # noqa: E402
from skgd import GDClassifier, GDRegressor  # noqa: E402
from skgd._dask import is_dask_collection  # noqa: E402

N, D, CHUNK = 300, 5, 100
N_BLOCKS = N // CHUNK
# the most numbers a computation of batch mode brings back to the client:
# the blocks' shares of a Hessian (Newton steps on few columns)
PARTIAL_SUMS = N_BLOCKS * (D + 1) ** 2
RTOL = 1e-10


@pytest.fixture(autouse=True)
def no_polish(monkeypatch):
    """In-memory references without the exact polish, which dask data do
    not get (it solves dense systems on the rows)."""
    import skgd._modes

    monkeypatch.setattr(skgd._modes, "polish_fits", lambda *args: False)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as c:
        yield c


# the in-process workers make the blocks of BlockSource arrays from here
_SOURCES = {}
_LOCK = threading.Lock()


def _make_block(key, block_info=None):
    (start, stop), _ = block_info[None]["array-location"]
    src = _SOURCES[key]
    with _LOCK:
        src.calls[start] = src.calls.get(start, 0) + 1
    return src.X[start:stop].copy()


class BlockSource:
    """A dask array whose blocks are made on the workers (the graph holds a
    key, not the data), counting how often each block is made."""

    def __init__(self, X):
        self.X = X
        self.calls = {}
        self.key = f"source-{id(self)}"
        _SOURCES[self.key] = self

    def dask(self):
        n, d = self.X.shape
        return da.map_blocks(
            _make_block, self.key,
            chunks=(da.core.normalize_chunks(CHUNK, (n,))[0], (d,)),
            dtype=self.X.dtype, meta=np.empty((0, 0), dtype=self.X.dtype),
        )


@pytest.fixture
def gathered(client, monkeypatch):
    """The sizes of every result the client gathers from the cluster."""
    sizes = []
    gather = distributed.Client.gather

    def recording_gather(self, futures, *args, **kwargs):
        out = gather(self, futures, *args, **kwargs)

        def walk(o):
            if isinstance(o, (list, tuple)):
                for e in o:
                    walk(e)
            elif isinstance(o, dict):
                for e in o.values():
                    walk(e)
            else:
                sizes.append(int(np.size(o)))

        walk(out)
        return out

    monkeypatch.setattr(distributed.Client, "gather", recording_gather)
    return sizes


def assert_partial_sums_only(gathered, per_block, n_params=None):
    """Nothing of the size of a row vector came back to the client: only
    per-block partial sums (at most ``per_block`` numbers a block) and
    scalars, and, with Newton steps on ``n_params`` parameters (with or
    without the intercepts), the blocks' shares of a Hessian: ``n_params^2``
    numbers a block, whatever the number of rows."""
    assert gathered and N_BLOCKS * per_block < N
    hessians = {m * q * q for q in (n_params or ()) for m in (1, N_BLOCKS)}
    assert all(size <= N_BLOCKS * per_block or size in hessians for size in gathered)


def rel_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def assert_same_fit(est_dask, est_mem, rtol=RTOL):
    assert est_dask.n_iter_ == est_mem.n_iter_
    assert est_dask.t_ == est_mem.t_
    assert est_dask.coef_.shape == est_mem.coef_.shape
    assert est_dask.coef_.dtype == est_mem.coef_.dtype
    assert rel_diff(est_dask.coef_, est_mem.coef_) <= rtol
    assert rel_diff(est_dask.intercept_, est_mem.intercept_) <= rtol
    np.testing.assert_allclose(est_dask.loss_curve_, est_mem.loss_curve_, rtol=rtol)
    assert est_dask.n_features_in_ == est_mem.n_features_in_


def classification(n_classes, seed=0):
    X, y = make_classification(
        N, D, n_informative=3, n_redundant=0, n_classes=n_classes, random_state=seed
    )
    return X, y


def regression(seed=0):
    X, y = make_regression(N, D, noise=1.0, random_state=seed)
    return X, y


# ----------------------------------------------------------------------
# batch mode: blocks stay on the workers, same fit as in memory
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_batch_equals_in_memory(client, gathered, n_classes):
    X, y = classification(n_classes)
    src = BlockSource(X)
    params = dict(loss="log_loss", mode="batch", alpha=0.1)
    est = GDClassifier(**params).fit(src.dask(), da.from_array(y, CHUNK))
    ref = GDClassifier(**params).fit(X, y)
    assert ref.n_iter_ < ref.max_iter  # the stopping rule fired, in both
    assert_same_fit(est, ref)
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    if n_classes > 2:
        for a, b in zip(est.loss_curves_, ref.loss_curves_):
            np.testing.assert_allclose(a, b, rtol=RTOL)
    # X was made once on the workers (persisted), never again ...
    assert src.calls == {start: 1 for start in range(0, N, CHUNK)}
    # ... and nothing of the size of a row vector came back to the client:
    # only per-block partial sums (n_blocks x (n_features + 1), and of the
    # Newton steps' Hessians, n_blocks x (n_features + 1)^2) and scalars
    assert gathered and max(gathered) <= PARTIAL_SUMS < N


def test_badly_scaled_batch_is_not_left_far_from_the_optimum(client, gathered):
    """Columns scaled 1e-2 ... 1e2: the iterations stall far from the
    optimum; batch mode goes on until its duality gap certifies tol / 10,
    which on dask is computed from per-block partial sums: the model is
    within 1e-3 of the optimum (LogisticRegression, a tight tolerance) or
    comes with a ConvergenceWarning (the stall rule alone stopped it 3%
    above the optimum, silently)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X, y = classification(2)
    X = X * np.logspace(-2, 2, D)
    alpha = 1e-4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = GDClassifier(loss="log_loss", mode="batch", alpha=alpha).fit(
            BlockSource(X).dask(), da.from_array(y, CHUNK))
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert gathered and max(gathered) <= PARTIAL_SUMS < N
    best = LogisticRegression(C=1 / (N * alpha), tol=1e-12, max_iter=100_000).fit(X, y)

    def objective(w, b):
        return float(np.mean(np.logaddexp(0.0, -(2 * y - 1) * (X @ w + b)))
                     + alpha / 2 * w @ w)

    f = objective(est.coef_.ravel(), est.intercept_[0])
    f_star = min(objective(best.coef_.ravel(), best.intercept_[0]), f)
    assert warned or f - f_star <= 1e-3 * f_star, (f, f_star)


def test_badly_scaled_multinomial_batch_equals_in_memory(client, gathered):
    """The multinomial duality gap from per-block partial sums (the class
    shares, the mixing of the dual point, ``X' S U`` with the conjugates):
    on columns scaled 1e-1 ... 1e1 the fit goes on past the stall (at 38
    iterations, 4e-4 above F* by the gap) as in memory, to the same
    model."""
    X, y = classification(3)
    X = X * np.logspace(-1, 1, D)
    params = dict(MULTINOMIAL, alpha=1e-2)
    est = GDClassifier(**params).fit(BlockSource(X).dask(), da.from_array(y, CHUNK))
    ref = GDClassifier(**params).fit(X, y)
    assert ref.n_iter_ < ref.max_iter
    assert_same_fit(est, ref, rtol=1e-8)
    assert_partial_sums_only(gathered, (D + 1) * 3 + 1, n_params=(3 * (D + 1), 3 * D))


@pytest.mark.parametrize("partials", ["gathered", "tree-summed"])
def test_regressor_batch_equals_in_memory(client, gathered, monkeypatch, partials):
    if partials == "tree-summed":
        # partial sums added on the workers: only the total comes back
        monkeypatch.setattr(skgd_dask, "GATHER_PARTIALS_LIMIT", 0)
    X, y = regression()
    src = BlockSource(X)
    params = dict(mode="batch", alpha=1e-2)
    est = GDRegressor(**params).fit(src.dask(), da.from_array(y, CHUNK))
    ref = GDRegressor(**params).fit(X, y)
    assert ref.n_iter_ < ref.max_iter
    assert_same_fit(est, ref)
    assert est.coef_.shape == (D,)
    assert src.calls == {start: 1 for start in range(0, N, CHUNK)}
    assert gathered and max(gathered) <= PARTIAL_SUMS < N
    if partials == "tree-summed":
        # (a gradient, or a Hessian)
        assert max(gathered) <= (D + 1) ** 2
    np.testing.assert_allclose(
        est.predict(X), ref.predict(X), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize(
    "n_classes, params",
    [
        (2, dict(loss="log_loss", class_weight="balanced", penalty="elasticnet",
                 l1_ratio=0.5, alpha=1e-2)),
        (3, dict(loss="hinge", learning_rate="invscaling", eta0=0.1, average=True)),
        (2, dict(loss="squared_hinge", fit_intercept=False, penalty="l1", alpha=1e-3,
                 class_weight={0: 2.0})),
    ],
    ids=["balanced-elasticnet", "hinge-averaged", "no-intercept-l1"],
)
def test_classifier_batch_options(client, n_classes, params):
    # a fixed number of epochs (tol=None), weighted, uneven chunks
    X, y = classification(n_classes, seed=1)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, N)
    params = dict(params, mode="batch", tol=None, max_iter=5)
    Xd = da.from_array(X, chunks=((120, 100, 80), (3, 2)))
    est = GDClassifier(**params).fit(Xd, da.from_array(y, 70), sample_weight=sw)
    ref = GDClassifier(**params).fit(X, y, sample_weight=sw)
    assert_same_fit(est, ref)


def test_regressor_batch_float32_and_warm_start(client):
    X, y = regression(seed=2)
    X32 = X.astype(np.float32)
    params = dict(mode="batch", loss="huber", epsilon=1.0, tol=None, max_iter=4,
                  warm_start=True)
    est = GDRegressor(**params)
    est.fit(da.from_array(X32, CHUNK), da.from_array(y, CHUNK))
    ref = GDRegressor(**params).fit(X32, y)
    # float32 rows summed per block in float32: rounding of float32
    assert est.coef_.dtype == np.float32
    assert rel_diff(est.coef_, ref.coef_) <= 1e-5
    # warm start from the previous solution, on float64 data
    est.fit(da.from_array(X, CHUNK), da.from_array(y, CHUNK))
    ref.fit(X, y)
    assert est.coef_.dtype == np.float64
    assert rel_diff(est.coef_, ref.coef_) <= 1e-5


def test_dask_input_checks(client):
    X, y = classification(2)
    Xd, yd = da.from_array(X, CHUNK), da.from_array(y, CHUNK)
    with pytest.raises(ValueError, match=r"mode='batch'.*Incremental"):
        GDClassifier(mode="sgd").fit(Xd, yd)
    with pytest.raises(ValueError, match="early_stopping"):
        GDClassifier(mode="batch", early_stopping=True).fit(Xd, yd)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        GDClassifier(mode="batch").fit(Xd, yd[:-1])
    bad = X.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GDClassifier(mode="batch").fit(da.from_array(bad, CHUNK), yd)
    with pytest.raises(ValueError, match="greater than one"):
        GDClassifier(mode="batch").fit(Xd, da.zeros(N, chunks=CHUNK))
    assert is_dask_collection(Xd) and not is_dask_collection(X)
    # weights summing to zero: refused as in memory (not an all-zero model),
    # and a fitted estimator stays as it was
    for multi_class in ("ovr", "multinomial"):
        est = GDClassifier(mode="batch", loss="log_loss", multi_class=multi_class)
        est.fit(Xd, yd)
        coef = est.coef_.copy()
        zero = {c: 0.0 for c in np.unique(y)}
        est.set_params(class_weight=zero)
        with pytest.raises(ValueError, match="sum to 0.0"):
            GDClassifier(**est.get_params()).fit(X, y)
        with pytest.raises(ValueError, match="sum to 0.0"):
            est.fit(Xd, yd)
        np.testing.assert_array_equal(est.coef_, coef)
    with pytest.raises(ValueError, match="non-zero"):
        GDRegressor(mode="batch").fit(Xd, yd, sample_weight=da.zeros(N, chunks=CHUNK))


def test_string_labels_sparse_chunks_and_dataframe(client):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = classification(2)
    labels = np.array(["cat", "dog"])[y]
    params = dict(loss="modified_huber", mode="batch", tol=None, max_iter=3)
    ref = GDClassifier(**params).fit(X, labels)
    Xs = da.from_array(X, CHUNK).map_blocks(
        sparse.csr_matrix, meta=sparse.csr_matrix((0, 0))
    )
    est = GDClassifier(**params).fit(Xs, labels)
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    assert_same_fit(est, ref)
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(D)])
    est = GDClassifier(**params).fit(dd.from_pandas(df, npartitions=3),
                                     da.from_array(labels, 50))
    np.testing.assert_array_equal(est.feature_names_in_, df.columns)
    assert_same_fit(est, ref)


def test_fit_dispatches_dask_input(client, gathered):
    X, y = classification(2)
    Xd, yd = da.from_array(X, CHUNK), da.from_array(y, CHUNK)
    params = dict(loss="log_loss", mode="batch", tol=None, max_iter=3)
    est = GDClassifier(**params).fit(Xd, yd)
    assert_same_fit(est, GDClassifier(**params).fit(X, y))
    reg = GDRegressor(mode="batch", tol=None, max_iter=3).fit(Xd, yd * 1.5)
    ref = GDRegressor(mode="batch", tol=None, max_iter=3).fit(X, y * 1.5)
    assert_same_fit(reg, ref)
    assert max(gathered) <= PARTIAL_SUMS < N
    for est in (GDClassifier(mode="sgd"), GDRegressor(mode="minibatch")):
        with pytest.raises(ValueError, match=r"mode='batch'.*Incremental"):
            est.fit(Xd, yd)


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_dask_data_products_of_k_outputs(client, container):
    """The products a K-output (multinomial) problem needs, on both backends:
    ``X @ W + b`` for ``W`` of shape (n_features, K) and ``X.T @ R`` for
    ``R`` of shape (n_samples, K), against NumPy's products; on CSR data each
    column as the one-vector product gives it, bit for bit (dense data use
    one BLAS matrix product, which may round differently)."""
    sparse = pytest.importorskip("scipy.sparse")
    from skgd._dask import DaskData
    from skgd._modes import Data

    X, _ = classification(3)
    rng = np.random.RandomState(0)
    K = 3
    W, b, R = rng.randn(D, K), rng.randn(K), rng.randn(N, K)
    Xd = da.from_array(X, chunks=((120, 100, 80), (D,)))
    if container == "csr":
        X = sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
        Xd = da.from_array(X.toarray(), chunks=Xd.chunks).map_blocks(
            sparse.csr_matrix, meta=sparse.csr_matrix((0, 0))
        )
    dense = X.toarray() if container == "csr" else X
    for data in (Data(X), DaskData(Xd)):
        Z = data.matvec(W, b)
        Z = Z.arrays[0].compute() if isinstance(data, DaskData) else Z
        G = data.rmatvec(da.from_array(R, 70) if isinstance(data, DaskData) else R)
        np.testing.assert_allclose(Z, dense @ W + b, rtol=1e-12)
        np.testing.assert_allclose(G, dense.T @ R, rtol=1e-12)
        assert Z.shape == (N, K) and G.shape == (D, K)
        one = data.matvec(W[:, 1], b[1])
        one = one.arrays[0].compute() if isinstance(data, DaskData) else one
        if container == "csr":
            np.testing.assert_array_equal(Z[:, 1], one)
        else:
            np.testing.assert_allclose(Z[:, 1], one, rtol=1e-13, atol=1e-13)


def test_the_dask_backend_uses_no_private_estimator_attribute():
    """The estimator's own fit drives the dask backend: skgd._dask reads the
    estimator's parameters and public attributes only."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(skgd_dask))
    private = sorted(
        f"{node.value.id}.{node.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id in ("est", "estimator", "worker_estimator")
        and node.attr.startswith("_") and not node.attr.startswith("__")
    )
    assert private == []


# ----------------------------------------------------------------------
# multinomial (softmax) batch mode: the K rows fitted together, per block
MULTINOMIAL = dict(loss="log_loss", mode="batch", multi_class="multinomial")


def _csr_blocks(X, chunks):
    sparse = pytest.importorskip("scipy.sparse")
    return da.from_array(X, chunks=chunks).map_blocks(
        sparse.csr_matrix, meta=sparse.csr_matrix((0, 0))
    )


@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet", None])
def test_multinomial_batch_equals_in_memory(client, gathered, penalty):
    # L-BFGS (l2, None) or FISTA (l1, elasticnet), run to the stopping rule
    X, y = classification(3)
    src = BlockSource(X)
    params = dict(MULTINOMIAL, penalty=penalty, alpha=1e-2)
    est = GDClassifier(**params).fit(src.dask(), da.from_array(y, CHUNK))
    ref = GDClassifier(**params).fit(X, y)
    assert ref.n_iter_ < ref.max_iter
    assert_same_fit(est, ref)
    assert est.coef_.shape == (3, D) and len(est.loss_curves_) == 1
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    # X made once on the workers; only per-block partial sums came back,
    # (n_features + 1) * K + 1 numbers per block
    assert src.calls == {start: 1 for start in range(0, N, CHUNK)}
    assert_partial_sums_only(gathered, (D + 1) * 3 + 1, n_params=(3 * (D + 1), 3 * D))


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize(
    "params",
    [
        dict(penalty="l2", alpha=1e-3, class_weight="balanced"),
        dict(penalty="elasticnet", l1_ratio=0.5, alpha=1e-2, class_weight={"b": 3.0}),
        dict(penalty="l2", alpha=1e-2, fit_intercept=False, average=2),
    ],
    ids=["l2-balanced", "elasticnet-dict-weights", "no-intercept-averaged"],
)
def test_multinomial_batch_weights_and_blocks(client, container, params):
    # sample and class weights, string labels, uneven row blocks split
    # along the features; CSR blocks against the in-memory CSR fit
    sparse = pytest.importorskip("scipy.sparse")
    X, y = classification(4, seed=1)
    X = np.where(np.abs(X) > 0.3, X, 0.0)
    labels = np.array(["a", "b", "c", "d"])[y]
    sw = np.random.RandomState(0).uniform(0.5, 2.0, N)
    params = dict(MULTINOMIAL, **params, tol=1e-6)
    chunks = ((120, 100, 80), (3, 2))
    Xd = (_csr_blocks(X, chunks) if container == "csr"
          else da.from_array(X, chunks=chunks))
    Xm = sparse.csr_matrix(X) if container == "csr" else X
    est = GDClassifier(**params).fit(Xd, da.from_array(labels, 70),
                                     sample_weight=da.from_array(sw, 90))
    ref = GDClassifier(**params).fit(Xm, labels, sample_weight=sw)
    assert ref.n_iter_ < ref.max_iter
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    # L-BFGS carries the rounding of the sums over its iterations: the CSR
    # fits differ by up to 1.5e-9 relative (measured), dense ones by 1e-11
    assert_same_fit(est, ref, rtol=1e-8)


def test_multinomial_batch_reaches_logistic_regression_optimum(client):
    from sklearn.linear_model import LogisticRegression

    X, y = classification(3, seed=2)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, N)
    alpha = 1e-3
    # F = sum s L / sum s + alpha/2 ||W||^2  <=>  C = 1 / (alpha sum s)
    lr = LogisticRegression(C=1.0 / (alpha * sw.sum()), solver="newton-cholesky",
                            tol=1e-12, max_iter=1000).fit(X, y, sample_weight=sw)
    est = GDClassifier(**MULTINOMIAL, alpha=alpha, tol=1e-10, max_iter=1000)
    est.fit(da.from_array(X, CHUNK), da.from_array(y, CHUNK),
            sample_weight=da.from_array(sw, CHUNK))
    assert est.n_iter_ < est.max_iter
    assert rel_diff(est.coef_, lr.coef_) <= 1e-6
    assert rel_diff(est.intercept_, lr.intercept_) <= 1e-6


def test_multinomial_batch_float32_and_warm_start(client):
    X, y = classification(3, seed=4)
    X32 = X.astype(np.float32)
    params = dict(MULTINOMIAL, alpha=1e-2, tol=None, max_iter=6, warm_start=True)
    est = GDClassifier(**params).fit(da.from_array(X32, CHUNK), da.from_array(y, CHUNK))
    ref = GDClassifier(**params).fit(X32, y)
    # the scores of float32 blocks are computed in float32 (no upcast copy)
    assert est.coef_.dtype == est.intercept_.dtype == np.float32
    assert rel_diff(est.coef_, ref.coef_) <= 1e-5
    # warm start from the previous solution, on float64 data
    est.fit(da.from_array(X, CHUNK), da.from_array(y, CHUNK))
    ref.fit(X, y)
    assert est.coef_.dtype == np.float64
    assert rel_diff(est.coef_, ref.coef_) <= 1e-5


@pytest.mark.parametrize("mode", ["sgd", "minibatch"])
def test_multinomial_stochastic_modes_on_dask_input(client, mode):
    # fit refuses them (as for one-vs-rest), leaving a fitted model as it
    # was; Incremental streams the blocks through partial_fit instead
    X, y = classification(3)
    Xd, yd = da.from_array(X, CHUNK), da.from_array(y, CHUNK)
    params = dict(loss="log_loss", multi_class="multinomial", mode=mode,
                  shuffle=False, random_state=0)
    est = GDClassifier(**params).fit(X, y)
    coef = est.coef_.copy()
    with pytest.raises(ValueError, match=r"mode='batch'.*Incremental"):
        est.fit(Xd, yd)
    np.testing.assert_array_equal(est.coef_, coef)
    inc = dask_ml_wrappers.Incremental(GDClassifier(**params), shuffle_blocks=False)
    inc.fit(Xd, yd, classes=[0, 1, 2])
    ref = GDClassifier(**params)
    for start in range(0, N, CHUNK):
        ref.partial_fit(X[start:start + CHUNK], y[start:start + CHUNK],
                        classes=[0, 1, 2])
    assert inc.estimator_.coef_.shape == (3, D)
    np.testing.assert_allclose(inc.estimator_.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(inc.estimator_.intercept_, ref.intercept_, rtol=1e-12)
    np.testing.assert_allclose(inc.predict_proba(Xd).compute(),
                               ref.predict_proba(X), rtol=1e-12)


# ----------------------------------------------------------------------
# sgd / minibatch: dask-ml streams the blocks through partial_fit
@pytest.mark.parametrize("mode", ["sgd", "minibatch"])
def test_incremental_streams_blocks_through_partial_fit(client, mode):
    X, y = classification(2)
    params = dict(loss="log_loss", mode=mode, shuffle=False, random_state=0)
    inc = dask_ml_wrappers.Incremental(
        GDClassifier(**params), scoring="accuracy", shuffle_blocks=False
    )
    inc.fit(da.from_array(X, CHUNK), da.from_array(y, CHUNK), classes=[0, 1])
    ref = GDClassifier(**params)
    for start in range(0, N, CHUNK):
        ref.partial_fit(X[start:start + CHUNK], y[start:start + CHUNK], classes=[0, 1])
    np.testing.assert_allclose(inc.estimator_.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(inc.estimator_.intercept_, ref.intercept_, rtol=1e-12)
    assert inc.estimator_.t_ == ref.t_
    score = inc.score(da.from_array(X, CHUNK), da.from_array(y, CHUNK))
    assert score == pytest.approx(ref.score(X, y))


def test_incremental_regressor(client):
    X, y = regression()
    params = dict(mode="minibatch", batch_size=16, shuffle=False, random_state=0)
    inc = dask_ml_wrappers.Incremental(GDRegressor(**params), shuffle_blocks=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inc.fit(da.from_array(X, CHUNK), da.from_array(y, CHUNK))
    ref = GDRegressor(**params)
    for start in range(0, N, CHUNK):
        ref.partial_fit(X[start:start + CHUNK], y[start:start + CHUNK])
    np.testing.assert_allclose(inc.estimator_.coef_, ref.coef_, rtol=1e-12)
    pred = inc.predict(da.from_array(X, CHUNK))
    assert is_dask_collection(pred)
    np.testing.assert_allclose(pred.compute(), ref.predict(X), rtol=1e-12)


# ----------------------------------------------------------------------
# prediction: lazy dask arrays, computed block by block on the workers
def _fitted(kind, dtype=np.float64):
    if kind == "regressor":
        X, y = regression()
        return GDRegressor(random_state=0).fit(X.astype(dtype), y), X.astype(dtype), y
    X, y = classification(2 if kind == "binary" else 3)
    multi_class = "multinomial" if kind == "multinomial" else "ovr"
    est = GDClassifier(loss="log_loss", multi_class=multi_class,
                       random_state=0).fit(X.astype(dtype), y)
    return est, X.astype(dtype), y


METHODS = {
    "binary": ["predict", "decision_function", "predict_proba", "predict_log_proba"],
    "multiclass": ["predict", "decision_function", "predict_proba",
                   "predict_log_proba"],
    "multinomial": ["predict", "decision_function", "predict_proba",
                    "predict_log_proba"],
    "regressor": ["predict"],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multinomial", "regressor"])
def test_predictions_are_lazy_and_blockwise(client, gathered, kind, dtype):
    est, X, _ = _fitted(kind, dtype)
    for method in METHODS[kind]:
        src = BlockSource(X)
        out = getattr(est, method)(src.dask())
        expected = getattr(est, method)(X)
        # nothing computed yet: no block of X made, nothing gathered
        assert isinstance(out, da.Array)
        assert src.calls == {} and gathered == []
        assert out.shape == expected.shape and out.dtype == expected.dtype
        assert out.chunks[0] == src.dask().chunks[0]
        if expected.ndim == 2:
            assert out.chunks[1] == (expected.shape[1],)
        got = out.compute()
        # each block made once, on the workers; the in-memory result
        assert src.calls == {start: 1 for start in range(0, N, CHUNK)}
        assert got.dtype == expected.dtype
        if method == "predict" and kind != "regressor":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
        gathered.clear()


def test_prediction_of_a_dask_fit_on_sparse_and_uneven_blocks(client):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = classification(3, seed=3)
    est = GDClassifier(loss="modified_huber", mode="batch", tol=None, max_iter=3)
    est.fit(da.from_array(X, CHUNK), da.from_array(y, CHUNK))
    Xs = da.from_array(X, chunks=((120, 100, 80), (3, 2))).map_blocks(
        sparse.csr_matrix, meta=sparse.csr_matrix((0, 0))
    )
    for method in ["predict", "decision_function", "predict_proba"]:
        out = getattr(est, method)(Xs)
        assert out.chunks[0] == (120, 100, 80)
        expected = getattr(est, method)(X)
        np.testing.assert_allclose(out.compute(), expected, rtol=1e-12, atol=1e-15)


def test_prediction_holds_the_model_as_of_the_call(client):
    X, y = classification(2)
    est = GDClassifier(loss="log_loss", random_state=0).fit(X, y)
    before = est.decision_function(X)
    lazy = est.decision_function(da.from_array(X, CHUNK))
    est.set_params(alpha=1.0).fit(X, y)  # refit, then compute
    assert not np.allclose(est.decision_function(X), before)
    np.testing.assert_array_equal(lazy.compute(), before)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["multiclass", "multinomial", "regressor"])
def test_score_is_lazy(client, gathered, kind, weighted):
    est, X, y = _fitted(kind)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, N) if weighted else None
    src = BlockSource(X)
    score = est.score(src.dask(), da.from_array(y, 70),
                      sample_weight=None if sw is None else da.from_array(sw, 40))
    assert isinstance(score, da.Array) and score.shape == ()
    assert src.calls == {} and gathered == []
    expected = est.score(X, y, sample_weight=sw)
    assert 0.3 < expected < 1.0  # not a degenerate model
    assert float(score) == pytest.approx(expected, rel=1e-12, abs=0)
    # only the score came back, not a row vector
    assert max(gathered) == 1
    # y and weights as NumPy arrays
    assert float(est.score(src.dask(), y, sample_weight=sw)) == pytest.approx(
        expected, rel=1e-12, abs=0)


def test_r2_of_a_constant_target_as_scikit_learn(client):
    from sklearn.metrics import r2_score

    X, y = regression()
    est = GDRegressor(random_state=0).fit(X, y)
    Xd = da.from_array(X, CHUNK)
    constant = np.full(N, 3.0)
    assert float(est.score(Xd, constant)) == r2_score(constant, est.predict(X)) == 0.0
    exact = GDRegressor().fit(X, constant)
    exact.coef_, exact.intercept_ = np.zeros(D), np.array([3.0])  # y exactly
    assert float(exact.score(Xd, constant)) == 1.0 == exact.score(X, constant)


def test_prediction_input_checks(client):
    from sklearn.exceptions import NotFittedError

    X, y = classification(2)
    Xd = da.from_array(X, CHUNK)
    with pytest.raises(NotFittedError):
        GDClassifier().predict(Xd)
    est = GDClassifier(random_state=0).fit(X, y)
    with pytest.raises(ValueError) as numpy_error:
        est.predict(X[:, :-1])
    with pytest.raises(ValueError) as dask_error:
        est.predict(Xd[:, :-1])  # raised at once, not at compute time
    assert str(dask_error.value) == str(numpy_error.value)
    with pytest.raises(ValueError, match="2D array"):
        est.decision_function(Xd[:, 0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.score(Xd, y[:-1])
    # several chunks along the features: one per row block in the result
    out = est.decision_function(da.from_array(X, chunks=(CHUNK, 2)))
    assert out.numblocks == (N_BLOCKS,)
    np.testing.assert_allclose(out.compute(), est.decision_function(X), rtol=1e-12)


def test_prediction_on_dask_dataframes(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = classification(3)
    columns = [f"f{j}" for j in range(D)]
    df = pd.DataFrame(X, columns=columns)
    est = GDClassifier(loss="log_loss", random_state=0).fit(df, y)
    ddf = dd.from_pandas(df, npartitions=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the names match: no warning
        proba = est.predict_proba(ddf)
        score = est.score(ddf, dd.from_pandas(pd.Series(y), npartitions=3))
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), est.predict_proba(df), rtol=1e-12)
    assert float(score) == est.score(df, y)
    # wrong column names: scikit-learn's error, raised before any compute
    with pytest.raises(ValueError, match="feature names"):
        est.predict(dd.from_pandas(df.rename(columns={"f0": "g0"}), npartitions=3))
    # a dask array without names: scikit-learn's warning, as for NumPy input
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(da.from_array(X, CHUNK))
    # row blocks of unknown sizes cannot be matched with NumPy targets
    with pytest.raises(ValueError, match="unknown sizes"):
        est.score(ddf, y)
