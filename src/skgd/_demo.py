"""Demo of skgd, run by ``python -m skgd``.

Fits :class:`skgd.GDClassifier` in its three modes (``sgd``, ``minibatch``
and ``batch``) and scikit-learn's :class:`~sklearn.linear_model.SGDClassifier`
on two problems, and prints one table row per fit (epochs, fit time as the
best of 3 runs, the gap ``F - F*`` to the optimum of the training objective,
test accuracy), then what the columns mean:

* ``digits``: scikit-learn's 8x8 images of handwritten digits (1,797 rows,
  64 dense pixel features, 10 classes, hence 10 one-vs-rest problems),
  standardised with :class:`~sklearn.preprocessing.StandardScaler` fitted on
  the training split;
* ``text``: a generated sparse text-like binary problem (20,000 rows,
  2**16 features, about 30 nonzeros per row; see :func:`make_sparse_text`).

Every model uses the same parameters (``loss="log_loss"``, ``alpha=1e-4``,
``tol=1e-3``, ``max_iter=1000``, ``random_state=0``).  ``F*`` comes from
scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` solved to
a tight tolerance (see :func:`objective`).  The splits are seeded, so
everything but the timings is reproducible.  ``--plot FILE`` also saves the
per-epoch training objective (``loss_curve_``) of the skgd fits to a PNG; it
needs matplotlib.
"""

import argparse
import textwrap
import time
import warnings

import numpy as np
import scipy.sparse as sp

__all__ = ["main", "make_sparse_text", "objective"]

MODES = ("sgd", "minibatch", "batch")
SEED = 0
ALPHA = 1e-4
REPEATS = 3  # fit times: the best of this many runs


def make_sparse_text(n_samples=20_000, n_features=2**16, n_tokens=36,
                     n_informative=1_000, flip=0.03, random_state=0):
    """Generate a sparse, text-like binary classification problem.

    Each row is a "document" of ``n_tokens`` word draws from a Zipf-like
    vocabulary of ``n_features`` words; repeated words add up, so a row has
    about 30 distinct nonzeros with the defaults.  Values are TF-IDF
    weights (``log(1 + tf) * idf``) scaled to unit L2 norm per row.  The
    labels follow a sparse linear rule on ``n_informative`` words, plus
    Gaussian noise on the scores and a share ``flip`` of flipped labels.

    Parameters
    ----------
    n_samples : int, default=20_000
        Number of rows.
    n_features : int, default=2**16
        Vocabulary size (number of columns).
    n_tokens : int, default=36
        Word draws per row.
    n_informative : int, default=1_000
        Number of words with a nonzero weight in the labelling rule.
    flip : float, default=0.03
        Share of labels flipped at random.
    random_state : int, default=0
        Seed of the generator.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        Nonnegative float64 TF-IDF-like features, rows of unit norm.
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}, about balanced.

    Examples
    --------
    >>> from skgd._demo import make_sparse_text
    >>> X, y = make_sparse_text(n_samples=100, n_features=1000)
    >>> X.shape, X.format, sorted(set(y.tolist()))
    ((100, 1000), 'csr', [0, 1])
    """
    rng = np.random.RandomState(random_state)
    # Zipf-like word frequencies; the frequent words are spread at random
    # over the columns.
    freq = 1.0 / np.arange(1, n_features + 1) ** 1.07
    freq /= freq.sum()
    vocab = rng.permutation(n_features)
    words = vocab[rng.choice(n_features, size=n_samples * n_tokens, p=freq)]
    indptr = np.arange(0, n_samples * n_tokens + 1, n_tokens)
    X = sp.csr_matrix(
        (np.ones(words.size), words, indptr), shape=(n_samples, n_features)
    )
    X.sum_duplicates()  # term counts
    df = np.bincount(X.indices, minlength=n_features)
    idf = np.log((1.0 + n_samples) / (1.0 + df)) + 1.0
    X.data = np.log1p(X.data) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)

    # Sparse linear rule: half of the informative words among the most
    # frequent 1/32 of the vocabulary, the other half among the rest.
    n_frequent = max(n_features // 32, 1)
    n_head = min(n_informative // 2, n_frequent)
    n_tail = min(n_informative - n_head, n_features - n_frequent)
    support = np.concatenate([
        rng.choice(vocab[:n_frequent], size=n_head, replace=False),
        rng.choice(vocab[n_frequent:], size=n_tail, replace=False),
    ])
    w = np.zeros(n_features)
    w[support] = rng.standard_normal(support.size)
    score = X @ w
    score += 0.2 * score.std() * rng.standard_normal(n_samples)
    y = (score > np.median(score)).astype(np.int64)
    flipped = rng.rand(n_samples) < flip
    y[flipped] = 1 - y[flipped]
    return X, y


def objective(X, y, coef, intercept, alpha=ALPHA):
    """The training objective ``F`` of a one-vs-rest log-loss model.

    For each binary problem ``k`` (class ``k`` against the rest; the one
    problem ``classes[1]`` against ``classes[0]`` when there are two
    classes), ``F_k(w, b) = mean log(1 + exp(-y (X w + b))) + alpha / 2
    ||w||^2`` with ``y`` in {-1, +1}: the objective that ``GDClassifier``
    and ``SGDClassifier`` minimise with ``loss="log_loss"``, ``penalty="l2"``.
    Returns the sum over the problems.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Training data.
    y : ndarray of shape (n_samples,)
        Labels; the binary problems follow the order of ``np.unique(y)``, as
        the rows of a fitted classifier's ``coef_``.
    coef : ndarray of shape (n_problems, n_features)
        One row of weights per binary problem.
    intercept : ndarray of shape (n_problems,)
        One intercept per binary problem.
    alpha : float, default=1e-4
        Strength of the L2 penalty.

    Returns
    -------
    float
        ``sum_k F_k``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgd._demo import objective
    >>> X, y = np.eye(2), np.array([0, 1])
    >>> round(objective(X, y, np.zeros((1, 2)), np.zeros(1)), 6)  # log(2)
    0.693147
    """
    classes = np.unique(y)
    labels = classes[1:] if len(classes) == 2 else classes
    total = 0.0
    for label, w, b in zip(labels, np.atleast_2d(coef), np.ravel(intercept)):
        signs = np.where(y == label, 1.0, -1.0)
        margins = signs * (np.asarray(X @ w).ravel() + b)
        total += np.mean(np.logaddexp(0.0, -margins)) + 0.5 * alpha * w @ w
    return float(total)


def _optimum(X, y):
    """``F*``: the objective of the exact optimum, one-vs-rest.

    scikit-learn's LogisticRegression with ``C = 1 / (n alpha)`` minimises
    ``n C`` times ``F_k`` (its intercept is not penalised either), here with
    the Newton-CG solver to ``tol=1e-10``, one binary problem at a time.
    """
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(y)
    labels = classes[1:] if len(classes) == 2 else classes
    coef, intercept = [], []
    for label in labels:
        lr = LogisticRegression(C=1.0 / (X.shape[0] * ALPHA), solver="newton-cg",
                                tol=1e-10, max_iter=1000)
        lr.fit(X, (y == label).astype(np.int64))
        coef.append(lr.coef_[0])
        intercept.append(lr.intercept_[0])
    return objective(X, y, np.array(coef), np.array(intercept))


def _datasets():
    """The (name, description, X_train, X_test, y_train, y_test) of the demo."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    yield ("digits",
           f"scikit-learn's 8x8 images of handwritten digits: {X.shape[1]} pixel "
           "intensities per row, standardised (StandardScaler fitted on the "
           f"training rows); {len(np.unique(y))} classes, so "
           f"{len(np.unique(y))} one-vs-rest binary problems",
           X_train, X_test, y_train, y_test)

    X, y = make_sparse_text(random_state=SEED)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    yield ("text",
           "generated text-like documents (skgd._demo.make_sparse_text): "
           f"TF-IDF weights of a {X.shape[1]:,}-word vocabulary in a CSR matrix, "
           f"{X.nnz / X.shape[0]:.1f} nonzeros per row, rows of unit norm; "
           "2 classes from a sparse linear rule with noise and 3% flipped labels",
           X_train, X_test, y_train, y_test)


def _models(max_iter):
    """The (name, mode, unfitted estimator) of the demo, same parameters."""
    from sklearn.linear_model import SGDClassifier

    from ._classifier import GDClassifier

    params = dict(loss="log_loss", alpha=ALPHA, tol=1e-3, max_iter=max_iter,
                  random_state=SEED)
    for mode in MODES:
        yield f"skgd {mode}", mode, GDClassifier(mode=mode, batch_size=32, **params)
    yield "sklearn SGDClassifier", None, SGDClassifier(**params)


def _plot(curves, path):
    """Save the loss curves ``{dataset: {mode: curve}}`` to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4),
                             squeeze=False)
    for ax, (dataset, by_mode) in zip(axes[0], curves.items()):
        for mode, curve in by_mode.items():
            ax.plot(np.arange(1, len(curve) + 1), curve, label=f"skgd {mode}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training objective")
        title = dataset
        if dataset == "digits":
            title += " (last one-vs-rest problem)"
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _timed_fit(est, X, y):
    """Fit ``est`` ``REPEATS`` times; the best wall time (seconds)."""
    from sklearn.exceptions import ConvergenceWarning

    best = np.inf
    for _ in range(REPEATS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X, y)
            best = min(best, time.perf_counter() - start)
    return best


def _wrap(text, indent="  "):
    return textwrap.fill(text, width=88, initial_indent=indent,
                         subsequent_indent=indent + "  ", break_on_hyphens=False)


def main(argv=None):
    """Run the demo: fit, time and score the models, print a table.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments (without the program name); None reads
        ``sys.argv[1:]``.  ``--plot FILE`` saves the loss curves of the skgd
        fits to a PNG (needs matplotlib); ``--max-iter N`` changes the
        epoch budget of every model (default 1000, scikit-learn's
        default).

    Returns
    -------
    rows : list of dict
        One dict per fit, with keys ``dataset``, ``model``, ``epochs``,
        ``seconds`` (best of 3 fits), ``gap`` (``F - F*`` on the training
        rows) and ``accuracy`` (on the test rows).

    Notes
    -----
    Exits with status 2 (before fitting anything) when ``--plot`` is given
    and matplotlib is not installed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m skgd",
        description="Fit skgd.GDClassifier in its sgd, minibatch and batch modes "
        "and sklearn's SGDClassifier on a dense and a sparse problem, and print "
        "epochs, fit time (best of 3), the gap F - F* to the optimum of the "
        "training objective and test accuracy.",
    )
    parser.add_argument("--plot", metavar="FILE", default=None,
                        help="save the loss curves (loss_curve_) of the skgd fits "
                        "to this PNG file (needs matplotlib)")
    parser.add_argument("--max-iter", type=int, default=1000, metavar="N",
                        help="maximum number of epochs of every model (default: 1000)")
    args = parser.parse_args(argv)
    if args.max_iter < 1:
        parser.error("--max-iter must be at least 1")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.exit(2, "error: --plot needs matplotlib, which is not installed; "
                        "install it with: pip install matplotlib\n")

    print("skgd's GDClassifier in its three modes beside scikit-learn's "
          "SGDClassifier, on two problems:")
    datasets = list(_datasets())
    for dataset, description, X_train, X_test, _, _ in datasets:
        print(_wrap(f"{dataset}: {X_train.shape[0]:,} training / "
                    f"{X_test.shape[0]:,} test rows; {description}."))
    print()
    header = (f"{'dataset':<8} {'model':<22} {'epochs':>7} {'seconds':>8} "
              f"{'F - F*':>9} {'accuracy':>9}")
    print(header)
    print("-" * len(header))
    rows, curves, capped, sgd_diff = [], {}, False, {}
    for dataset, _, X_train, X_test, y_train, y_test in datasets:
        f_star = _optimum(X_train, y_train)
        coefs = {}
        for name, mode, est in _models(args.max_iter):
            seconds = _timed_fit(est, X_train, y_train)
            accuracy = est.score(X_test, y_test)
            gap = objective(X_train, y_train, est.coef_, est.intercept_) - f_star
            epochs = int(est.n_iter_)
            mark = "*" if epochs >= args.max_iter else ""
            capped = capped or bool(mark)
            rows.append(dict(dataset=dataset, model=name, epochs=epochs,
                             seconds=seconds, gap=gap, accuracy=accuracy))
            print(f"{dataset:<8} {name:<22} {str(epochs) + mark:>7} {seconds:>8.3f} "
                  f"{gap:>9.2e} {accuracy:>9.4f}", flush=True)
            coefs[mode] = est.coef_
            if mode is not None:
                curves.setdefault(dataset, {})[mode] = list(est.loss_curve_)
        sgd_diff[dataset] = float(np.max(np.abs(coefs["sgd"] - coefs[None])))
    print()
    print(f"All models: loss='log_loss', alpha={ALPHA:g}, tol=1e-3, "
          f"max_iter={args.max_iter}, random_state={SEED}; batch_size=32 "
          "for minibatch.")
    if capped:
        print(f"* stopped at max_iter={args.max_iter} before meeting its "
              "tolerance (ConvergenceWarning silenced).")
    print()
    notes = [
        "epochs: passes over the training rows (n_iter_): in sgd mode an epoch "
        "makes one update per row, in minibatch mode one per 32 rows. "
        "One-vs-rest fits each class against the rest as a binary problem of its "
        "own, with its own stopping rule; for digits the column shows the largest "
        "count of the 10, as SGDClassifier's n_iter_ does. In batch mode an epoch "
        "is one iteration of the batch solver (L-BFGS here, and on digits' 64 "
        "columns Newton steps once L-BFGS has cost five Hessians): one full "
        "gradient over all rows, plus the passes of its line search.",
        f"seconds: wall time of fit, the best of {REPEATS} runs.",
        "F - F*: how far the training objective F = mean log loss + alpha/2 "
        "||w||^2 (summed over the one-vs-rest problems) is above its minimum F*, "
        "computed by LogisticRegression (C = 1/(n alpha), newton-cg, tol=1e-10). "
        "tol=1e-3 stops each mode at its own distance from the optimum: a "
        "similar accuracy can hide a much larger F - F*.",
        "skgd sgd against SGDClassifier: with the same random_state, sgd mode "
        "draws the same shuffling stream of rows in every epoch (and for every "
        "one-vs-rest problem) as scikit-learn and makes the same updates, so "
        "their numbers agree; largest difference of their coefficients: "
        + ", ".join(f"{v:.1e} ({k})" for k, v in sgd_diff.items())
        + ". They differ when the streams differ: another random_state or "
        "shuffle setting, or the rows in another order. minibatch and batch mode "
        "are other algorithms and stop elsewhere.",
    ]
    for note in notes:
        print(_wrap(note, indent=""))
    if args.plot is not None:
        _plot(curves, args.plot)
        print(f"Loss curves saved to {args.plot}")
    return rows
