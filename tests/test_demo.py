"""The demo (``python -m skgd``): its gap to the optimum and its table."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier
from skgd._demo import _optimum, main, objective


def test_objective_and_optimum_agree_with_an_exact_batch_fit():
    X, y = load_digits(n_class=3, return_X_y=True)
    X = StandardScaler().fit_transform(X)
    f_star = _optimum(X, y)
    # skgd's batch solver, run to a tight tolerance, reaches the same optimum
    # as LogisticRegression (two independent solvers of the same F)
    exact = GDClassifier(loss="log_loss", alpha=1e-4, mode="batch", tol=1e-12,
                         max_iter=10_000).fit(X, y)
    gap = objective(X, y, exact.coef_, exact.intercept_) - f_star
    assert abs(gap) <= 1e-8 * f_star
    # any other weights are above it
    rough = GDClassifier(loss="log_loss", alpha=1e-4, max_iter=2, tol=None,
                         random_state=0).fit(X, y)
    assert objective(X, y, rough.coef_, rough.intercept_) > f_star + 1e-6
    # the objective by hand, binary problem (classes[1] against classes[0])
    w, b = np.arange(X.shape[1]) / 100.0, 0.5
    keep = y < 2
    margins = np.where(y[keep] == 1, 1.0, -1.0) * (X[keep] @ w + b)
    by_hand = np.mean(np.log1p(np.exp(-margins))) + 0.5e-4 * w @ w
    assert objective(X[keep], y[keep], w[None, :], [b]) == pytest.approx(by_hand,
                                                                        rel=1e-14)


def test_demo_table(capsys):
    rows = main(["--max-iter", "3"])
    out = capsys.readouterr().out
    assert [(r["dataset"], r["model"]) for r in rows] == [
        (d, m) for d in ("digits", "text")
        for m in ("skgd sgd", "skgd minibatch", "skgd batch", "sklearn SGDClassifier")
    ]
    for r in rows:
        assert r["epochs"] == 3  # every model capped at --max-iter
        assert r["gap"] > 0 and r["seconds"] > 0 and 0.5 < r["accuracy"] <= 1
    for dataset in ("digits", "text"):
        sgd, sk = (next(r for r in rows if r["dataset"] == dataset
                        and r["model"] == m)
                   for m in ("skgd sgd", "sklearn SGDClassifier"))
        # the same shuffling stream: the same model as scikit-learn's
        assert sgd["gap"] == sk["gap"] and sgd["accuracy"] == sk["accuracy"]
    for words in ("best of 3", "one-vs-rest", "F - F*", "shuffling stream",
                  "standardised", "generated", "0.0e+00 (digits), 0.0e+00 (text)"):
        assert words in out
