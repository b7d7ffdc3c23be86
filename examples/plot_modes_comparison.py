"""
============================================
Comparing the sgd, minibatch and batch modes
============================================

:class:`~skgd.GDClassifier` minimises the same objective in every ``mode``;
the modes differ only in how many rows feed one update.  This example fits
the same L2-regularised logistic regression in the three modes for the same
number of epochs and plots the objective recorded in ``loss_curve_``
against epochs and against wall-clock time.
"""

# %%
# A standardised classification problem
# -------------------------------------
# Gradient descent wants features on comparable scales, so the data are
# standardised.  20,000 rows and 50 features keep the example fast.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier

X, y = make_classification(
    n_samples=20_000, n_features=50, n_informative=20, random_state=0
)
X = StandardScaler().fit_transform(X)
params = dict(loss="log_loss", alpha=1e-3, random_state=0)

# %%
# The optimum, for reference
# --------------------------
# Batch mode on a smooth loss takes the step ``1 / L`` with Nesterov
# acceleration and converges to the exact optimum; run it to a tight
# tolerance to get the optimal objective :math:`F^*`.
reference = GDClassifier(mode="batch", tol=1e-8, max_iter=5_000, **params).fit(X, y)
f_star = reference.loss_curve_[-1]
print(f"F* = {f_star:.6f} after {reference.n_iter_} batch iterations")

# %%
# Same budget of epochs in each mode
# ----------------------------------
# ``tol=None`` switches the stopping rule off so that every mode runs exactly
# ``max_iter`` epochs.  The time of one epoch is taken as the fit time divided
# by the number of epochs.
n_epochs = 30
modes = {
    "sgd": GDClassifier(mode="sgd", **params),
    "minibatch (batch_size=64)": GDClassifier(mode="minibatch", batch_size=64, **params),
    "batch": GDClassifier(mode="batch", **params),
}
curves, times = {}, {}
for name, clf in modes.items():
    clf.set_params(max_iter=n_epochs, tol=None)
    start = time.perf_counter()
    clf.fit(X, y)
    elapsed = time.perf_counter() - start
    curves[name] = np.asarray(clf.loss_curve_) - f_star
    times[name] = elapsed * np.arange(1, clf.n_iter_ + 1) / clf.n_iter_
    print(f"{name:>26}: {elapsed:.2f} s, accuracy {clf.score(X, y):.4f}")

# %%
# Objective against epochs and against time
# -----------------------------------------
# sgd and minibatch make many cheap updates per epoch: most of their progress
# happens in the first epochs, after which they approach the optimum slowly,
# held back by the noise of their steps and the decay of the schedule.
# Batch mode makes one exact step per epoch and converges linearly to the
# optimum.  An epoch of batch mode costs two matrix products, which BLAS
# computes fast, so on data that fit in memory it is also quick in wall-clock
# time.  The stochastic modes pay off when the data are so large that a few
# passes must suffice, or arrive as a stream.
#
# Note that in sgd and minibatch modes ``loss_curve_`` is scikit-learn's
# *running* objective: the mean, over the rows of the epoch, of the loss at
# the weights just before their step (plus the penalty).  It averages over
# the whole epoch's path, so it lags behind the objective at the end of the
# epoch; batch mode records the exact objective of each iterate.
fig, (ax_epochs, ax_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for name in modes:
    gap = np.maximum(curves[name], 1e-10)
    epochs = np.arange(1, len(gap) + 1)
    ax_epochs.semilogy(epochs, gap, marker=".", label=name)
    ax_time.semilogy(times[name], gap, marker=".", label=name)
ax_epochs.set(xlabel="epoch", ylabel=r"$F(w, b) - F^*$", title="Against epochs")
ax_time.set(xlabel="time (s)", title="Against wall-clock time")
ax_epochs.legend()
fig.tight_layout()
plt.show()

# %%
# Which one to choose?
# --------------------
# For a rough model in one or two passes over a large data set, sgd or
# minibatch.  For the exact optimum (model selection over ``alpha``,
# reproducible coefficients, comparisons with
# :class:`~sklearn.linear_model.LogisticRegression`), batch mode: it needs no
# step-size tuning on smooth losses and its stopping rule bounds the distance
# to the optimum.
