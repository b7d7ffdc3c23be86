"""
===========================================
Tuning eta0 and batch_size with grid search
===========================================

In minibatch mode one update averages the gradients of ``batch_size`` rows.
Larger batches give less noisy but fewer updates per epoch, so the best
step size ``eta0`` depends on the batch size.  This example searches the
``eta0 x batch_size`` grid with :class:`~sklearn.model_selection.GridSearchCV`
and shows the cross-validated score as a heat map.
"""

# %%
# Data and model
# --------------
# A :class:`~sklearn.pipeline.Pipeline` standardises the features inside each
# fold.  ``learning_rate="constant"`` makes ``eta0`` the step size of every
# update (the classifier's default schedule, ``"optimal"``, does not use
# ``eta0``).  A fixed budget of 10 epochs (``tol=None``) makes the comparison
# fair across batch sizes.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier

X, y = make_classification(
    n_samples=4_000, n_features=30, n_informative=10, flip_y=0.05, random_state=0
)
model = make_pipeline(
    StandardScaler(),
    GDClassifier(
        loss="log_loss", mode="minibatch", learning_rate="constant",
        max_iter=10, tol=None, random_state=0,
    ),
)

# %%
# The search
# ----------
# The log-loss (``scoring="neg_log_loss"``) separates the candidates more
# finely than the accuracy.  Diverging candidates (too large a step) raise an
# error; ``error_score=np.nan`` records them as missing instead.
eta0s = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
batch_sizes = [1, 8, 32, 128, 512]
search = GridSearchCV(
    model,
    {"gdclassifier__eta0": eta0s, "gdclassifier__batch_size": batch_sizes},
    scoring="neg_log_loss",
    cv=3,
    error_score=np.nan,
)
search.fit(X, y)
print("best parameters:", search.best_params_)
print(f"best log-loss: {-search.best_score_:.4f}")

# %%
# Heat map of the cross-validated log-loss
# ----------------------------------------
# Each row is a batch size and each column a step size.  The best ``eta0``
# moves right as ``batch_size`` grows: averaging over more rows reduces the
# noise of a step, which can then be larger, and there are fewer steps per
# epoch to make up for.
scores = -search.cv_results_["mean_test_score"].reshape(len(batch_sizes), len(eta0s))
fig, ax = plt.subplots(figsize=(6, 4.5))
# clip the colour scale: a diverging corner would otherwise wash out the rest
im = ax.imshow(scores, cmap="viridis", vmin=np.nanmin(scores), vmax=0.7)
ax.set_xticks(range(len(eta0s)), labels=[f"{e:g}" for e in eta0s])
ax.set_yticks(range(len(batch_sizes)), labels=batch_sizes)
ax.set(xlabel="eta0", ylabel="batch_size", title="Cross-validated log-loss (lower is better)")
for i in range(len(batch_sizes)):
    for j in range(len(eta0s)):
        value = scores[i, j]
        text = "n/a" if np.isnan(value) else f"{value:.3f}"
        color = "black" if value > 0.6 else "white"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
fig.colorbar(im, ax=ax)
fig.tight_layout()
plt.show()
