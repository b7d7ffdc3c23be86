"""Time one epoch of each skgd mode against scikit-learn's SGD.

Everything runs in one process on the same (generated, seeded) data:

* (a) dense  200,000 x 100 float64, C-ordered;
* (b) sparse CSR 500,000 x 262,144 float64, about 50 nonzeros per row
  (rows normalised to unit L2 norm, as a tf-idf matrix).

For each data set, a classifier (``hinge``) and a regressor
(``squared_error``) are timed:

* scikit-learn's ``SGDClassifier`` / ``SGDRegressor`` fit with
  ``max_iter=1, tol=None, shuffle=True`` (one epoch);
* skgd ``mode="sgd"`` and ``mode="minibatch"`` (``batch_size=256``) fits with
  ``max_iter=1, tol=None`` and their ratio to scikit-learn (targets of
  issue 12: sgd <= 0.5, minibatch <= 0.35); the minibatch fit also on one
  OpenMP thread (``threadpoolctl``), and against a batch iteration
  (target <= 1.5);
* skgd ``mode="batch"``: one iteration of :class:`skgd._modes.BatchRunner`
  (``runner.epoch()`` timed directly after construction, so the power
  iteration of the set-up is excluded) against ``X @ w`` plus ``X.T @ r``
  with NumPy/SciPy on the same data (target <= 1.5);

and, on the sparse data, the sgd-mode epoch with ``average=True`` against
``average=False`` (target <= 1.3), and the minibatch(256) epoch with each
optimizer against plain steps (target <= 1.3).

(c) Small dense data: scikit-learn's digits (1,797 x 64, standardised),
whole fits at the defaults (ten one-vs-rest problems, stopped by the
rule), sgd mode against ``SGDClassifier`` with the same ``penalty`` (L1,
elastic-net, L2; target of issue 12 for L1 and elastic-net: <= 1.0).

Timings are wall-clock, the best (minimum) of ``--repeat`` runs (3 by
default).  The runs are interleaved (one run of every case, then the next
round) so that a burst of load from other processes does not fall on one
case only.  A batch figure is the mean over ``--batch-iters`` iterations.
A fit's line also gives, in brackets, the time spent in its compiled epoch
function (scikit-learn's ``_plain_sgd``, skgd's ``run_epoch``): the rest of
the fit is the Python around it (validation, shuffling, step sizes,
set-up).  The header lists the BLAS libraries (threadpoolctl) and the load
average: with other processes running, timings are noisy, and multithreaded
BLAS calls most of all.  ``--quick`` divides the number of rows by 10.

Usage::

    python benchmarks/bench_modes.py [--quick] [--repeat 3] [--only sparse]
"""

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor

import skgd
from skgd import GDClassifier, GDRegressor
from skgd import _modes as skgd_modes
from skgd._modes import BatchRunner, Data, Problem

TARGETS = {"sgd": 0.5, "minibatch": 0.35, "minibatch_vs_batch": 1.5, "batch": 1.5,
           "average": 1.3, "optimizer": 1.3, "small": 1.0}
OPTIMIZERS = ("momentum", "nesterov", "adagrad", "rmsprop", "adam")
SEED = 0


# ----------------------------------------------------------------------------
# data
def make_dense(n_samples, n_features=100, seed=SEED):
    """Standard normal features; linear targets with noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    w = rng.standard_normal(n_features) / np.sqrt(n_features)
    margin = X @ w + 0.5
    noise = rng.standard_normal(n_samples)
    y_clf = (margin + 0.3 * noise > 0).astype(np.int64)
    y_reg = margin + 0.1 * noise
    return X, y_clf, y_reg


def make_sparse(n_samples, n_features=262_144, nnz_per_row=50, seed=SEED):
    """CSR with ``nnz_per_row`` uniform random columns per row (duplicates merged).

    Column indices are drawn in one block, sorted per row, and the rare
    duplicates (about 0.5% of the rows have one) are summed by SciPy, so a
    row has ``nnz_per_row`` or slightly fewer entries.  Values are uniform
    in (0, 1) and every row is scaled to unit L2 norm.
    """
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n_features, size=(n_samples, nnz_per_row), dtype=np.int32)
    indices.sort(axis=1)
    nnz = n_samples * nnz_per_row
    indptr = np.arange(0, nnz + 1, nnz_per_row, dtype=np.int32)
    values = rng.random(nnz) + 1e-3
    X = sp.csr_matrix((values, indices.ravel(), indptr), shape=(n_samples, n_features))
    X.sum_duplicates()
    row_nnz = np.diff(X.indptr)
    norms = np.sqrt(np.add.reduceat(X.data * X.data, X.indptr[:-1]))
    X.data /= np.repeat(norms, row_nnz)
    w = rng.standard_normal(n_features)
    margin = X @ w
    noise = rng.standard_normal(n_samples)
    y_clf = (margin + 0.3 * noise > 0).astype(np.int64)
    y_reg = margin + 0.1 * noise
    return X, y_clf, y_reg


# ----------------------------------------------------------------------------
# timing
class KernelClock:
    """Time spent in the compiled epoch functions during a fit.

    Wraps scikit-learn's ``_plain_sgd64`` / ``_plain_sgd32`` and skgd's
    ``run_epoch`` (as called by :class:`skgd._modes.StochasticRunner`), so a
    fit's time splits into the compiled pass and the Python around it.  Both
    are private names: when one is missing its split is not reported.
    """

    def __init__(self):
        self.seconds = 0.0
        try:
            import sklearn.linear_model._stochastic_gradient as sk_sgd

            for name in ("_plain_sgd64", "_plain_sgd32"):
                self._wrap(sk_sgd, name)
        except (ImportError, AttributeError):
            pass
        try:
            self._wrap(skgd_modes, "run_epoch")
            # the runner holds its own reference to the pass
            skgd_modes.StochasticRunner._kernel = staticmethod(skgd_modes.run_epoch)
        except AttributeError:
            pass

    def _wrap(self, module, name):
        inner = getattr(module, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        setattr(module, name, timed)


KERNEL_CLOCK = None


def fit_case(est, X, y, n_threads=None):
    """A case: one fit; returns (seconds, seconds in the compiled pass).

    ``n_threads``: skgd's OpenMP threads limited by threadpoolctl (None: as
    the environment says).
    """

    def run():
        if KERNEL_CLOCK is not None:
            KERNEL_CLOCK.seconds = 0.0
        with warnings.catch_warnings(), openmp_threads(n_threads):
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(X, y)
            t = time.perf_counter() - t0
        return t, (KERNEL_CLOCK.seconds if KERNEL_CLOCK is not None else None)

    return run


def openmp_threads(n_threads):
    """A context limiting the OpenMP threads to ``n_threads`` (None: no limit)."""
    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n_threads, user_api="openmp")


class CountingData(Data):
    """The data view of batch mode, counting the matrix products."""

    n_products = 0
    n_timed = 0  # products in timed iterations (batch_case)

    def matvec(self, w, b=0.0):
        self.n_products += 1
        return super().matvec(w, b)

    def rmatvec(self, r):
        self.n_products += 1
        return super().rmatvec(r)


def batch_case(est, X, y, n_iters):
    """A case: ``n_iters`` calls of ``BatchRunner.epoch()``; returns the mean.

    The runner is built as ``est.fit`` builds it (loss, penalty, schedule
    of ``est``; unit sample weights; every row trains); each round starts a
    new runner, whose set-up (initial objective) and first iteration are not
    timed.  A round ends early when the runner has converged (L-BFGS's
    searches fail at the optimum: its further iterations would do nothing),
    and the mean is over the iterations it ran.  ``run.products()`` is the
    number of matrix products per timed iteration.
    """
    n, d = X.shape
    if isinstance(est, GDClassifier):
        y = np.where(y == np.max(y), 1.0, -1.0)
    data = CountingData(X)
    loss = est._loss()
    problem = Problem(data, y, np.ones(n), loss, est._penalty(), est.fit_intercept,
                      np.arange(n))
    calls = [0]

    def run():
        runner = BatchRunner(problem, np.zeros(d), 0.0, est._schedule(loss), 1)
        runner.epoch()
        before = data.n_products
        t0 = time.perf_counter()
        k = 0
        while k < n_iters and runner.failed_searches < 2:
            runner.epoch()
            k += 1
        elapsed = time.perf_counter() - t0
        calls[0] += k
        data.n_timed += data.n_products - before
        return elapsed / max(k, 1), None

    run.products = lambda: data.n_timed / max(calls[0], 1)
    return run


def products_case(X, n_iters):
    """A case: ``n_iters`` times ``X @ w`` and ``X.T @ r`` (float64); returns the mean."""
    rng = np.random.default_rng(SEED + 1)
    n, d = X.shape
    w = rng.standard_normal(d)
    r = rng.standard_normal(n)
    X @ w
    X.T @ r

    def run():
        t0 = time.perf_counter()
        for _ in range(n_iters):
            X @ w
            X.T @ r
        return (time.perf_counter() - t0) / n_iters, None

    return run


def best_of_interleaved(cases, repeat):
    """Run every case once per round, ``repeat`` rounds; keep each case's best."""
    best = {key: (np.inf, None) for key in cases}
    for _ in range(repeat):
        for key, run in cases.items():
            t, kernel = run()
            if t < best[key][0]:
                best[key] = (t, kernel)
    return best


# ----------------------------------------------------------------------------
# report
def line(label, seconds, ratio=None, ref=None, target=None, extra=""):
    s = f"  {label:<38s}{seconds:9.4f} s"
    if ratio is not None:
        verdict = "OK" if ratio <= target else "MISS"
        s += f"   ratio {ratio:5.2f} vs {ref:<14s} (target <= {target:.2f}) {verdict}"
    if extra:
        s += f"  {extra}"
    print(s, flush=True)


def split(kernel):
    return f"[compiled pass {kernel:.4f} s]" if kernel else ""


def bench_estimator(kind, X, y, args, sparse):
    rs = 0
    if kind == "classifier":
        loss = "hinge"
        sk = SGDClassifier(loss=loss, max_iter=1, tol=None, shuffle=True, random_state=rs)
        ours = GDClassifier
    else:
        loss = "squared_error"
        sk = SGDRegressor(loss=loss, max_iter=1, tol=None, shuffle=True, random_state=rs)
        ours = GDRegressor
    common = dict(loss=loss, max_iter=1, tol=None, shuffle=True, random_state=rs)
    average = sparse and kind == "classifier"

    cases = {
        "sklearn": fit_case(sk, X, y),
        "sgd": fit_case(ours(mode="sgd", **common), X, y),
        "minibatch": fit_case(ours(mode="minibatch", batch_size=256, **common), X, y),
        "minibatch1": fit_case(ours(mode="minibatch", batch_size=256, **common), X, y,
                               n_threads=1),
    }
    if average:
        cases["average"] = fit_case(ours(mode="sgd", average=True, **common), X, y)
        for opt in OPTIMIZERS:
            cases[opt] = fit_case(ours(mode="minibatch", batch_size=256, optimizer=opt,
                                       **common), X, y)
    cases["products"] = products_case(X, args.batch_iters)
    cases["batch"] = batch_case(ours(mode="batch", **common), X, y, args.batch_iters)
    best = best_of_interleaved(cases, args.repeat)

    print(f" {kind} (loss={loss})", flush=True)
    t_sk, k = best["sklearn"]
    line(f"sklearn {type(sk).__name__} epoch", t_sk, extra=split(k))
    t_sgd, k = best["sgd"]
    line("skgd sgd epoch", t_sgd, t_sgd / t_sk, "sklearn SGD", TARGETS["sgd"], split(k))
    t_mb, k_mb = best["minibatch"]
    line("skgd minibatch(256) epoch", t_mb, t_mb / t_sk, "sklearn SGD",
         TARGETS["minibatch"], split(k_mb))
    t, k = best["minibatch1"]
    line("skgd minibatch(256), 1 thread", t, t / t_sk, "sklearn SGD",
         TARGETS["minibatch"], split(k))
    t_ref, _ = best["products"]
    line("X @ w + X.T @ r (NumPy/SciPy)", t_ref)
    t_b, _ = best["batch"]
    line("skgd batch iteration", t_b, t_b / t_ref, "X@w + X.T@r", TARGETS["batch"],
         f"[{cases['batch'].products():.1f} products/iteration]")
    line("skgd minibatch(256) epoch", t_mb, t_mb / t_b, "batch iteration",
         TARGETS["minibatch_vs_batch"],
         f"[compiled pass / batch iteration {k_mb / t_b:.2f}]" if k_mb else "")
    if average:
        t, k = best["average"]
        line("skgd sgd epoch, average=True", t, t / t_sgd, "average=False",
             TARGETS["average"], split(k))
        t_mb, _ = best["minibatch"]
        for opt in OPTIMIZERS:
            t, k = best[opt]
            line(f"skgd minibatch(256) epoch, {opt}", t, t / t_mb, "plain steps",
                 TARGETS["optimizer"], split(k))


def bench_small(args):
    """(c): whole sgd-mode fits on digits against SGDClassifier, per penalty."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    print(f"\n(c) digits, standardised, {X.shape[0]:,} x {X.shape[1]} "
          f"({len(np.unique(y))} classes, one-vs-rest), whole fits at the defaults",
          flush=True)
    cases = {}
    for penalty in ("l1", "elasticnet", "l2"):
        common = dict(penalty=penalty, random_state=0)
        cases["sklearn", penalty] = fit_case(SGDClassifier(**common), X, y)
        cases["sgd", penalty] = fit_case(GDClassifier(**common), X, y)
    # small fits: more rounds for a stable best
    best = best_of_interleaved(cases, 3 * args.repeat)
    for penalty in ("l1", "elasticnet", "l2"):
        t_sk, k = best["sklearn", penalty]
        line(f"sklearn SGDClassifier, penalty={penalty}", t_sk, extra=split(k))
        t, k = best["sgd", penalty]
        line(f"skgd sgd fit, penalty={penalty}", t, t / t_sk, "sklearn SGD",
             TARGETS["small"], split(k) + ("" if penalty != "l2" else " (no target)"))


def load_line(label):
    try:
        load = os.getloadavg()
    except OSError:
        return f"{label}: unknown"
    msg = f"{label}: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    if load[0] > 0.5:
        msg += "  (other processes are running: timings are noisy)"
    return msg


def header():
    print(f"skgd {getattr(skgd, '__version__', '?')} ({os.path.dirname(skgd.__file__)}), "
          f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, Python {platform.python_version()}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(load_line("load average at start"))
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        print("threadpoolctl: not installed")
        return
    for info in threadpool_info():
        print("threadpoolctl: {} {} {} (arch {}, {} threads) {}".format(
            info.get("user_api"), info.get("internal_api"), info.get("version"),
            info.get("architecture"), info.get("num_threads"),
            os.path.basename(info.get("filepath", ""))))


def main(argv=None):
    global KERNEL_CLOCK
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="divide the number of rows by 10")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timings are the best of this many runs (default 3)")
    parser.add_argument("--batch-iters", type=int, default=5,
                        help="batch-mode iterations per timed run (default 5)")
    parser.add_argument("--only", choices=["dense", "sparse", "small"], default=None,
                        help="run one data set only")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    header()
    KERNEL_CLOCK = KernelClock()
    t_start = time.perf_counter()

    if args.only in (None, "dense"):
        t0 = time.perf_counter()
        X, y_clf, y_reg = make_dense(200_000 // scale)
        print(f"\n(a) dense {X.shape[0]:,} x {X.shape[1]:,} float64 "
              f"(generated in {time.perf_counter() - t0:.1f} s)", flush=True)
        bench_estimator("classifier", X, y_clf, args, sparse=False)
        bench_estimator("regressor", X, y_reg, args, sparse=False)
        del X, y_clf, y_reg

    if args.only in (None, "sparse"):
        t0 = time.perf_counter()
        X, y_clf, y_reg = make_sparse(500_000 // scale)
        print(f"\n(b) sparse CSR {X.shape[0]:,} x {X.shape[1]:,} float64, "
              f"{X.nnz / X.shape[0]:.2f} nonzeros/row "
              f"(generated in {time.perf_counter() - t0:.1f} s)", flush=True)
        bench_estimator("classifier", X, y_clf, args, sparse=True)
        bench_estimator("regressor", X, y_reg, args, sparse=True)
        del X, y_clf, y_reg

    if args.only in (None, "small"):
        bench_small(args)

    print(f"\n{load_line('load average at end')}")
    print(f"total time {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
