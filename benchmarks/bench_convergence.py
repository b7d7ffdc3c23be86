"""Time to the optimum: skgd's modes against scikit-learn, side by side.

On a real sparse data set (LIBSVM's a9a, read from ``../shared/data`` or the
path given with ``--data``; a generated sparse problem of the same shape
when it is absent), fit L2-regularised logistic regression and report, for
each model, the fit time and the relative gap of its objective

    F(w, b) = mean log(1 + exp(-y (x.w + b))) + alpha / 2 ||w||^2

to the optimum computed by scikit-learn's ``LogisticRegression`` with a
tight tolerance.  Models: skgd batch / minibatch / sgd (averaged), and
scikit-learn's ``LogisticRegression`` (lbfgs, default tolerance) and
``SGDClassifier`` (averaged).  Usage::

    python benchmarks/bench_convergence.py [--data PATH] [--alpha 1e-4]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier

from skgd import GDClassifier

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "a9a.libsvm"


def load(path):
    if path.exists():
        X, y = load_svmlight_file(str(path))
        X = sp.csr_matrix(X)
        # 32-bit indices: scikit-learn's SGDClassifier refuses 64-bit ones
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
        return X, np.where(y > 0, 1, 0), f"a9a ({path})"
    rng = np.random.RandomState(0)
    n, d, nnz = 48842, 123, 14
    cols = rng.randint(0, d, size=(n, nnz))
    X = sp.csr_matrix((np.ones(n * nnz), cols.ravel(), np.arange(0, n * nnz + 1, nnz)),
                      shape=(n, d))
    X.sum_duplicates()
    X.data[:] = 1.0
    w = rng.randn(d)
    y = (X @ w + rng.logistic(size=n) > 0).astype(int)
    return X, y, "generated a9a-like sparse data (a9a not found)"


def objective(X, y, alpha, coef, intercept):
    p = X @ np.ravel(coef) + intercept
    ys = np.where(y > 0, 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -ys * p)) + 0.5 * alpha * np.dot(
        np.ravel(coef), np.ravel(coef)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--alpha", type=float, default=1e-4)
    args = parser.parse_args(argv)
    X, y, name = load(args.data)
    n, alpha = X.shape[0], args.alpha
    print(f"{name}: {X.shape[0]} x {X.shape[1]}, {X.nnz / n:.1f} nonzeros/row, "
          f"alpha={alpha:g} (C = 1 / (n alpha) = {1 / (n * alpha):.3g})")
    ref = LogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=100000).fit(X, y)
    f_star = objective(X, y, alpha, ref.coef_, ref.intercept_[0])

    models = {
        "skgd batch (defaults)": GDClassifier(loss="log_loss", alpha=alpha, mode="batch"),
        "skgd minibatch(256), averaged": GDClassifier(
            loss="log_loss", alpha=alpha, mode="minibatch", batch_size=256,
            average=True, random_state=0),
        "skgd sgd, averaged": GDClassifier(
            loss="log_loss", alpha=alpha, average=True, random_state=0),
        "sklearn LogisticRegression (lbfgs)": LogisticRegression(C=1 / (n * alpha)),
        "sklearn SGDClassifier, averaged": SGDClassifier(
            loss="log_loss", alpha=alpha, average=True, random_state=0),
    }
    print(f"{'model':36s} {'seconds':>8s} {'epochs':>7s} {'rel. gap to F*':>15s}")
    times = {}
    for label, model in models.items():
        best = np.inf
        for _ in range(3):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X, y)
                best = min(best, time.perf_counter() - start)
        times[label] = best
        gap = (objective(X, y, alpha, model.coef_, model.intercept_[0]) - f_star) / f_star
        n_iter = int(np.max(model.n_iter_))
        print(f"{label:36s} {best:8.3f} {n_iter:7d} {gap:15.2e}")
    ratio = times["skgd batch (defaults)"] / times["sklearn LogisticRegression (lbfgs)"]
    print(f"skgd batch / LogisticRegression time: {ratio:.2f}")


if __name__ == "__main__":
    main()
