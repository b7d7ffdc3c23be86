"""Every loss in every mode with its defaults, on real and text-like data.

Oracle: sgd mode, which is scikit-learn's ``SGDClassifier`` /
``SGDRegressor`` step for step.  With default parameters, minibatch mode
(at its default ``batch_size`` and at 256) and batch mode must give a
held-out score within 2 points of sgd mode's (accuracy in %, R^2 x 100), a
minibatch training objective at most 1.3 times sgd mode's, and a batch
objective no worse than the best stochastic run (and, where the exact
optimum itself scores more than 2 points below sgd mode's early-stopped
model, a score within 2 points of the optimum's, from a tight batch fit).
The objective is computed here with NumPy from the fitted coefficients (the
sum of the one-vs-rest objectives for several classes), independently of
skgd's losses.
"""

import functools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, GDRegressor
from skgd._demo import make_sparse_text

CLASSIFIER_LOSSES = [
    "hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
    "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive",
]
REGRESSOR_LOSSES = [
    "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive",
]
MODES = {
    "minibatch": dict(mode="minibatch"),
    "minibatch-256": dict(mode="minibatch", batch_size=256),
    "batch": dict(mode="batch"),
}
EPSILON = 0.1  # the default of both estimators

#: cases whose objective is known to end above the bound (none: minibatch(256)
#: on the text problem with epsilon_insensitive ended at 1.37x sgd mode's
#: while the plateau rule's margin was tol times the starting objective)
KNOWN_OBJECTIVE_GAPS = set()


def _numpy_loss(name, y, p):
    z = y * p
    r = p - y
    a = np.abs(r)
    return {
        "hinge": lambda: np.maximum(0.0, 1.0 - z),
        "perceptron": lambda: np.maximum(0.0, -z),
        "log_loss": lambda: np.logaddexp(0.0, -z),
        "squared_hinge": lambda: np.maximum(0.0, 1.0 - z) ** 2,
        "modified_huber": lambda: np.where(z >= -1.0, np.maximum(0.0, 1.0 - z) ** 2,
                                           -4.0 * z),
        "squared_error": lambda: 0.5 * r ** 2,
        "huber": lambda: np.where(a <= EPSILON, 0.5 * r ** 2,
                                  EPSILON * a - 0.5 * EPSILON ** 2),
        "epsilon_insensitive": lambda: np.maximum(0.0, a - EPSILON),
        "squared_epsilon_insensitive": lambda: np.maximum(0.0, a - EPSILON) ** 2,
    }[name]()


def _objective(est, X, y):
    """Mean loss plus alpha / 2 ||w||^2, summed over the one-vs-rest outputs."""
    coef = np.atleast_2d(est.coef_)
    intercept = np.atleast_1d(est.intercept_)
    if not hasattr(est, "classes_"):
        targets = [y]
    elif len(est.classes_) == 2:
        targets = [np.where(y == est.classes_[1], 1.0, -1.0)]
    else:
        targets = [np.where(y == c, 1.0, -1.0) for c in est.classes_]
    total = 0.0
    for k, t in enumerate(targets):
        p = np.asarray(X @ coef[k]).ravel() + intercept[k]
        penalty = 0.5 * est.alpha * coef[k] @ coef[k]
        total += _numpy_loss(est.loss, t, p).mean() + penalty
    return total


def _split(X, y, stratify=None):
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=stratify)


def _standardised(X, y, scale_y=False):
    Xtr, Xte, ytr, yte = _split(X, y, stratify=None if scale_y else y)
    sx = StandardScaler().fit(Xtr)
    if scale_y:
        mean, std = ytr.mean(), ytr.std()
        ytr, yte = (ytr - mean) / std, (yte - mean) / std
    return sx.transform(Xtr), sx.transform(Xte), ytr, yte


@functools.lru_cache(maxsize=None)
def _dataset(task, name):
    if name == "text":
        X, y = make_sparse_text(n_samples=3000, n_features=2**12, random_state=0)
        if task == "reg":
            rng = np.random.RandomState(0)
            score = X @ rng.randn(X.shape[1])
            y = (score - score.mean()) / score.std() + 0.1 * rng.randn(len(score))
        return _split(X, y)
    if task == "clf":
        loader = {"breast_cancer": load_breast_cancer, "wine": load_wine,
                  "digits": load_digits}[name]
        return _standardised(*loader(return_X_y=True))
    if name == "wine_alcohol":
        # a real regression target: the alcohol content from the other columns
        X = load_wine().data
        return _standardised(X[:, 1:], X[:, 0], scale_y=True)
    return _standardised(*load_diabetes(return_X_y=True), scale_y=True)


@functools.lru_cache(maxsize=None)
def _fit(task, name, loss, mode):
    Xtr, Xte, ytr, yte = _dataset(task, name)
    Est = GDClassifier if task == "clf" else GDRegressor
    kw = {"sgd": {}, "optimum": dict(mode="batch", tol=1e-9, max_iter=20000)}.get(
        mode, MODES.get(mode))
    with warnings.catch_warnings():
        # sgd mode's 'optimal' first steps on squared losses warn, as
        # scikit-learn's do; that is sgd mode's business, not this test's
        warnings.simplefilter("ignore")
        est = Est(loss=loss, random_state=0, **kw).fit(Xtr, ytr)
    return 100 * est.score(Xte, yte), _objective(est, Xtr, ytr)


CASES = [
    ("clf", name, loss, mode)
    for name in ["breast_cancer", "wine", "digits", "text"]
    for loss in CLASSIFIER_LOSSES
    for mode in MODES
    # batch mode minimises the penalised perceptron criterion, whose minimum
    # is w = 0; it says so with a warning (test_modes)
    if not (loss == "perceptron" and mode == "batch")
] + [
    ("reg", name, loss, mode)
    for name in ["diabetes", "wine_alcohol", "text"]
    for loss in REGRESSOR_LOSSES
    for mode in MODES
]


def _marks(case):
    if case in KNOWN_OBJECTIVE_GAPS:
        reason = "objective gap, see KNOWN_OBJECTIVE_GAPS"
        return [pytest.mark.xfail(strict=True, reason=reason)]
    return []


@pytest.mark.parametrize(
    "task, name, loss, mode",
    [pytest.param(*c, marks=_marks(c), id="-".join(c)) for c in CASES],
)
def test_defaults_match_or_beat_sgd_mode(task, name, loss, mode):
    score, obj = _fit(task, name, loss, mode)
    sgd_score, sgd_obj = _fit(task, name, loss, "sgd")
    if score < sgd_score - 2.0 and (mode == "batch" or obj <= sgd_obj):
        # the optimum itself may generalise worse than sgd mode's early
        # stop (wine_alcohol: Ridge's optimum scores 45.8, sgd mode 49.2);
        # batch mode, and a stochastic fit nearer the optimum than sgd
        # mode's (a lower objective: minibatch's steps from the data reach
        # 46.7 there), must then score as the optimum does
        opt_score, _ = _fit(task, name, loss, "optimum")
        assert score >= opt_score - 2.0, (score, opt_score, sgd_score)
    else:
        assert score >= sgd_score - 2.0, (score, sgd_score)
    if loss == "perceptron":
        # the penalised perceptron criterion (minimum at w = 0) measures
        # the scale of w, not the model: only the score is compared
        return
    if mode == "batch":
        best = min(_fit(task, name, loss, m)[1] for m in ("sgd", "minibatch",
                                                          "minibatch-256"))
        assert obj <= best, (obj, best)
    else:
        assert obj <= 1.3 * sgd_obj, (obj, sgd_obj)


@pytest.mark.parametrize("mode", ["sgd", "minibatch"])
def test_adagrad_takes_its_own_step_under_the_regressors_default(mode):
    """Adagrad's steps decay by themselves: under the regressor's default
    ``learning_rate="invscaling"`` it takes its constant step (0.1, as under
    'optimal'), the same updates as ``learning_rate="constant", eta0=0.1``,
    and reaches the least-squares fit that plain steps reach."""
    rng = np.random.RandomState(0)
    X = StandardScaler().fit_transform(rng.randn(200, 10))
    y = 0.9 * X[:, 0] + 0.45 * rng.randn(200)
    kw = dict(mode=mode, optimizer="adagrad", random_state=0, max_iter=5, tol=None)
    default = GDRegressor(**kw).fit(X, y)
    constant = GDRegressor(learning_rate="constant", eta0=0.1, **kw).fit(X, y)
    np.testing.assert_array_equal(default.coef_, constant.coef_)
    np.testing.assert_array_equal(default.intercept_, constant.intercept_)
    # RMSprop and Adam keep the schedule's steps under 'invscaling'
    adam = GDRegressor(mode=mode, optimizer="adam", learning_rate="invscaling",
                       random_state=0, max_iter=5, tol=None).fit(X, y)
    adam_constant = GDRegressor(mode=mode, optimizer="adam", learning_rate="constant",
                                eta0=0.01, random_state=0, max_iter=5, tol=None).fit(X, y)
    assert not np.array_equal(adam.coef_, adam_constant.coef_)
    # with defaults, the fit stops at the least-squares optimum's quality
    fitted = GDRegressor(mode=mode, optimizer="adagrad", random_state=0).fit(X, y)
    best = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y, rcond=None)[0]
    r2_best = 1 - np.mean((np.c_[X, np.ones(len(X))] @ best - y) ** 2) / np.var(y)
    assert fitted.score(X, y) > r2_best - 0.01
