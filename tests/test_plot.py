"""LossCurveDisplay: data, labels, axes and keyword handling of the plots."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skgd import GDClassifier, GDRegressor, LossCurveDisplay  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def binary_data():
    return make_classification(n_samples=120, n_features=5, random_state=0)


@pytest.fixture(scope="module")
def multiclass_data():
    return make_classification(
        n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0
    )


@pytest.fixture(scope="module")
def regression_data():
    X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
    return X, y / np.std(y)


def _epochs(n):
    return np.arange(1, n + 1)


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_from_estimator_classifier(binary_data, mode):
    X, y = binary_data
    clf = GDClassifier(mode=mode, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(clf)

    assert isinstance(disp, LossCurveDisplay)
    assert_array_equal(disp.line_.get_xdata(), _epochs(len(clf.loss_curve_)))
    assert_allclose(disp.line_.get_ydata(), clf.loss_curve_)
    assert len(clf.loss_curve_) == clf.n_iter_
    assert disp.lines_ == [disp.line_]
    assert disp.line_.get_label() == f"GDClassifier ({mode})"
    assert disp.validation_line_ is None
    assert disp.validation_ax_ is None
    assert disp.ax_.get_xlabel() == "Epoch"
    assert disp.ax_.get_ylabel() == "Training objective"
    assert disp.figure_ is disp.ax_.figure
    # no twin axes without validation scores
    assert len(disp.figure_.axes) == 1
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == [
        f"GDClassifier ({mode})"
    ]


def test_from_estimator_regressor(regression_data):
    X, y = regression_data
    reg = GDRegressor(mode="minibatch", random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(reg)
    assert_allclose(disp.line_.get_ydata(), reg.loss_curve_)
    assert disp.line_.get_label() == "GDRegressor (minibatch)"
    assert disp.validation_line_ is None


@pytest.mark.parametrize("Est, data", [(GDClassifier, "binary_data"),
                                       (GDRegressor, "regression_data")])
def test_validation_line_with_early_stopping(Est, data, request):
    X, y = request.getfixturevalue(data)
    est = Est(mode="minibatch", early_stopping=True, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(est)

    assert_allclose(disp.line_.get_ydata(), est.loss_curve_)
    line = disp.validation_line_
    assert line is not None
    assert_array_equal(line.get_xdata(), _epochs(len(est.validation_scores_)))
    assert_allclose(line.get_ydata(), est.validation_scores_)
    assert line.get_label() == "Validation score"
    # the validation scores live on a secondary y axis sharing the epochs
    assert disp.validation_ax_ is not disp.ax_
    assert line.axes is disp.validation_ax_
    assert disp.validation_ax_.get_ylabel() == "Validation score"
    assert disp.ax_.get_ylabel() == "Training objective"
    assert disp.validation_ax_.get_shared_x_axes().joined(
        disp.ax_, disp.validation_ax_
    )
    assert len(disp.figure_.axes) == 2
    # a single legend, on the top axes, holding both lines
    assert disp.ax_.get_legend() is None
    texts = [t.get_text() for t in disp.validation_ax_.get_legend().get_texts()]
    assert texts == [f"{Est.__name__} (minibatch)", "Validation score"]


def test_validation_false_hides_scores(binary_data):
    X, y = binary_data
    clf = GDClassifier(mode="minibatch", early_stopping=True, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(clf, validation=False)
    assert disp.validation_line_ is None
    assert disp.validation_ax_ is None
    assert len(disp.figure_.axes) == 1


def test_ax_is_used(binary_data):
    X, y = binary_data
    clf = GDClassifier(mode="minibatch", early_stopping=True, random_state=0).fit(X, y)
    fig, (ax0, ax1) = plt.subplots(1, 2)
    disp = LossCurveDisplay.from_estimator(clf, ax=ax1)
    assert disp.ax_ is ax1
    assert disp.figure_ is fig
    assert disp.line_ in ax1.get_lines()
    assert not ax0.get_lines()
    assert disp.validation_ax_.figure is fig


def test_kwargs_are_passed(binary_data):
    X, y = binary_data
    clf = GDClassifier(mode="minibatch", early_stopping=True, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(
        clf, loss_kw={"color": "red", "lw": 3},
        validation_kw={"c": "green", "linestyle": ":", "label": "val acc"},
    )
    assert matplotlib.colors.same_color(disp.line_.get_color(), "red")
    assert disp.line_.get_linewidth() == 3
    val = disp.validation_line_
    # an alias ("c") overrides the default colour; other defaults are replaced
    assert matplotlib.colors.same_color(val.get_color(), "green")
    assert val.get_linestyle() == ":"
    assert val.get_label() == "val acc"


def test_name_overrides_default(binary_data):
    X, y = binary_data
    clf = GDClassifier(random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(clf, name="my model")
    assert disp.line_.get_label() == "my model"
    assert disp.estimator_name == "my model"
    # plot(name=...) overrides the stored name
    disp.plot(name="other")
    assert disp.line_.get_label() == "other"


def test_unfitted_estimator_raises():
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(GDClassifier())
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(GDRegressor())


def test_estimator_without_loss_curve_raises(binary_data):
    from sklearn.linear_model import LogisticRegression

    X, y = binary_data
    est = LogisticRegression().fit(X, y)
    with pytest.raises(TypeError, match="no loss_curve_ attribute"):
        LossCurveDisplay.from_estimator(est)


def test_multiclass_one_line_per_class(multiclass_data):
    X, y = multiclass_data
    clf = GDClassifier(mode="minibatch", early_stopping=True, random_state=0).fit(X, y)
    assert len(clf.loss_curves_) == 3
    disp = LossCurveDisplay.from_estimator(clf, loss_kw={"linewidth": 2})

    assert len(disp.lines_) == len(clf.classes_)
    assert disp.line_ == disp.lines_
    for line, curve, label in zip(disp.lines_, clf.loss_curves_, clf.classes_):
        assert_array_equal(line.get_xdata(), _epochs(len(curve)))
        assert_allclose(line.get_ydata(), curve)
        assert line.get_label() == f"class {label}"
        assert line.get_linewidth() == 2
    # loss_curve_ is the curve of the last one-vs-rest problem
    assert_allclose(disp.lines_[-1].get_ydata(), clf.loss_curve_)
    assert_allclose(disp.validation_line_.get_ydata(), clf.validation_scores_)
    legend = disp.validation_ax_.get_legend()
    assert legend.get_title().get_text() == "GDClassifier (minibatch)"
    assert [t.get_text() for t in legend.get_texts()] == [
        *(f"class {c}" for c in clf.classes_), "Validation score"
    ]


def test_multiclass_list_of_kwargs(multiclass_data):
    X, y = multiclass_data
    clf = GDClassifier(random_state=0).fit(X, y)
    colors = ["red", "green", "blue"]
    disp = LossCurveDisplay.from_estimator(
        clf, loss_kw=[{"color": c} for c in colors]
    )
    for line, c in zip(disp.lines_, colors):
        assert matplotlib.colors.same_color(line.get_color(), c)
    with pytest.raises(ValueError, match="one dict per curve"):
        LossCurveDisplay.from_estimator(clf, loss_kw=[{"color": "red"}])


def test_direct_construction():
    disp = LossCurveDisplay([3.0, 2.0, 1.5], validation_scores=[0.5, 0.7, 0.8])
    assert disp.plot() is disp
    assert_array_equal(disp.line_.get_xdata(), [1, 2, 3])
    assert_allclose(disp.line_.get_ydata(), [3.0, 2.0, 1.5])
    assert disp.line_.get_label() == "Training objective"
    assert_allclose(disp.validation_line_.get_ydata(), [0.5, 0.7, 0.8])

    # several curves of different lengths
    disp = LossCurveDisplay([[3.0, 2.0], [4.0, 3.0, 2.5]]).plot()
    assert [line.get_label() for line in disp.lines_] == ["curve 0", "curve 1"]
    assert_array_equal(disp.lines_[1].get_xdata(), [1, 2, 3])

    disp = LossCurveDisplay([[1.0], [2.0]], curve_labels=["a", "b"]).plot()
    assert [line.get_label() for line in disp.lines_] == ["a", "b"]


@pytest.mark.parametrize("loss_curve", [[], [[]], [[[1.0]]]])
def test_invalid_loss_curve(loss_curve):
    with pytest.raises(ValueError, match="loss_curve"):
        LossCurveDisplay(loss_curve).plot()


def test_missing_matplotlib_error_message(monkeypatch):
    import sys

    # `import matplotlib` raises ImportError when the module entry is None
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib.*pip install \"\.\[plots\]\""):
        LossCurveDisplay([1.0, 0.5]).plot()
    with pytest.raises(ImportError, match="LossCurveDisplay.from_estimator"):
        LossCurveDisplay.from_estimator(GDClassifier())


def test_import_skgd_does_not_import_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, skgd, skgd._plot; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
