"""
==========================================
Regression in the three modes, and Ridge
==========================================

:class:`~skgd.GDRegressor` with ``loss="squared_error"`` and an L2 penalty
minimises the objective of :class:`~sklearn.linear_model.Ridge`,

.. math::

    F(w, b) = \\frac{1}{2n} \\sum_i (y_i - x_i^\\top w - b)^2
              + \\frac{\\alpha}{2} \\|w\\|_2^2,

so Ridge's exact solution (with its ``alpha`` set to ``alpha * n``) is the
optimum :math:`F^*` that every mode approaches.  This example fits the three
modes on the diabetes data bundled with scikit-learn, compares them with
Ridge and with :class:`~sklearn.linear_model.SGDRegressor`, and plots the
gap to the optimum, :math:`F - F^*`, epoch by epoch.
"""

# %%
# The data and the optimum
# ------------------------
# 442 patients, 10 standardised features (age, sex, body mass index, blood
# pressure and six blood serum measurements), and a measure of disease
# progression one year later as the target (in its own units, between 25
# and 346).  Ridge solves the problem exactly.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge, SGDRegressor
from sklearn.preprocessing import StandardScaler

from skgd import GDRegressor

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
n_samples = X.shape[0]
alpha = 1e-3


def objective(coef, intercept):
    """F(w, b): half the mean squared error plus alpha / 2 ||w||^2."""
    residual = y - X @ coef - intercept
    return 0.5 * np.mean(residual**2) + 0.5 * alpha * coef @ coef


ridge = Ridge(alpha=alpha * n_samples).fit(X, y)
f_star = objective(ridge.coef_, ridge.intercept_)
print(f"F* = {f_star:.4f} (Ridge), R^2 = {ridge.score(X, y):.4f}")

# %%
# The three modes, 50 epochs each
# -------------------------------
# ``tol=None`` switches the stopping rule off so that every mode runs the
# same 50 epochs.  sgd mode is scikit-learn's SGD: with the same parameters
# and ``random_state`` it gives :class:`~sklearn.linear_model.SGDRegressor`'s
# coefficients.
n_epochs = 50
params = dict(alpha=alpha, max_iter=n_epochs, tol=None, random_state=0)
models = {
    "sgd": GDRegressor(mode="sgd", **params),
    "minibatch (batch_size=32)": GDRegressor(mode="minibatch", batch_size=32, **params),
    "batch": GDRegressor(mode="batch", **params),
}
print(f"{'model':>27}  {'F - F*':>9}  {'max |w - w_ridge|':>17}  {'R^2':>6}")
for name, model in models.items():
    model.fit(X, y)
    gap = objective(model.coef_, model.intercept_[0]) - f_star
    distance = np.abs(model.coef_ - ridge.coef_).max()
    print(f"{name:>27}  {gap:9.2e}  {distance:17.2e}  {model.score(X, y):6.4f}")

sgd_reference = SGDRegressor(**params).fit(X, y)
gap = objective(sgd_reference.coef_, sgd_reference.intercept_[0]) - f_star
print(f"{'SGDRegressor':>27}  {gap:9.2e}")
same = np.allclose(models["sgd"].coef_, sgd_reference.coef_)
print(f"sgd mode and SGDRegressor give the same coefficients: {same}")

# %%
# The gap to the optimum, epoch by epoch
# --------------------------------------
# ``loss_curve_`` holds the objective of each epoch.  Batch mode (full
# gradients, on this smooth problem) reaches the optimum to rounding within
# a few iterations and stays there.  sgd and minibatch make many small
# steps per epoch; their curve is scikit-learn's *running* objective (the
# mean, over the epoch, of the loss just before each step), and they close
# in on the optimum slowly, held back by the noise of their steps and the
# decay of the step size.  On a problem this small, batch mode is the right
# choice; the stochastic modes pay off on data too large for many passes.
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, model in models.items():
    gap = np.maximum(np.asarray(model.loss_curve_) - f_star, 1e-12)
    ax.semilogy(np.arange(1, len(gap) + 1), gap, marker=".", label=name)
ax.set(xlabel="epoch", ylabel=r"$F(w, b) - F^*$", title="Diabetes, L2-penalised least squares")
ax.legend()
fig.tight_layout()
plt.show()
