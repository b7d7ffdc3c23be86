"""Property tests (hypothesis): invariants that hold on any small data set.

Each property runs a bounded number of examples so that the module stays
fast; hypothesis shrinks a failing data set to a small one.
"""

import numpy as np
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from skgd import GDClassifier, GDRegressor  # noqa: E402

MODES = ["sgd", "minibatch", "batch"]
PROPERTY = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


@st.composite
def problems(draw, min_rows=4, max_rows=30, max_features=6):
    """A dense float64 ``X`` of moderate values (with exact zeros) and labels."""
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, max_features))
    values = st.one_of(st.just(0.0), st.floats(-10, 10, allow_nan=False))
    X = draw(arrays(np.float64, (n, d), elements=values))
    y = np.arange(n) % 2  # both classes, whatever X is
    draw(st.randoms()).shuffle(y)
    return X, np.asarray(y)


def fit_kwargs(mode):
    return dict(mode=mode, max_iter=5, tol=None, random_state=0, batch_size=4,
                learning_rate="constant", eta0=0.01)


@PROPERTY
@given(data=problems(), mode=st.sampled_from(["minibatch", "batch"]))
def test_dense_equals_csr(data, mode):
    # (sgd mode damps the intercept on CSR input as scikit-learn: not equal)
    X, y = data
    # Domain: no constant column.  A constant column is collinear with the
    # intercept, and hypothesis found that this singular design amplifies
    # the rounding of the two summation orders to ~2e-10 relative.
    assume(np.all(np.ptp(X, axis=0) > 0))
    dense = GDClassifier(**fit_kwargs(mode)).fit(X, y)
    sparse = GDClassifier(**fit_kwargs(mode)).fit(sp.csr_matrix(X), y)
    # relative to the whole model: a weight that is zero in exact arithmetic
    # (a constant column next to the intercept) is rounding noise in both
    a = np.r_[dense.coef_.ravel(), dense.intercept_]
    b = np.r_[sparse.coef_.ravel(), sparse.intercept_]
    assert np.linalg.norm(a - b) <= 1e-10 * max(np.linalg.norm(a), 1e-300)


@PROPERTY
@given(data=problems(), mode=st.sampled_from(MODES))
def test_float32_close_to_float64(data, mode):
    X, y = data
    kw = dict(fit_kwargs(mode), loss="log_loss")
    c32 = GDClassifier(**kw).fit(X.astype(np.float32), y)
    c64 = GDClassifier(**kw).fit(X, y)
    assert c32.coef_.dtype == np.float32
    np.testing.assert_allclose(c32.coef_, c64.coef_, rtol=1e-3, atol=1e-4)


@PROPERTY
@given(data=problems(), mode=st.sampled_from(MODES), seed=st.integers(0, 2**31 - 1))
def test_same_random_state_same_model(data, mode, seed):
    X, y = data
    kw = dict(fit_kwargs(mode), random_state=seed)
    a = GDRegressor(**kw).fit(X, y)
    b = GDRegressor(**kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)


@PROPERTY
@given(data=problems(), mode=st.sampled_from(MODES),
       X_new=arrays(np.float64, (5, 6),
                    elements=st.floats(allow_nan=False, allow_infinity=False)))
def test_predict_never_crashes_on_finite_input(data, mode, X_new):
    X, y = data
    clf = GDClassifier(**fit_kwargs(mode)).fit(X, y)
    X_new = X_new[:, : X.shape[1]]
    with np.errstate(all="ignore"):
        pred = clf.predict(X_new)
        clf.decision_function(sp.csr_matrix(X_new))
    assert set(pred) <= set(clf.classes_)


# Batch mode minimises the weighted objective; with the default tol a fit of
# these small problems ends with the exact polish (skgd._batch), so a weight
# of k and k repeated rows give the same optimum (L2 log loss: strictly
# convex, one optimum).  With a fixed number of iterations (max_iter=20,
# tol=None) the two fits instead drift apart by ~2e-6 on degenerate data
# (identical rows with both labels), through rounding: the property is
# stated at the optimum.
@settings(PROPERTY, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=problems(max_rows=15), repeats=st.lists(st.integers(1, 3), min_size=15,
                                                    max_size=15))
def test_weight_k_equals_k_repeated_rows_in_batch_mode(data, repeats):
    X, y = data
    k = np.asarray(repeats[: len(y)])
    kw = dict(mode="batch", loss="log_loss", random_state=0)
    weighted = GDClassifier(**kw).fit(X, y, sample_weight=k.astype(float))
    repeated = GDClassifier(**kw).fit(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-7,
                               atol=1e-9)


@PROPERTY
@given(data=problems(min_rows=8), n_chunks=st.integers(1, 4))
def test_streaming_equals_one_epoch(data, n_chunks):
    # sgd mode without shuffling: the chunks, in order, are one epoch
    X, y = data
    kw = dict(shuffle=False, loss="log_loss", learning_rate="invscaling", eta0=0.01)
    full = GDClassifier(max_iter=1, tol=None, **kw).fit(X, y)
    stream = GDClassifier(**kw)
    for chunk in np.array_split(np.arange(len(y)), n_chunks):
        stream.partial_fit(X[chunk], y[chunk], classes=[0, 1])
    np.testing.assert_allclose(stream.coef_, full.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stream.intercept_, full.intercept_, rtol=1e-10,
                               atol=1e-12)
    assert stream.t_ == full.t_
