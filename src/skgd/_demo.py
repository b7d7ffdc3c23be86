"""Demo of skgd, run by ``python -m skgd``.

Fits :class:`skgd.GDClassifier` in its three modes (``sgd``, ``minibatch``
and ``batch``) and scikit-learn's :class:`~sklearn.linear_model.SGDClassifier`
on two problems, and prints one table row per fit:

* ``digits``: scikit-learn's 8x8 digits (1,797 rows, 64 dense features,
  10 classes, one-vs-rest), standardised with
  :class:`~sklearn.preprocessing.StandardScaler` fitted on the training split;
* ``text``: a generated sparse text-like binary problem (20,000 rows,
  2**16 features, about 30 nonzeros per row; see :func:`make_sparse_text`).

Every model uses the same parameters (``loss="log_loss"``, ``alpha=1e-4``,
``tol=1e-3``, ``max_iter=1000``, ``random_state=0``).  The splits are seeded,
so everything but the timings is reproducible.  ``--plot FILE`` also saves the
per-epoch training objective (``loss_curve_``) of the skgd fits to a PNG; it
needs matplotlib.
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp

__all__ = ["main", "make_sparse_text"]

MODES = ("sgd", "minibatch", "batch")
SEED = 0


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
    yield ("digits", f"dense {X.shape[1]} features, {len(np.unique(y))} classes",
           X_train, X_test, y_train, y_test)

    X, y = make_sparse_text(random_state=SEED)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    yield ("text", f"CSR {X.shape[1]} features, {X.nnz / X.shape[0]:.1f} "
           "nonzeros/row, 2 classes", X_train, X_test, y_train, y_test)


def _models(max_iter):
    """The (name, mode, unfitted estimator) of the demo, same parameters."""
    from sklearn.linear_model import SGDClassifier

    from ._classifier import GDClassifier

    params = dict(loss="log_loss", alpha=1e-4, tol=1e-3, max_iter=max_iter,
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
        ``seconds`` and ``accuracy``.

    Notes
    -----
    Exits with status 2 (before fitting anything) when ``--plot`` is given
    and matplotlib is not installed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m skgd",
        description="Fit skgd.GDClassifier in its sgd, minibatch and batch modes "
        "and sklearn's SGDClassifier on a dense and a sparse problem, and print "
        "epochs, fit time and test accuracy.",
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

    from sklearn.exceptions import ConvergenceWarning

    header = (f"{'dataset':<8} {'model':<22} {'epochs':>7} {'seconds':>8} "
              f"{'accuracy':>9}")
    rows, curves, capped = [], {}, False
    datasets = list(_datasets())
    for dataset, description, X_train, X_test, _, _ in datasets:
        print(f"{dataset}: {X_train.shape[0]} train / {X_test.shape[0]} test rows, "
              f"{description}")
    print()
    print(header)
    print("-" * len(header))
    for dataset, _, X_train, X_test, y_train, y_test in datasets:
        for name, mode, est in _models(args.max_iter):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                est.fit(X_train, y_train)
                seconds = time.perf_counter() - start
            accuracy = est.score(X_test, y_test)
            epochs = int(est.n_iter_)
            mark = "*" if epochs >= args.max_iter else ""
            capped = capped or bool(mark)
            rows.append(dict(dataset=dataset, model=name, epochs=epochs,
                             seconds=seconds, accuracy=accuracy))
            print(f"{dataset:<8} {name:<22} {str(epochs) + mark:>7} {seconds:>8.3f} "
                  f"{accuracy:>9.4f}", flush=True)
            if mode is not None:
                curves.setdefault(dataset, {})[mode] = list(est.loss_curve_)
    print()
    print("All models: loss='log_loss', alpha=1e-4, tol=1e-3, "
          f"max_iter={args.max_iter}, random_state={SEED}; batch_size=32 "
          "for minibatch.")
    if capped:
        print(f"* stopped at max_iter={args.max_iter} before meeting its "
              "tolerance (ConvergenceWarning silenced).")
    if args.plot is not None:
        _plot(curves, args.plot)
        print(f"Loss curves saved to {args.plot}")
    return rows
