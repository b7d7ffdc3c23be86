"""Batch mode's products (skgd._products for CSR, NumPy for dense) vs SciPy/NumPy.

The compiled CSR products read float32 data as they are and sum in float64,
so both precisions are compared with the float64 product of the same
values, to float64 rounding (dense float32 products stay NumPy's, in
float32).  ``X.T @ r`` sums over fixed row blocks: any number of threads
gives the same bits.
"""

import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skgd import GDClassifier, GDRegressor
from skgd._compat import effective_n_threads
from skgd._modes import Data, matvec, rmatvec_transposed
from skgd._products import MAX_BLOCKS, MIN_PARALLEL_WORK, Products, n_blocks

DTYPES = (np.float32, np.float64)
LAYOUTS = ("csr", "csr_unsorted", "dense_c", "dense_f")


def make_matrix(layout, dtype, n=300, d=40, density=0.2, seed=0):
    """A matrix with empty rows (and, for CSR, unsorted and duplicate indices)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[rng.random((n, d)) > density] = 0.0
    X[[0, 5, n // 2, n - 1]] = 0.0
    X = X.astype(dtype)
    if layout == "dense_c":
        return np.ascontiguousarray(X)
    if layout == "dense_f":
        return np.asfortranarray(X)
    A = sp.csr_matrix(X)
    if layout == "csr_unsorted":
        # each row reversed, and its first entry split in two (a duplicate)
        rows, data, indices = [], [], []
        for i in range(n):
            lo, hi = A.indptr[i], A.indptr[i + 1]
            v, j = A.data[lo:hi][::-1].copy(), A.indices[lo:hi][::-1]
            if hi > lo:
                v = np.r_[v[:1] / 2, v[:1] / 2, v[1:]].astype(dtype)
                j = np.r_[j[:1], j]
            data.append(v)
            indices.append(j)
            rows.append(len(v))
        indptr = np.r_[0, np.cumsum(rows)]
        A = sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr),
                          shape=(n, d))
        assert not A.has_sorted_indices
    return A


def reference(X, w, b, r):
    """``X @ w + b`` and ``X.T @ r`` in float64 from the same values."""
    X64 = X.astype(np.float64)
    return np.asarray(X64 @ w).ravel() + b, np.asarray(X64.T @ r).ravel()


def assert_close(out, ref, scale, rtol=1e-12):
    # relative to the sum of |terms|: entries that cancel are compared absolutely
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=rtol * np.max(scale))


def vectors(X, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(X.shape[1]), rng.standard_normal(X.shape[0])


@pytest.mark.parametrize("b", [0.0, 1.5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_products_match_scipy_numpy(layout, dtype, b):
    X = make_matrix(layout, dtype)
    w, r = vectors(X)
    data = Data(X)
    ref_p, ref_g = reference(X, w, b, r)
    # (abs() of a CSR matrix with duplicates would sum them in place)
    absX = abs(X.toarray() if sp.issparse(X) else X).astype(np.float64)
    assert data.matvec(w, b).dtype == np.float64
    # dense float32: NumPy's float32 products, as before
    rtol = 1e-12 if sp.issparse(X) or dtype == np.float64 else 1e-5
    assert_close(data.matvec(w, b), ref_p, absX @ abs(w) + abs(b), rtol)
    assert_close(data.rmatvec(r), ref_g, absX.T @ abs(r), rtol)
    # the module-level helpers (dask blocks) agree bit for bit
    np.testing.assert_array_equal(matvec(X, w, b), data.matvec(w, b))
    np.testing.assert_array_equal(rmatvec_transposed(X.T, r), data.rmatvec(r))


@pytest.mark.parametrize("layout", ["csr", "csr_unsorted"])
def test_float32_is_read_in_place_and_summed_in_float64(layout):
    X = make_matrix(layout, np.float32)
    data = Data(X)
    if layout == "csr":
        assert np.shares_memory(data.products.data, X.data)
    else:
        # unsorted or duplicate indices: SciPy's products (see Data)
        assert data.products is None
    w, r = vectors(X)
    ref_p, ref_g = reference(X, w, 0.0, r)
    # float32 sums would be ~1e-7 off
    np.testing.assert_allclose(data.matvec(w), ref_p, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(data.rmatvec(r), ref_g, rtol=1e-10, atol=1e-12)


def test_dense_products_are_numpys():
    X = make_matrix("dense_c", np.float64)
    w, r = vectors(X)
    data = Data(X)
    assert data.products is None
    np.testing.assert_array_equal(data.matvec(w, 0.5), X @ w + 0.5)
    np.testing.assert_array_equal(data.rmatvec(r), X.T @ r)


@pytest.mark.parametrize("dtype", DTYPES)
def test_read_only_csr(dtype):
    X = make_matrix("csr", dtype)
    for a in (X.data, X.indices, X.indptr):
        a.setflags(write=False)
    w, r = vectors(X)
    data = Data(X)
    assert np.shares_memory(data.products.data, X.data)
    ref_p, ref_g = reference(X, w, 0.5, r)
    np.testing.assert_allclose(data.matvec(w, 0.5), ref_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.rmatvec(r), ref_g, rtol=1e-12, atol=1e-12)


def test_read_only_dense():
    X = make_matrix("dense_c", np.float64)
    X.setflags(write=False)
    w, r = vectors(X)
    data = Data(X)
    ref_p, ref_g = reference(X, w, 0.0, r)
    np.testing.assert_allclose(data.matvec(w), ref_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.rmatvec(r), ref_g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_empty_shapes(shape):
    products = Products.from_csr(sp.csr_matrix(np.zeros(shape)))
    np.testing.assert_array_equal(products.matvec(np.ones(shape[1]), 2.0),
                                  np.full(shape[0], 2.0))
    np.testing.assert_array_equal(products.rmatvec(np.ones(shape[0])),
                                  np.zeros(shape[1]))


# ----------------------------------------------------------------------------
# threads
def large_matrix(layout, dtype=np.float64):
    """Enough entries for several threads and many row blocks."""
    X = make_matrix(layout, dtype, n=4000, d=60, density=0.5, seed=3)
    data = Data(X)
    products = Products.from_csr(X)
    assert products.parallel
    assert len(products.bounds) - 1 >= 2
    return X, data


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["csr", "csr_unsorted"])
def test_one_and_two_threads_give_the_same_bits(layout, dtype):
    X, _ = large_matrix(layout, dtype)
    # the compiled products themselves (Data keeps SciPy's for unsorted rows)
    p = Products.from_csr(X)
    w, r = vectors(X)
    out, n_all = {}, effective_n_threads()
    for nt in (1, 2):
        with threadpool_limits(nt, user_api="openmp"):
            assert p.n_threads() == min(nt, n_all)
            out[nt] = p.matvec(w, 0.25), p.rmatvec(r)
    np.testing.assert_array_equal(out[1][0], out[2][0])
    np.testing.assert_array_equal(out[1][1], out[2][1])
    # explicit thread counts, more threads than blocks included
    for nt in (1, 2, 3, 2 * MAX_BLOCKS):
        np.testing.assert_array_equal(p.matvec(w, 0.25, n_threads=nt), out[1][0])
        np.testing.assert_array_equal(p.rmatvec(r, n_threads=nt), out[1][1])


@pytest.mark.parametrize("size", ["small", "large"])
def test_rmatvec_into_a_used_array(size):
    # one block (small) or several (large): the array handed in is written
    # whole, whatever it held, with the numbers of a new one
    X = make_matrix("csr", np.float64) if size == "small" else large_matrix(
        "csr", np.float64)[0]
    p = Products.from_csr(X)
    _, r = vectors(X)
    used = np.full(X.shape[1], np.nan)
    got = p.rmatvec(r, out=used)
    assert got is used
    np.testing.assert_array_equal(got, p.rmatvec(r))
    data = Data(X)
    np.testing.assert_array_equal(data.rmatvec(r, out=np.full(X.shape[1], 7.0)),
                                  data.rmatvec(r))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_products_of_k_outputs(layout, dtype):
    """``X @ W + b`` and ``X.T @ R`` of a K-output model (one pass over the
    data): NumPy's float64 products of the same values; on CSR data each
    column of ``X @ W + b`` is the one-vector product's, bit for bit."""
    X = make_matrix(layout, dtype)
    rng = np.random.default_rng(2)
    K = 4
    W, b, R = rng.standard_normal((X.shape[1], K)), rng.standard_normal(K), \
        rng.standard_normal((X.shape[0], K))
    A = X.toarray() if sp.issparse(X) else np.asarray(X)
    A = A.astype(np.float64)
    data = Data(X)
    Z, G = data.matvec(W, b), data.rmatvec(R)
    assert Z.shape == (X.shape[0], K) and G.shape == (X.shape[1], K)
    assert Z.dtype == G.dtype == np.float64
    rtol = 1e-12 if dtype == np.float64 or sp.issparse(X) else 1e-5
    np.testing.assert_allclose(Z, A @ W + b, rtol=rtol, atol=rtol * np.abs(A @ W).max())
    np.testing.assert_allclose(G, A.T @ R, rtol=rtol, atol=rtol * np.abs(A.T @ R).max())
    # the per-block helpers of the dask backend give the same
    np.testing.assert_array_equal(matvec(X, W, b), Z)
    np.testing.assert_allclose(rmatvec_transposed(X.T, R), G, rtol=1e-12, atol=1e-12)
    if sp.issparse(X) and data.products is not None:
        for c in range(K):
            np.testing.assert_array_equal(Z[:, c], data.matvec(W[:, c].copy(), b[c]))


@pytest.mark.parametrize("layout", ["csr", "csr_unsorted"])
def test_k_outputs_one_and_two_threads_give_the_same_bits(layout):
    X, _ = large_matrix(layout)
    p = Products.from_csr(X)
    rng = np.random.default_rng(4)
    W, R = rng.standard_normal((X.shape[1], 3)), rng.standard_normal((X.shape[0], 3))
    ref = p.matvec(W, 0.5, n_threads=1), p.rmatvec(R, n_threads=1)
    assert len(p.bounds) - 1 >= 2  # several row blocks
    for nt in (2, 3, 2 * MAX_BLOCKS):
        np.testing.assert_array_equal(p.matvec(W, 0.5, n_threads=nt), ref[0])
        np.testing.assert_array_equal(p.rmatvec(R, n_threads=nt), ref[1])
    # the one- and the K-column products keep buffers of their own shapes
    p.rmatvec(R[:, 0].copy())
    shapes = sorted(buf.shape for buf in p._free_buffers)
    assert shapes == sorted({buf.shape for buf in p._free_buffers})
    np.testing.assert_array_equal(p.rmatvec(R), ref[1])


def test_thread_count_follows_threadpoolctl():
    with threadpool_limits(1, user_api="openmp"):
        assert effective_n_threads() == 1
    X, data = large_matrix("csr")
    assert data.products.n_threads() == effective_n_threads()
    small = Data(make_matrix("csr", np.float64))
    assert not small.products.parallel
    assert small.products.n_threads() == 1


def test_n_blocks_depend_on_the_data_only():
    for work, n, d in [(10**8, 10**6, 10), (25 * 10**6, 5 * 10**5, 262_144),
                       (100, 3, 1000), (0, 0, 0), (10, 10, 0), (10**6, 7, 10)]:
        k = n_blocks(work, n, d)
        assert 1 <= k <= MAX_BLOCKS and k & (k - 1) == 0 and (k <= n or n == 0)
    assert n_blocks(25 * 10**6, 5 * 10**5, 262_144) == 4
    X = make_matrix("csr", np.float64, n=4000, d=60, density=0.5)
    bounds = Products.from_csr(X).bounds
    assert bounds[0] == 0 and bounds[-1] == X.shape[0] and np.all(np.diff(bounds) >= 0)
    # blocks of about equal numbers of entries
    nnz = np.diff(X.indptr[bounds])
    assert nnz.max() - nnz.min() <= 2 * np.diff(X.indptr).max()
    assert MIN_PARALLEL_WORK > 0


def test_buffers_are_reused_and_never_shared():
    X, data = large_matrix("csr")
    w, r = vectors(X)
    ref = data.rmatvec(r)
    (buffers,) = data.products._free_buffers
    data.rmatvec(r)
    assert data.products._free_buffers == [buffers]
    # one-vs-rest with n_jobs runs batch fits over one Data from several threads
    rs = [np.random.default_rng(s).standard_normal(X.shape[0]) for s in range(4)]
    expected = [data.rmatvec(ri) for ri in rs]
    errors = []

    def work(i):
        for _ in range(20):
            if not np.array_equal(data.rmatvec(rs[i]), expected[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_array_equal(data.rmatvec(r), ref)


# ----------------------------------------------------------------------------
# batch mode
def scipy_products(monkeypatch):
    """Make Data's products those of NumPy/SciPy (in float64), as a reference."""

    def mv(self, w, b=0.0):
        return np.asarray(self.X.astype(np.float64) @ w).ravel() + b

    def rmv(self, r):
        return np.asarray(self.X.astype(np.float64).T @ r).ravel()

    monkeypatch.setattr(Data, "matvec", mv)
    monkeypatch.setattr(Data, "rmatvec", rmv)


@pytest.mark.parametrize("layout", ["csr", "dense_c"])
@pytest.mark.parametrize("Est, loss", [(GDRegressor, "squared_error"),
                                       (GDClassifier, "log_loss"),
                                       (GDClassifier, "hinge")])
def test_batch_fit_matches_scipy_products(layout, Est, loss, monkeypatch):
    X = make_matrix(layout, np.float64, n=400, d=20, density=0.6)
    rng = np.random.default_rng(0)
    score = np.asarray(X @ rng.standard_normal(20)).ravel()
    y = score if Est is GDRegressor else (score > 0).astype(int)
    params = dict(mode="batch", loss=loss, alpha=1e-3, max_iter=300, tol=1e-8,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = Est(**params).fit(X, y)
        scipy_products(monkeypatch)
        ref = Est(**params).fit(X, y)
    if loss == "hinge":
        # smoothing with continuation, stopped at max_iter: rounding
        # differences grow along the path (with SciPy/NumPy products alone,
        # the CSR and dense fits of these data differ by 4e-6 in the
        # objective, 1e-3 in the coefficients); the objective stays put
        np.testing.assert_allclose(ours.loss_curve_[-1], ref.loss_curve_[-1],
                                   rtol=1e-4)
        return
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_norms_of_dense_and_csr_rows(dtype):
    # one pass per row, four partial sums: NumPy's norms to rounding, the
    # same matrix dense and CSR to rounding, and the same numbers on any
    # number of threads (a row is summed by one thread)
    from skgd._products_fast import csr_row_norms, dense_row_norms

    rng = np.random.RandomState(0)
    X = rng.randn(1003, 37) * (rng.rand(1003, 37) < 0.4)
    X[5] = 0.0
    X = X.astype(dtype)
    Xs = sp.csr_matrix(X)
    expected = np.einsum("ij,ij->i", X.astype(np.float64), X.astype(np.float64))
    out = {}
    for nt in (1, 2, 3):
        dense, csr = np.empty(1003), np.empty(1003)
        dense_row_norms(X, dense, nt)
        csr_row_norms(Xs.data, Xs.indptr, csr, nt)
        out[nt] = dense, csr
        np.testing.assert_allclose(dense, expected, rtol=1e-13)
        np.testing.assert_allclose(csr, expected, rtol=1e-13)
        assert dense[5] == csr[5] == 0.0
    for nt in (2, 3):
        np.testing.assert_array_equal(out[nt][0], out[1][0])
        np.testing.assert_array_equal(out[nt][1], out[1][1])
    # rows of every length up to 9 (the four sums' remainders)
    for d in range(10):
        Z = rng.randn(6, d).astype(dtype)
        got = np.empty(6)
        dense_row_norms(Z, got, 1)
        np.testing.assert_allclose(got, (Z.astype(np.float64) ** 2).sum(axis=1), rtol=1e-13)
