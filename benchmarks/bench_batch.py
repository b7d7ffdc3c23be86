"""Batch mode against L-BFGS: time to a relative suboptimality of 1e-6.

Issue 12, item 4.  For each problem, ``F*`` comes from a very tight
reference fit; then, for a decreasing sequence of ``tol`` values, each
solver is fitted until ``(F - F*) / F* <= 1e-6``, and its time at the first
(largest) ``tol`` that gets there is reported (best of ``--repeat``), with
the ratio skgd / scikit-learn (target: at most 1.0).

* L2 log loss, ``alpha=1e-4``: skgd ``GDClassifier(mode="batch")`` against
  ``LogisticRegression(solver="lbfgs", C=1 / (n alpha))``, on a9a (from
  ``../shared/data``, see ``bench_convergence.py``) and the dense
  standardised problem of ``bench_convergence.py``;
* squared error with L2, ``alpha=1e-4``: ``GDRegressor(mode="batch")``
  against ``Ridge(solver="sparse_cg", alpha=n alpha)`` (Ridge's objective
  is the summed half squared error plus ``alpha / 2 ||w||^2``) on the
  sparse problem of ``bench_modes.py`` (``--quick``: 10x fewer rows).

Usage::

    python benchmarks/bench_batch.py [--quick] [--repeat 3] [--only a9a]
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
from bench_convergence import DEFAULT_DATA, load_a9a, load_dense
from bench_convergence import objective as log_objective
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from skgd import GDClassifier, GDRegressor

TARGET = 1e-6
TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12)


def squared_objective(X, y, alpha, coef, intercept):
    r = y - (X @ np.ravel(coef) + float(np.ravel(intercept)[0]))
    return float(0.5 * np.mean(r * r) + 0.5 * alpha * np.ravel(coef) @ np.ravel(coef))


def load_sparse(n_samples):
    rng = np.random.RandomState(0)
    d, nnz = 2**18, 50
    cols = rng.randint(0, d, size=(n_samples, nnz))
    X = sp.csr_matrix((rng.rand(n_samples * nnz), cols.ravel(),
                       np.arange(0, n_samples * nnz + 1, nnz)), shape=(n_samples, d))
    X.sum_duplicates()
    w = rng.randn(d)
    y = X @ w + 0.1 * rng.randn(n_samples)
    return X, y, f"sparse {n_samples} x {d}, {nnz} nnz/row"


def timed(make, tol, X, y, repeat):
    best, model = np.inf, None
    for _ in range(repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = make(tol)
            start = time.perf_counter()
            model.fit(X, y)
            best = min(best, time.perf_counter() - start)
    return model, best


def time_to_target(make, X, y, f, f_star, repeat):
    """(tol, seconds, relative gap) at the first tol that reaches TARGET."""
    for tol in TOLS:
        model, _ = timed(make, tol, X, y, 1)
        gap = (f(model) - f_star) / abs(f_star)
        if gap <= TARGET:
            _, seconds = timed(make, tol, X, y, repeat)
            return tol, seconds, gap
    return None, np.inf, gap


def run_case(name, X, y, f, ref, solvers, repeat):
    n = X.shape[0]
    print(f"\n{name}: {n} x {X.shape[1]}")
    f_star = f(ref().fit(X, y))
    print(f"F* = {f_star:.10f} (reference fit)")
    rows = {}
    for label, make in solvers.items():
        tol, seconds, gap = time_to_target(make, X, y, f, f_star, repeat)
        rows[label] = seconds
        print(f"  {label:34s} tol={tol!s:8s} {seconds:8.3f} s  (F - F*)/F* = {gap:.1e}")
    (a, ta), (b, tb) = rows.items()
    print(f"  ratio {a} / {b}: {ta / tb:.2f}  (target <= 1.0)")


def log_loss_case(X, y, name, alpha, repeat):
    n = X.shape[0]
    run_case(
        name + ", L2 log loss, alpha=1e-4", X, y,
        lambda m: log_objective(X, y, alpha, m.coef_, m.intercept_),
        lambda: LogisticRegression(C=1 / (n * alpha), tol=1e-14, max_iter=100000),
        {"skgd batch (L-BFGS)": lambda tol: GDClassifier(
            loss="log_loss", alpha=alpha, mode="batch", tol=tol, max_iter=100000),
         "LogisticRegression(lbfgs)": lambda tol: LogisticRegression(
            C=1 / (n * alpha), tol=tol, max_iter=100000)},
        repeat)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["a9a", "dense", "sparse"])
    args = parser.parse_args(argv)
    alpha = 1e-4
    cases = []
    if args.only in (None, "a9a"):
        cases.append(load_a9a(DEFAULT_DATA))
    if args.only in (None, "dense"):
        cases.append(load_dense(20_000 if args.quick else 200_000))
    for X, y, name in cases:
        log_loss_case(X, y, name, alpha, args.repeat)
    if args.only in (None, "sparse"):
        X, y, name = load_sparse(50_000 if args.quick else 500_000)
        n = X.shape[0]
        run_case(
            name + ", squared error + L2, alpha=1e-4", X, y,
            lambda m: squared_objective(X, y, alpha, m.coef_, m.intercept_),
            lambda: Ridge(alpha=n * alpha, solver="sparse_cg", tol=1e-14, max_iter=100000),
            {"skgd batch (L-BFGS)": lambda tol: GDRegressor(
                alpha=alpha, mode="batch", tol=tol, max_iter=100000),
             "Ridge(sparse_cg)": lambda tol: Ridge(
                alpha=n * alpha, solver="sparse_cg", tol=tol, max_iter=100000)},
            args.repeat)


if __name__ == "__main__":
    main()
