"""Warnings point at the line that called fit, not at skgd or scikit-learn."""

import os
import warnings

import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
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


@pytest.mark.parametrize("mode", ["sgd", "batch"])
def test_warnings_of_a_sequential_search_point_at_the_callers_line(mode):
    # n_jobs=None: scikit-learn runs the fits through joblib in this thread;
    # every fit's warning points here, not at joblib/parallel.py
    search = GridSearchCV(GDClassifier(mode=mode, max_iter=1, random_state=0),
                          {"alpha": [1e-4, 1e-3]}, cv=2)
    w = _recorded(lambda: search.fit(X, y))
    assert [x.category for x in w] == [ConvergenceWarning] * (2 * 2 + 1)
    assert {x.filename for x in w} == {__file__}


def test_warnings_of_worker_threads_point_at_joblib():
    # a worker thread's stack holds no line of the user's: joblib's frame
    # that called fit, never "sys" or the threading module
    from joblib import parallel_config

    search = GridSearchCV(GDClassifier(max_iter=1, random_state=0),
                          {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2, refit=False)
    with parallel_config(backend="threading"):
        w = _recorded(lambda: search.fit(X, y))
    assert [x.category for x in w] == [ConvergenceWarning] * 4
    assert all(os.sep + "joblib" + os.sep in x.filename for x in w), [x.filename for x in w]
