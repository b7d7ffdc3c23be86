"""Progress through scikit-learn's callback API: epochs are sub-tasks."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor

callback = pytest.importorskip(
    "sklearn.callback", reason="scikit-learn's callback API is new in 1.9"
)


class Recorder:
    """A minimal FitCallback that records the task tree."""

    max_propagation_depth = None  # auto-propagated through meta-estimators

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.begins, self.ends = [], []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        self.begins.append((context.estimator_name, context.task_name))

    def on_fit_task_end(self, estimator, context, fitted_estimator=None):
        self.ends.append((context.estimator_name, context.task_name))
        if fitted_estimator is not None and context.task_name.startswith("epoch"):
            self.last_fitted = fitted_estimator
        epochs = sum(name.startswith("epoch") for _, name in self.ends)
        return self.stop_after is not None and epochs >= self.stop_after


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=200, n_classes=3, n_informative=4, random_state=0)
    return X, y


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_epochs_are_subtasks(data, mode):
    X, y = data
    rec = Recorder()
    clf = GDClassifier(mode=mode, max_iter=4, tol=None).set_callbacks(rec).fit(X, y)
    epochs = [name for _, name in rec.ends if name.startswith("epoch")]
    # one-vs-rest: 3 binary problems of 4 epochs
    assert epochs == ["epoch 1", "epoch 2", "epoch 3", "epoch 4"] * 3
    assert sum(name.endswith("vs rest") for _, name in rec.ends) == 3
    assert rec.begins[0] == ("GDClassifier", "fit") and rec.ends[-1][1] == "fit"
    assert clf.n_iter_ == 4


def test_callback_can_stop_epochs(data):
    X, y = data
    rec = Recorder(stop_after=2)
    reg = GDRegressor(max_iter=50, tol=None).set_callbacks(rec).fit(X, y.astype(float))
    assert reg.n_iter_ == 2


def test_scoring_monitor_sees_each_epoch(data):
    X, y = data
    monitor = callback.ScoringMonitor(scoring="accuracy")
    GDClassifier(mode="minibatch", max_iter=3, tol=None).set_callbacks(monitor).fit(X, y)
    log = monitor.get_logs()
    assert log.estimator_name == "GDClassifier"
    assert len(log.data) >= 3


def test_progress_inside_pipeline_and_grid_search(data):
    X, y = data
    rec = Recorder()
    pipe = make_pipeline(StandardScaler(), GDClassifier(max_iter=3, tol=None))
    pipe.set_callbacks(rec)
    pipe.fit(X, y)
    assert ("GDClassifier", "epoch 3") in rec.ends

    rec = Recorder()
    grid = GridSearchCV(
        GDClassifier(mode="minibatch", max_iter=2, tol=None),
        {"batch_size": [8, 16]}, cv=2,
    )
    grid.set_callbacks(rec)
    grid.fit(X, y)
    # 2 candidates x 2 folds + the refit, 3 binary problems, 2 epochs each
    n_epochs = sum(name.startswith("epoch") for est, name in rec.ends if est == "GDClassifier")
    assert n_epochs == (2 * 2 + 1) * 3 * 2


def test_no_callbacks_no_state(data):
    X, y = data
    clf = GDClassifier(max_iter=2, tol=None).fit(X, y)
    assert not hasattr(clf, "_callback_fit_ctx")
    np.testing.assert_array_equal(clf.predict(X).shape, y.shape)


def test_works_without_sklearn_callback_module():
    # a scikit-learn without sklearn.callback: skgd falls back to a null
    # context and fits as usual (run in a fresh interpreter)
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        # scikit-learn's own modules import sklearn.callback in 1.9: load them
        # first, then make the import fail for skgd, as with sklearn < 1.9
        import sklearn.linear_model, sklearn.metrics, sklearn.model_selection
        sys.modules["sklearn.callback"] = None
        import numpy as np
        from skgd import GDClassifier
        from skgd._callbacks import NullContext
        est = GDClassifier(max_iter=3, tol=None)
        assert isinstance(est._init_callback_context(), NullContext)
        X = np.random.RandomState(0).randn(40, 3)
        y = (X[:, 0] > 0).astype(int)
        # the fit itself, without scikit-learn's _fit_context (which imports
        # sklearn.callback in 1.9)
        GDClassifier.fit.__wrapped__(est, X, y)
        assert est.n_iter_ == 3 and est.score(X, y) > 0.8
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
