"""Multinomial (softmax) against one-vs-rest, same mode, same defaults.

Quality: ``GDClassifier(loss="log_loss")`` with ``multi_class="ovr"`` and
``"multinomial"`` in each mode at its defaults, on standardised digits
(1,797 x 64, 10 classes) and on generated multiclass text (CSR, rows of
unit norm, 50 nonzeros, 10 classes drawn from a softmax model); held-out
accuracy, log loss, and fit time (best of 3).  ``LogisticRegression``
(multinomial, ``C = 1 / (n alpha)``) gives the optimum's scores.

Speed: one epoch (``max_iter=1, tol=None``) of the multinomial model
against the 10 one-vs-rest epochs it replaces, sgd and minibatch(256), on
a 10-class sparse problem (200,000 x 262,144, 50 nonzeros per row); the
ratio should be at most 1.  Usage::

    python benchmarks/bench_multinomial.py [--quick]
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier

ALPHA = 1e-4
MODES = ("sgd", "minibatch", "batch")


def make_text(n_samples, n_features=65_536, nnz_per_row=50, n_classes=10, seed=0):
    """Unit-norm CSR rows; labels drawn from softmax(W x) with sparse W."""
    rng = np.random.default_rng(seed)
    # a Zipf-like column popularity, as words
    p = 1.0 / np.arange(1, n_features + 1) ** 0.8
    p /= p.sum()
    indices = rng.choice(n_features, size=(n_samples, nnz_per_row), p=p).astype(np.int32)
    indices.sort(axis=1)
    indptr = np.arange(0, n_samples * nnz_per_row + 1, nnz_per_row)
    X = sp.csr_matrix((rng.random(indices.size) + 1e-3, indices.ravel(), indptr),
                      shape=(n_samples, n_features))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / norms) @ X)
    W = rng.standard_normal((n_classes, n_features)) * (rng.random((n_classes, n_features)) < 0.2)
    Z = 40.0 * (X @ W.T)
    y = np.argmax(Z + rng.gumbel(size=Z.shape), axis=1)
    return X, y


def best_time(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def quality(name, X, y, repeat):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    n = Xtr.shape[0]
    print(f"\n{name}: {n} training rows x {X.shape[1]}, {len(np.unique(y))} classes, "
          f"alpha={ALPHA:g}, defaults")
    print(f"  {'model':34s}{'accuracy':>9s}{'log loss':>10s}{'seconds':>9s}{'epochs':>8s}")
    t, lr = best_time(lambda: LogisticRegression(C=1 / (n * ALPHA), max_iter=1000)
                      .fit(Xtr, ytr), 1)
    print(f"  {'LogisticRegression (optimum)':34s}{lr.score(Xte, yte):9.4f}"
          f"{log_loss(yte, lr.predict_proba(Xte)):10.4f}{t:9.3f}")
    for mode in MODES:
        for mc in ("ovr", "multinomial"):
            def make(mc=mc, mode=mode):
                return GDClassifier(loss="log_loss", multi_class=mc, mode=mode,
                                    random_state=0).fit(Xtr, ytr)
            t, est = best_time(make, repeat)
            print(f"  {mode + ' ' + mc:34s}{est.score(Xte, yte):9.4f}"
                  f"{log_loss(yte, est.predict_proba(Xte)):10.4f}{t:9.3f}"
                  f"{est.n_iter_:8d}")


def speed(n_samples, repeat):
    X, y = make_text(n_samples, n_features=262_144)
    print(f"\nOne epoch, 10 classes, CSR {X.shape[0]} x {X.shape[1]}, "
          f"{X.nnz / X.shape[0]:.0f} nnz/row (best of {repeat})")
    for kw in (dict(mode="sgd"), dict(mode="minibatch", batch_size=256)):
        times = {}
        for mc in ("ovr", "multinomial"):
            def make(mc=mc, kw=kw):
                return GDClassifier(loss="log_loss", multi_class=mc, max_iter=1,
                                    tol=None, random_state=0, **kw).fit(X, y)
            times[mc], _ = best_time(make, repeat)
        ratio = times["multinomial"] / times["ovr"]
        verdict = "OK" if ratio <= 1.0 else "MISS"
        label = kw["mode"] + (f"({kw['batch_size']})" if "batch_size" in kw else "")
        print(f"  {label:16s} 10 ovr epochs {times['ovr']:7.3f} s   multinomial "
              f"{times['multinomial']:7.3f} s   ratio {ratio:5.2f} (target <= 1.0) "
              f"{verdict}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller problems, one repetition")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    repeat = 1 if args.quick else 3
    X, y = load_digits(return_X_y=True)
    quality("digits (standardised)", StandardScaler().fit_transform(X), y, repeat)
    quality("text", *make_text(5_000 if args.quick else 20_000, n_features=16_384),
            repeat)
    speed(20_000 if args.quick else 200_000, repeat)


if __name__ == "__main__":
    main()
