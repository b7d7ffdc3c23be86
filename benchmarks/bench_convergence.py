"""Progress per epoch: skgd's modes with defaults against scikit-learn's SGD and MLP.

For L2-regularised logistic regression,

    F(w, b) = mean log(1 + exp(-y (x.w + b))) + alpha / 2 ||w||^2,

prints F - F* after 1, 5 and 20 epochs (``max_iter=E, tol=None``, a fresh
fit for each E), then the fit with each model's own stopping rule (epochs,
seconds, F - F*).  F* comes from scikit-learn's ``LogisticRegression`` with
``C = 1 / (n alpha)`` and a tight tolerance.  Models, all at their defaults
but for the loss and ``alpha``:

* skgd ``mode="sgd"``, ``"minibatch"`` (``batch_size`` 32, the default, and
  256) and ``"batch"`` (an epoch of batch mode is one iteration: one or a
  few passes over the data);
* scikit-learn's ``SGDClassifier(loss="log_loss")``;
* scikit-learn's ``MLPClassifier(hidden_layer_sizes=())`` (logistic
  regression trained by Adam on minibatches of 200; its ``alpha`` is
  ``alpha`` times its batch size, 200, since it divides the penalty of a
  minibatch by the batch size: it minimises the same F), and the same with
  minibatches of 256 next to skgd's minibatch(256) with
  ``optimizer="momentum"`` and ``"adam"`` (issue 9's quality target: Adam at
  or below MLP's F - F* after 5 epochs).

Problems: LIBSVM's a9a (read from ``../shared/data`` or ``--data``; a
generated sparse problem of the same shape when it is absent) and a dense
standardised 200,000 x 100 problem.  Usage::

    python benchmarks/bench_convergence.py [--data PATH] [--alpha 1e-4] [--quick]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "a9a.libsvm"
EPOCHS = (1, 5, 20)


def load_a9a(path):
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


def load_dense(n_samples):
    X, y = make_classification(n_samples=n_samples, n_features=100, n_informative=20,
                               flip_y=0.05, random_state=0)
    name = f"dense {n_samples} x 100, standardised"
    return StandardScaler().fit_transform(X), y, name


def objective(X, y, alpha, coef, intercept):
    coef = np.ravel(coef)
    p = X @ coef + float(np.ravel(intercept)[0])
    ys = np.where(y > 0, 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -ys * p)) + 0.5 * alpha * coef @ coef)


def models(alpha, n):
    def gd(**kw):
        return lambda **fit: GDClassifier(loss="log_loss", alpha=alpha, random_state=0,
                                          **kw, **fit)
    return {
        "skgd sgd": gd(),
        "skgd minibatch(32)": gd(mode="minibatch"),
        "skgd minibatch(256)": gd(mode="minibatch", batch_size=256),
        "skgd batch": gd(mode="batch"),
        "skgd mb(256) momentum": gd(mode="minibatch", batch_size=256,
                                    optimizer="momentum"),
        "skgd mb(256) adam": gd(mode="minibatch", batch_size=256, optimizer="adam"),
        "sklearn SGDClassifier": lambda **fit: SGDClassifier(
            loss="log_loss", alpha=alpha, random_state=0, **fit),
        "sklearn MLP(hidden=())": lambda **fit: MLPClassifier(
            hidden_layer_sizes=(), alpha=alpha * min(200, n), random_state=0, **fit),
        "sklearn MLP adam(256)": lambda **fit: MLPClassifier(
            hidden_layer_sizes=(), batch_size=256, alpha=alpha * min(256, n),
            random_state=0, **fit),
    }


def mlp_weights(model):
    return model.coefs_[0].ravel(), model.intercepts_[0]


def weights(model):
    if isinstance(model, MLPClassifier):
        return mlp_weights(model)
    return model.coef_, model.intercept_


def epochs_of(model):
    return int(np.max(model.n_iter_))


def fit(make, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make(**params)
        start = time.perf_counter()
        model.fit(X, y)
        return model, time.perf_counter() - start


def run(X, y, name, alpha):
    n = X.shape[0]
    print(f"\n{name}: {n} x {X.shape[1]}, alpha={alpha:g}")
    ref = LogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=100000).fit(X, y)
    f_star = objective(X, y, alpha, ref.coef_, ref.intercept_)
    print(f"F* = {f_star:.6f} (LogisticRegression, tol=1e-12)")
    head = "".join(f"{'after ' + str(e):>11s}" for e in EPOCHS)
    print(f"{'F - F*':24s}{head} | {'own rule: epochs':>16s} {'seconds':>8s} {'F - F*':>9s}")
    gaps = {}
    for label, make in models(alpha, n).items():
        row = []
        for e in EPOCHS:
            stop = {"n_iter_no_change": 10**6} if "MLP" in label else {"tol": None}
            model, _ = fit(make, X, y, max_iter=e, **stop)
            row.append(objective(X, y, alpha, *weights(model)) - f_star)
        best, model = np.inf, None
        for _ in range(3):
            model, seconds = fit(make, X, y)
            best = min(best, seconds)
        own = objective(X, y, alpha, *weights(model)) - f_star
        gaps[label] = row
        cells = "".join(f"{g:11.2e}" for g in row)
        print(f"{label:24s}{cells} | {epochs_of(model):16d} {best:8.2f} {own:9.2e}")
    five = EPOCHS.index(5)
    ref_gap = gaps["sklearn SGDClassifier"][five]
    for label in ("skgd minibatch(32)", "skgd minibatch(256)"):
        print(f"{label} F - F* after 5 epochs / SGDClassifier's: "
              f"{gaps[label][five] / ref_gap:.3g}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--quick", action="store_true",
                        help="a 20,000-row dense problem instead of 200,000")
    args = parser.parse_args(argv)
    run(*load_a9a(args.data), args.alpha)
    run(*load_dense(20_000 if args.quick else 200_000), args.alpha)


if __name__ == "__main__":
    main()
