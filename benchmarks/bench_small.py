"""Small calls: ``partial_fit`` on 100-row chunks against scikit-learn's SGD.

Issue 12, item 5: the cost of one ``partial_fit`` call on a small chunk is
mostly Python (input validation, state set-up), not arithmetic.  For a
classifier (hinge) and a regressor (squared error), on dense and CSR chunks
of 100 rows, this prints the time per call of skgd in each mode and of
``SGDClassifier`` / ``SGDRegressor``, and their ratio (target: at most 1.0
in sgd mode, the drop-in one).  Rounds of all cases are interleaved; each
figure is the best round's mean over the chunks::

    python benchmarks/bench_small.py              # 200 chunks x 100 rows
    python benchmarks/bench_small.py --repeat 9
"""

import argparse
import time

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import SGDClassifier, SGDRegressor

from skgd import GDClassifier, GDRegressor

N_CHUNKS, CHUNK, N_FEATURES = 200, 100, 20


def make_chunks(sparse, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_CHUNKS * CHUNK, N_FEATURES))
    if sparse:
        X[rng.random(X.shape) < 0.8] = 0.0
    y_reg = X @ rng.standard_normal(N_FEATURES) + 0.1 * rng.standard_normal(len(X))
    y_clf = (y_reg > 0).astype(np.int64)
    chunks = []
    for i in range(0, len(X), CHUNK):
        Xc = sp.csr_matrix(X[i:i + CHUNK]) if sparse else X[i:i + CHUNK]
        chunks.append((Xc, y_clf[i:i + CHUNK], y_reg[i:i + CHUNK]))
    return chunks


def per_call(make, chunks, classifier):
    """Mean seconds of one ``partial_fit`` call over the chunks (a fresh model)."""
    est = make()
    start = time.perf_counter()
    for Xc, yc, yr in chunks:
        if classifier:
            est.partial_fit(Xc, yc, classes=[0, 1])
        else:
            est.partial_fit(Xc, yr)
    return (time.perf_counter() - start) / len(chunks)


def cases():
    for classifier, Sk, Gd in ((True, SGDClassifier, GDClassifier),
                               (False, SGDRegressor, GDRegressor)):
        yield classifier, "scikit-learn", lambda Sk=Sk: Sk(random_state=0)
        for mode in ("sgd", "minibatch", "batch"):
            yield classifier, mode, lambda Gd=Gd, mode=mode: Gd(mode=mode, random_state=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for sparse in (False, True):
        chunks = make_chunks(sparse)
        best = {}
        for _ in range(args.repeat):
            for classifier, name, make in cases():
                t = per_call(make, chunks, classifier)
                key = (classifier, name)
                best[key] = min(best.get(key, np.inf), t)
        kind = "CSR (20% nonzero)" if sparse else "dense"
        print(f"\npartial_fit on {CHUNK}-row {kind} chunks of {N_FEATURES} features, "
              f"best of {args.repeat} rounds of {N_CHUNKS} calls")
        for classifier in (True, False):
            ref = best[(classifier, "scikit-learn")]
            est = "classifier (hinge)" if classifier else "regressor (squared error)"
            print(f"  {est}: scikit-learn {ref * 1e3:.3f} ms per call")
            for mode in ("sgd", "minibatch", "batch"):
                ratio = best[(classifier, mode)] / ref
                target = ("  (target <= 1.0: " + ("OK)" if ratio <= 1.0 else "MISS)")
                          if mode == "sgd" else "")
                print(f"    skgd {mode:9s} {best[(classifier, mode)] * 1e3:.3f} ms"
                      f"   ratio {ratio:5.2f}{target}")


if __name__ == "__main__":
    main()
