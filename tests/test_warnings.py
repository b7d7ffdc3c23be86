"""Warnings point at the line that called fit, not at skgd or scikit-learn."""

import warnings

import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

X, y = make_classification(n_samples=60, random_state=0)


def _recorded(fit):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fit()
    return [x for x in w if issubclass(x.category, (ConvergenceWarning, UserWarning))]


@pytest.mark.parametrize("est", [GDClassifier(max_iter=1, random_state=0),
                                 GDRegressor(max_iter=1, random_state=0),
                                 GDClassifier(max_iter=1, mode="batch")])
@pytest.mark.parametrize("pipeline", [False, True], ids=["bare", "pipeline"])
def test_convergence_warning_points_at_the_callers_line(est, pipeline):
    model = make_pipeline(StandardScaler(), est) if pipeline else est
    w = _recorded(lambda: model.fit(X, y))
    assert [x.category for x in w] == [ConvergenceWarning]
    assert w[0].filename == __file__


def test_perceptron_batch_warning_points_at_the_callers_line():
    w = _recorded(lambda: GDClassifier(loss="perceptron", mode="batch",
                                       max_iter=5, tol=None).fit(X, y))
    assert [x.category for x in w] == [UserWarning]
    assert w[0].filename == __file__


def test_dask_fit_warning_points_at_the_callers_line():
    da = pytest.importorskip("dask.array")
    Xd, yd = da.from_array(X, chunks=20), da.from_array(y, chunks=20)
    w = _recorded(lambda: GDClassifier(mode="batch", max_iter=1).fit(Xd, yd))
    assert [x.category for x in w] == [ConvergenceWarning]
    assert w[0].filename == __file__
