"""
=======================
Learning-rate schedules
=======================

A schedule maps the update counter ``t`` to the step size ``eta``.  ``t``
counts updates: samples in sgd mode, batches in minibatch mode.  This
example fits the same problem in sgd mode with the four schedules of
``learning_rate`` and compares their training objective per epoch:

* ``"constant"``: ``eta = eta0``;
* ``"optimal"``: ``eta = 1 / (alpha (t0 + t - 1))`` (Bottou's heuristic,
  with ``t0`` set from ``alpha`` and the loss; ``eta0`` is not used);
* ``"invscaling"``: ``eta = eta0 / t ** power_t``;
* ``"adaptive"``: ``eta = eta0``, divided by 5 each time the objective has
  not improved by ``tol`` for ``n_iter_no_change`` epochs.
"""

# %%
# The problem
# -----------
# An L2-regularised linear SVM (hinge loss) on standardised data, fitted for
# at most 60 epochs, with a step size ``eta0`` that is on the large side.
import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from skgd import GDClassifier, LossCurveDisplay

X, y = make_classification(
    n_samples=5_000, n_features=40, n_informative=10, flip_y=0.05, random_state=0
)
X = StandardScaler().fit_transform(X)
common = dict(loss="hinge", alpha=1e-3, eta0=0.1, max_iter=60, random_state=0)

# %%
# Fitting with each schedule
# --------------------------
# ``tol=None`` runs every fixed schedule for all 60 epochs.  The adaptive
# schedule needs its stopping rule: with ``tol`` set it lowers the step
# instead of stopping, and stops once the step falls below ``1e-6``.
schedules = {
    "constant": dict(learning_rate="constant", tol=None),
    "optimal": dict(learning_rate="optimal", tol=None),
    "invscaling": dict(learning_rate="invscaling", power_t=0.5, tol=None),
    "adaptive": dict(learning_rate="adaptive", tol=1e-4, n_iter_no_change=3),
}
fitted = {}
for name, params in schedules.items():
    clf = fitted[name] = GDClassifier(**common, **params).fit(X, y)
    print(f"{name:>10}: {clf.n_iter_:2d} epochs, final objective "
          f"{clf.loss_curve_[-1]:.4f}, accuracy {clf.score(X, y):.4f}")

# %%
# Objective per epoch
# -------------------
# :class:`~skgd.LossCurveDisplay` draws the ``loss_curve_`` of each fit on
# shared axes.
#
# The constant step stalls from the first epoch at a noise floor set by
# ``eta0``: its steps never get smaller.  ``invscaling`` decays as
# ``eta0 / sqrt(t)`` per sample; after one epoch (5,000 updates) its steps
# are already 70 times smaller than ``eta0`` and it is close to the optimum.
# ``optimal`` sizes its first steps from ``alpha`` alone (large when
# ``alpha`` is small), overshoots in the first epoch, then decays as
# ``1 / t``, the rate that suits strongly convex problems.  ``adaptive``
# keeps its large step until the objective stops improving, then divides it
# by 5: the drops of its curve.
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, clf in fitted.items():
    LossCurveDisplay.from_estimator(clf, ax=ax, name=name, loss_kw={"marker": "."})
ax.set(title="GDClassifier(mode='sgd', loss='hinge'): learning_rate", yscale="log")
ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
ax.legend()
fig.tight_layout()
plt.show()
