"""
===================================================
Multinomial (softmax) against one-vs-rest
===================================================

``GDClassifier(loss="log_loss")`` fits a problem with more than two classes
one-vs-rest by default: one binary logistic regression per class, whose
probabilities are normalised after the fact.  ``multi_class="multinomial"``
fits one softmax model whose rows are learned together.  This example
compares the two on three overlapping blobs: decision regions,
probabilities, and the held-out log loss, in every mode.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from skgd import GDClassifier

X, y = make_blobs(n_samples=1500, centers=[[-2, 0], [2, 0], [0, 1.2]],
                  cluster_std=[1.0, 1.0, 1.6], random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# Held-out log loss in every mode
# -------------------------------
# The softmax model is the maximum-likelihood model of this data; the
# one-vs-rest probabilities are not, and in minibatch and batch modes their
# log loss is higher.  In sgd mode the default 'optimal' steps are still
# large when the stopping rule fires, and the last iterate of either model
# is noisy (here the softmax one more; on digits the softmax one is far
# better, 0.33 against 1.22).
models = {}
for mode in ("sgd", "minibatch", "batch"):
    for multi_class in ("ovr", "multinomial"):
        est = GDClassifier(loss="log_loss", multi_class=multi_class, mode=mode,
                           random_state=0).fit(X_train, y_train)
        models[mode, multi_class] = est
        print(f"{mode:10s} {multi_class:12s} accuracy "
              f"{est.score(X_test, y_test):.3f}  log loss "
              f"{log_loss(y_test, est.predict_proba(X_test)):.4f}")

# %%
# Decision regions and probabilities (batch mode)
# -----------------------------------------------
# Colours: the predicted class; shade: the probability of that class.  The
# one-vs-rest model is over-confident far from the data and its regions
# bend where the normalisation of three sigmoids shifts them.
xx, yy = np.meshgrid(np.linspace(-6, 6, 300), np.linspace(-5, 6, 300))
grid = np.column_stack([xx.ravel(), yy.ravel()])
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
for ax, multi_class in zip(axes, ("ovr", "multinomial")):
    est = models["batch", multi_class]
    proba = est.predict_proba(grid)
    pred = proba.argmax(axis=1).reshape(xx.shape)
    conf = proba.max(axis=1).reshape(xx.shape)
    ax.contourf(xx, yy, pred, levels=[-0.5, 0.5, 1.5, 2.5],
                colors=["tab:blue", "tab:orange", "tab:green"], alpha=0.25)
    cs = ax.contour(xx, yy, conf, levels=[0.5, 0.7, 0.9], colors="k",
                    linewidths=0.7)
    ax.clabel(cs, fmt="%.1f", fontsize=8)
    ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="tab10", vmax=9, s=8)
    loss = log_loss(y_test, est.predict_proba(X_test))
    ax.set_title(f"multi_class={multi_class!r}: log loss {loss:.3f}")
    ax.set_xlabel("x0")
axes[0].set_ylabel("x1")
fig.tight_layout()
plt.show()
