"""
===============================================
Optimizers compared by their distance to F*
===============================================

Minibatch mode can turn a batch's gradient into a step in six ways
(``optimizer``): plain steps, momentum, Nesterov momentum, Adagrad, RMSprop
and Adam.  This example fits an L2-regularised logistic regression on sparse
generated text with each of them at its defaults and plots the training
objective's distance to the optimum ``F - F*`` after each epoch, ``F*``
coming from :class:`~sklearn.linear_model.LogisticRegression`.
"""

# %%
# Data and the optimum
# --------------------
# Hashed bag-of-words rows, L2-normalised: the coordinates a batch touches
# are a small share of the columns, so the optimizers' lazy updates matter.
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from skgd import GDClassifier

rng = np.random.RandomState(0)
n_samples, n_features, nnz = 4_000, 2_000, 30
cols = rng.zipf(1.3, size=(n_samples, nnz)) % n_features
X = sp.csr_matrix(
    (np.ones(n_samples * nnz), cols.ravel(), np.arange(0, n_samples * nnz + 1, nnz)),
    shape=(n_samples, n_features),
)
X.sum_duplicates()
X = normalize(X)
w_true = rng.randn(n_features)
y = (X @ w_true + 0.3 * rng.randn(n_samples) > 0).astype(int)

alpha = 1e-4
ref = LogisticRegression(C=1 / (n_samples * alpha), tol=1e-10, max_iter=10_000)
ref.fit(X, y)


def objective(coef, intercept):
    p = X @ np.ravel(coef) + intercept[0]
    s = np.where(y > 0, 1.0, -1.0)
    return np.mean(np.logaddexp(0, -s * p)) + 0.5 * alpha * np.sum(coef**2)


f_star = objective(ref.coef_, ref.intercept_)

# %%
# One epoch at a time
# -------------------
# ``partial_fit`` carries the whole state (weights and the optimizer's
# moments) from call to call, so calling it once per pass over the shuffled
# rows traces the loss curve of a fit.
optimizers = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
n_epochs = 15
gaps = {}
for optimizer in optimizers:
    clf = GDClassifier(loss="log_loss", alpha=alpha, mode="minibatch",
                       batch_size=64, optimizer=optimizer, random_state=0)
    gaps[optimizer] = []
    for epoch in range(n_epochs):
        order = np.random.RandomState(epoch).permutation(n_samples)
        clf.partial_fit(X[order], y[order], classes=[0, 1])
        gaps[optimizer].append(objective(clf.coef_, clf.intercept_) - f_star)

fig, ax = plt.subplots(figsize=(6, 4))
for optimizer, gap in gaps.items():
    ax.semilogy(np.arange(1, n_epochs + 1), np.maximum(gap, 1e-12), label=optimizer)
ax.set_xlabel("epoch")
ax.set_ylabel("F - F*")
ax.set_title("minibatch(64) on sparse text, defaults")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Plain steps, momentum and Nesterov (whose step is capped by the data's
# ``1 / L_B``) go furthest here.  With its default ``eta0=0.01`` Adagrad
# starts too slowly (its steps decay as one over the root of the update
# count).  RMSprop and Adam keep a constant step of ``eta0`` through
# ``partial_fit`` and settle in a noise ball around the optimum; ``fit``
# divides their step by 5 on each plateau of the objective, which takes
# them closer.
for optimizer, gap in gaps.items():
    print(f"{optimizer:>9s}: F - F* after {n_epochs} epochs = {gap[-1]:.2e}")
