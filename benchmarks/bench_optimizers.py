"""The optimizers of minibatch mode, at their defaults, against MLP's Adam.

For L2-regularised logistic regression (``alpha=1e-4``), minibatch(256)
with each ``optimizer`` at its defaults: F - F* after 1, 5 and 20 epochs
(``max_iter=E, tol=None``, a fresh fit for each E), then the fit with its
own stopping rule (epochs, seconds as the best of 3, F - F*).  Beside them
scikit-learn's ``MLPClassifier(hidden_layer_sizes=(), solver="adam",
batch_size=256)`` (logistic regression trained by Adam; its ``alpha`` is
scaled by the batch size so that it minimises the same F).  F* comes from
``LogisticRegression`` (``C = 1 / (n alpha)``, tol 1e-12).

Problems: LIBSVM's a9a (``../shared/data`` or ``--data``; a generated
problem of the same shape when it is absent), the dense standardised
200,000 x 100 problem of ``bench_convergence.py``, and generated text
(50,000 x 65,536 CSR, 50 nonzeros per row, rows of unit norm), where most
updates miss most columns (the lazy semantics matter there).

Speed (issue 9, item 6): on the sparse data of ``bench_modes.py`` (CSR
500,000 x 262,144, 50 nonzeros per row), one minibatch(256) epoch of a
hinge classifier (``max_iter=1, tol=None``) with each optimizer against the
same epoch with plain steps (target <= 1.3), and each also on one OpenMP
thread: the whole fit, and the time in its compiled pass (``run_epoch``; the rest of a fit, the same for every
optimizer, is mostly the step size's set-up).  Best of ``--repeat``
interleaved runs.  Usage::

    python benchmarks/bench_optimizers.py [--data PATH] [--quick] [--repeat 3]
                                          [--only {quality,speed}]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_modes  # noqa: E402
from bench_convergence import DEFAULT_DATA, fit, load_a9a, load_dense, objective  # noqa: E402
from bench_modes import best_of_interleaved, fit_case, make_sparse  # noqa: E402

from skgd import GDClassifier  # noqa: E402

ALPHA = 1e-4
EPOCHS = (1, 5, 20)
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def run(X, y, name):
    n = X.shape[0]
    print(f"\n{name}: {n} x {X.shape[1]}, alpha={ALPHA:g}, minibatch of 256")
    ref = LogisticRegression(C=1 / (n * ALPHA), tol=1e-12, max_iter=100000).fit(X, y)
    f_star = objective(X, y, ALPHA, ref.coef_, ref.intercept_)
    head = "".join(f"{'after ' + str(e):>11s}" for e in EPOCHS)
    print(f"{'F - F*':26s}{head} | {'own rule: epochs':>16s} {'seconds':>8s} {'F - F*':>9s}")
    models = {
        f"skgd {opt}": (lambda opt=opt, **fit_params: GDClassifier(
            loss="log_loss", alpha=ALPHA, mode="minibatch", batch_size=256,
            optimizer=opt, random_state=0, **fit_params))
        for opt in OPTIMIZERS
    }
    models["sklearn MLP adam(256)"] = lambda **fit_params: MLPClassifier(
        hidden_layer_sizes=(), batch_size=256, alpha=ALPHA * min(256, n),
        random_state=0, **fit_params)
    for label, make in models.items():
        mlp = "MLP" in label
        row = []
        for e in EPOCHS:
            stop = {"n_iter_no_change": 10**6} if mlp else {"tol": None}
            model, _ = fit(make, X, y, max_iter=e, **stop)
            row.append(objective(X, y, ALPHA, *weights(model)) - f_star)
        best = np.inf
        for _ in range(3):
            model, seconds = fit(make, X, y)
            best = min(best, seconds)
        own = objective(X, y, ALPHA, *weights(model)) - f_star
        epochs = model.n_iter_ if mlp else int(np.max(model.n_iter_))
        cells = "".join(f"{g:11.2e}" for g in row)
        print(f"{label:26s}{cells} | {epochs:16d} {best:8.2f} {own:9.2e}", flush=True)


def speed(n_rows, repeat):
    """The epoch of each optimizer over the plain epoch (fit and compiled pass)."""
    X, y, _ = make_sparse(n_rows)
    print(f"\noptimizer epoch / plain minibatch(256) epoch on the sparse benchmark data "
          f"(CSR {X.shape[0]:,} x {X.shape[1]:,}, {X.nnz / X.shape[0]:.0f} nnz/row)")
    print(f"hinge, max_iter=1, tol=None; best of {repeat} interleaved runs; "
          f"target <= {bench_modes.TARGETS['optimizer']:.1f}")
    bench_modes.KERNEL_CLOCK = bench_modes.KernelClock()
    cases = {}
    for opt in OPTIMIZERS:
        for n_threads in (None, 1):
            est = GDClassifier(loss="hinge", mode="minibatch", batch_size=256,
                               optimizer=opt, max_iter=1, tol=None, random_state=0)
            cases[opt, n_threads] = fit_case(est, X, y, n_threads=n_threads)
    best = best_of_interleaved(cases, repeat)
    fit_plain, pass_plain = best["sgd", None]
    print("(minibatch passes, plain or not, run on scikit-learn's OpenMP thread "
          "count; '1 thread': limited by threadpoolctl)")
    print(f"{'optimizer':10s} {'fit s':>8s} {'ratio':>6s} {'pass s':>8s} {'ratio':>6s}"
          f" | 1 thread: {'fit s':>8s} {'pass s':>8s}")
    for opt in OPTIMIZERS:
        fit_s, pass_s = best[opt, None]
        fit_1, pass_1 = best[opt, 1]
        verdict = "" if opt == "sgd" else (
            "  OK" if fit_s / fit_plain <= bench_modes.TARGETS["optimizer"] else "  MISS")
        label = "plain" if opt == "sgd" else opt
        print(f"{label:10s} {fit_s:8.3f} {fit_s / fit_plain:6.2f} {pass_s:8.3f} "
              f"{pass_s / pass_plain:6.2f} |           {fit_1:8.3f} {pass_1:8.3f}"
              f"{verdict}", flush=True)


def weights(model):
    if isinstance(model, MLPClassifier):
        return model.coefs_[0].ravel(), model.intercepts_[0]
    return model.coef_, model.intercept_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the rows of the generated problems")
    parser.add_argument("--repeat", type=int, default=3,
                        help="speed: the best of this many runs (default 3)")
    parser.add_argument("--only", choices=["quality", "speed"], default=None,
                        help="run one part only")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    if args.only in (None, "speed"):
        speed(500_000 // scale, args.repeat)
    if args.only == "speed":
        return
    X, y, name = load_a9a(args.data)
    run(X, y, name)
    X, y, name = load_dense(200_000 // scale)
    run(X, y, name)
    X, y, _ = make_sparse(50_000 // scale, n_features=2**16)
    run(X, y, f"generated text ({2**16} columns, 50 nonzeros a row, unit rows)")


if __name__ == "__main__":
    main()
