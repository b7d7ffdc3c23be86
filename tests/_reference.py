"""Plain NumPy oracles of the skgd passes.

Nothing here is clever: weights are one float64 array ``w`` (no scale
factor), rows are visited with Python loops, and every formula is the one
written in the docstring of :func:`skgd._gd_fast.run_epoch`:

* for each batch of ``m`` rows (in ``order``), with the weights *before* the
  step, ``upd_i = -eta * s_i * clip(dL(y_i, p_i), -1e12, 1e12)``;
* L2 part: ``w *= max(0, 1 - eta * alpha * (1 - l1_ratio))``;
* ``w += sum_i upd_i / m * x_i`` and ``b += sum_i upd_i / m``;
* L1 part: the cumulative penalty of Tsuruoka et al. (2009),
  ``u += l1_ratio * eta * alpha`` then, for every coordinate ``j`` touched by
  a row of the batch (every column for dense rows, the stored indices for
  CSR rows), ``w_j <- max(0, w_j - (u + q_j))`` if ``w_j > 0``,
  ``w_j <- min(0, w_j + (u - q_j))`` if ``w_j < 0``, and ``q_j`` accumulates
  what ``w_j`` actually received;
* averaging (when ``0 < average_start <= t``) adds the iterate ``(w, b)``
  reached at the end of the update to a running sum (skgd matches this
  mean of iterates without an L1 part; with one it truncates the average as
  scikit-learn does, which the tests check against scikit-learn instead);
* ``t += m`` (``t`` counts rows, as scikit-learn's ``t_``).

A second oracle, :func:`full_gradient_step`, is one proximal gradient step on
``F(w, b) = sum_i s_i L_i / sum_i s_i + alpha R(w)``.
"""

import numpy as np
import scipy.sparse as sp

MAX_DLOSS = 1e12


def l1_ratio_of(penalty, l1_ratio=0.15):
    """The effective L1 share of a scikit-learn ``penalty`` name."""
    return {None: 0.0, "l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio}[penalty]


def penalty_value(w, penalty, alpha, l1_ratio):
    """``alpha * ((1 - r) / 2 ||w||^2 + r ||w||_1)`` (0 without a penalty)."""
    if penalty is None:
        return 0.0
    r = l1_ratio_of(penalty, l1_ratio)
    total = 0.0
    for wj in w:
        total += (1.0 - r) * 0.5 * wj * wj + r * abs(wj)
    return alpha * total


def soft_threshold(w, thr):
    out = np.zeros_like(w)
    for j, wj in enumerate(w):
        if wj > thr:
            out[j] = wj - thr
        elif wj < -thr:
            out[j] = wj + thr
    return out


def touched_mask(X):
    """Boolean (n_samples, n_features): which coordinates a row touches.

    A row touches its nonzero entries, whether it is dense, CSR, or CSR with
    explicit zeros: the L1 step skips zeros so all three give one model.
    """
    if sp.issparse(X):
        X = X.toarray()
    return np.asarray(X) != 0


def dense_rows(X):
    """The rows of ``X`` as a float64 dense array (float32 values kept exact)."""
    if sp.issparse(X):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


class ReferenceState:
    """Weights, intercept, cumulative-penalty and averaging state."""

    def __init__(self, coef, intercept=0.0, t=1, average_start=0):
        self.w = np.array(coef, dtype=np.float64)
        self.b = float(intercept)
        self.u = 0.0
        self.q = np.zeros_like(self.w)
        self.t = int(t)
        self.average_start = int(average_start)
        self.avg_sum = np.zeros_like(self.w)
        self.avg_b_sum = 0.0
        self.n_averaged = 0

    def average_coef(self):
        if self.n_averaged == 0:
            return np.zeros_like(self.w)
        return self.avg_sum / self.n_averaged

    def average_intercept(self):
        if self.n_averaged == 0:
            return 0.0
        return self.avg_b_sum / self.n_averaged


def run_epoch(state, X, y, sample_weight, order, batch_size, etas, loss,
              penalty, alpha, l1_ratio=0.15, fit_intercept=True, intercept_step=1.0):
    """One epoch of minibatch gradient descent, updating ``state`` in place.

    ``intercept_step``: the intercept's step is this factor times the
    coefficients' (minibatch mode's ``delta``).

    ``loss`` is a :class:`skgd._losses.Loss` (its NumPy ``loss``/``dloss``
    are used on scalars).  Averaging (``0 < average_start <= t``) sums the
    iterates, i.e. the weights and intercept at the end of each update.

    Returns ``(sum_loss, sum_weighted_loss, sum_weight, sum_penalty,
    n_updates)`` with the meaning of :func:`skgd._gd_fast.run_epoch`.
    """
    rows = dense_rows(X)
    touched = touched_mask(X)
    y = np.asarray(y, dtype=np.float64)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    r = l1_ratio_of(penalty, l1_ratio)
    l1, l2 = penalty_parts(penalty, alpha, r)
    has_l2 = penalty in ("l2", "elasticnet")
    has_l1 = penalty in ("l1", "elasticnet")
    sum_loss = sum_wloss = sum_w = sum_pen = 0.0
    n_updates = 0
    order = list(order)
    for bi, start in enumerate(range(0, len(order), batch_size)):
        batch = order[start:start + batch_size]
        m = len(batch)
        eta = float(etas[bi])
        pen = penalty_value(state.w, penalty, alpha, l1_ratio)
        upd = []
        for i in batch:
            p = float(np.dot(rows[i], state.w)) + state.b
            lv = float(loss.loss(y[i], p))
            sum_loss += lv
            sum_wloss += sample_weight[i] * lv
            sum_w += sample_weight[i]
            sum_pen += pen
            d = min(max(float(loss.dloss(y[i], p)), -MAX_DLOSS), MAX_DLOSS)
            upd.append(-eta * d * sample_weight[i])
        if has_l2:
            state.w = state.w * max(0.0, 1.0 - eta * alpha * (1.0 - r))
        ib = 0.0
        for i, c in zip(batch, upd):
            state.w = state.w + (c / m) * rows[i]
            ib += c / m
        if fit_intercept:
            state.b += ib * intercept_step
        if has_l1:
            state.u += r * eta * alpha
            cols = np.flatnonzero(touched[batch].any(axis=0))
            for j in cols:
                z = state.w[j]
                if z > 0.0:
                    state.w[j] = max(0.0, z - (state.u + state.q[j]))
                elif z < 0.0:
                    state.w[j] = min(0.0, z + (state.u - state.q[j]))
                state.q[j] += state.w[j] - z
        if 0 < state.average_start <= state.t:
            state.avg_sum = state.avg_sum + state.w
            state.avg_b_sum += state.b
            state.n_averaged += 1
        state.t += m
        n_updates += 1
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates


def full_gradient_step(X, y, sample_weight, coef, intercept, eta, loss, penalty,
                       alpha, l1_ratio=0.15, fit_intercept=True, intercept_step=1.0):
    """One proximal (sub)gradient step on the batch objective ``F``.

    ``grad = sum_i s_i dL(y_i, p_i) x_i / sum_i s_i + alpha (1 - r) w``;
    ``w <- soft_threshold(w - eta grad, eta alpha r)``,
    ``b <- b - delta eta sum_i s_i dL(y_i, p_i) / sum_i s_i`` with ``delta``
    the ``intercept_step``.
    """
    rows = dense_rows(X)
    w = np.array(coef, dtype=np.float64)
    b = float(intercept)
    s = np.asarray(sample_weight, dtype=np.float64)
    total = s.sum()
    r = l1_ratio_of(penalty, l1_ratio)
    mu = alpha * (1.0 - r) if penalty is not None else 0.0
    lam = alpha * r if penalty is not None else 0.0
    gw = np.zeros_like(w)
    gb = 0.0
    for i in range(rows.shape[0]):
        p = float(np.dot(rows[i], w)) + b
        d = float(loss.dloss(y[i], p)) * s[i] / total
        gw += d * rows[i]
        gb += d
    gw += mu * w
    w_new = soft_threshold(w - eta * gw, eta * lam)
    b_new = b - intercept_step * eta * gb if fit_intercept else b
    return w_new, b_new


def objective(X, y, sample_weight, coef, intercept, loss, penalty, alpha,
              l1_ratio=0.15):
    """``F(w, b) = sum_i s_i L_i / sum_i s_i + alpha R(w)``."""
    rows = dense_rows(X)
    s = np.asarray(sample_weight, dtype=np.float64)
    total = 0.0
    for i in range(rows.shape[0]):
        total += s[i] * float(loss.loss(y[i], float(np.dot(rows[i], coef)) + intercept))
    return total / s.sum() + penalty_value(coef, penalty, alpha, l1_ratio)


def penalty_parts(penalty, alpha, r):
    """``(l1, l2) = (alpha r, alpha (1 - r))`` of the proximal step, (0, 0)
    without a penalty."""
    if penalty is None:
        return 0.0, 0.0
    return alpha * r, alpha * (1.0 - r)


def run_optimizer_epoch(state, opt, X, y, sample_weight, order, batch_size, etas,
                        loss, penalty, alpha, l1_ratio=0.15, fit_intercept=True):
    """One epoch of minibatch descent with an optimizer (gather, then step).

    ``opt`` is a :class:`skgd._optimizers.NumpyOptimizer` over
    ``n_features + 1`` coordinates (the intercept last).  For each batch:
    the weighted derivatives at the weights before the step, the mean
    gradient ``g_j = sum_i s_i dL_i x_ij / m`` on the coordinates touched by a
    nonzero of the batch (first caught up over the updates they missed,
    :meth:`NumpyOptimizer.catch_up`, with the penalty of those ``k`` updates
    at once, threshold ``eta * precond_j * k``), ``w_j <- w_j - eta d_j``
    with the optimizer's direction, then the elastic-net proximal step with
    threshold ``tau_j = eta * precond_j``:
    ``w_j <- soft(w_j, tau_j alpha r) / (1 + tau_j alpha (1 - r))``
    (:meth:`NumpyOptimizer.step`, which takes the move and the proximal step
    in one formula, as the compiled code does); the intercept is always
    touched and not penalised.  Returns what :func:`run_epoch` returns.
    """
    rows = dense_rows(X)
    touched = touched_mask(X)
    y = np.asarray(y, dtype=np.float64)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    n_features = rows.shape[1]
    r = l1_ratio_of(penalty, l1_ratio)
    l1, l2 = penalty_parts(penalty, alpha, r)
    sum_loss = sum_wloss = sum_w = sum_pen = 0.0
    n_updates = 0
    order = list(order)
    for bi, start in enumerate(range(0, len(order), batch_size)):
        batch = order[start:start + batch_size]
        m = len(batch)
        eta = float(etas[bi])
        pen = penalty_value(state.w, penalty, alpha, l1_ratio)
        cols = np.flatnonzero(touched[batch].any(axis=0))
        # catch up the touched coordinates (moves and penalty of the updates
        # they missed, at this update's step) before the margins
        state.w[cols] = opt.catch_up(cols, state.w[cols], eta, l1, l2)
        grad = np.zeros(n_features + 1)
        for i in batch:
            p = float(np.dot(rows[i], state.w)) + state.b
            lv = float(loss.loss(y[i], p))
            sum_loss += lv
            sum_wloss += sample_weight[i] * lv
            sum_w += sample_weight[i]
            sum_pen += pen
            d = min(max(float(loss.dloss(y[i], p)), -MAX_DLOSS), MAX_DLOSS)
            grad[:n_features] += (d * sample_weight[i] / m) * rows[i]
            grad[n_features] += d * sample_weight[i] / m
        if fit_intercept:
            cols = np.append(cols, n_features)
        # the intercept (last) is not penalised
        pen_cols = cols < n_features
        new = opt.step(cols, grad[cols], np.append(state.w, state.b)[cols], eta,
                       np.where(pen_cols, l1, 0.0), np.where(pen_cols, l2, 0.0))
        state.w[cols[pen_cols]] = new[pen_cols]
        if fit_intercept:
            state.b = float(new[-1])
        if 0 < state.average_start <= state.t:
            state.avg_sum = state.avg_sum + state.w
            state.avg_b_sum += state.b
            state.n_averaged += 1
        state.t += m
        n_updates += 1
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates


def softmax_loss_gradient(z, label):
    """``(log sum exp z - z_y, softmax(z) - e_y)`` of one row's scores."""
    top = np.max(z)
    e = np.exp(z - top)
    total = e.sum()
    g = e / total
    g[label] -= 1.0
    return float(np.log(total) + top - z[label]), g


class SoftmaxReferenceState(ReferenceState):
    """A multinomial model: ``w`` holds ``W'`` (``n_features x K``) flattened
    feature-major (coordinate ``j K + c``), ``b`` the ``K`` intercepts."""

    def __init__(self, n_features, n_classes, t=1, average_start=0):
        super().__init__(np.zeros(n_features * n_classes), 0.0, t, average_start)
        self.b = np.zeros(n_classes)
        self.avg_b_sum = np.zeros(n_classes)
        self.K = n_classes

    def coef(self):
        return self.w.reshape(-1, self.K).T

    def average_coef(self):
        return super().average_coef().reshape(-1, self.K).T


def run_softmax_epoch(state, X, labels, sample_weight, order, batch_size, etas,
                      penalty, alpha, l1_ratio=0.15, fit_intercept=True, opt=None,
                      intercept_step=1.0):
    """One epoch of multinomial minibatch descent (see
    :func:`skgd._softmax_fast.run_softmax_epoch`), updating ``state``.

    Plain steps (``opt=None``) as :func:`run_epoch`, with the ``K`` weights
    of every feature a row touches as the coordinates of its L1 step; with a
    :class:`skgd._optimizers.NumpyOptimizer` over ``K (n_features + 1)``
    coordinates (the ``K`` intercepts last), as :func:`run_optimizer_epoch`.
    """
    rows = dense_rows(X)
    touched = touched_mask(X)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    K = state.K
    d = rows.shape[1]
    r = l1_ratio_of(penalty, l1_ratio)
    l1, l2 = penalty_parts(penalty, alpha, r)
    has_l2 = penalty in ("l2", "elasticnet")
    has_l1 = penalty in ("l1", "elasticnet")
    sum_loss = sum_wloss = sum_w = sum_pen = 0.0
    n_updates = 0
    order = list(order)
    for bi, start in enumerate(range(0, len(order), batch_size)):
        batch = order[start:start + batch_size]
        m = len(batch)
        eta = float(etas[bi])
        pen = penalty_value(state.w, penalty, alpha, l1_ratio)
        features = np.flatnonzero(touched[batch].any(axis=0))
        cols = (features[:, None] * K + np.arange(K)).ravel()
        if opt is not None:
            state.w[cols] = opt.catch_up(cols, state.w[cols], eta, l1, l2)
        grads = []
        for i in batch:
            z = rows[i] @ state.w.reshape(d, K) + state.b
            lv, g = softmax_loss_gradient(z, int(labels[i]))
            sum_loss += lv
            sum_wloss += sample_weight[i] * lv
            sum_w += sample_weight[i]
            sum_pen += pen
            grads.append(g * sample_weight[i] / m)
        gW = sum(np.outer(rows[i], g) for i, g in zip(batch, grads)).ravel()
        gb = sum(grads)
        if opt is not None:
            idx = np.append(cols, d * K + np.arange(K)) if fit_intercept else cols
            # the intercepts (last) are not penalised
            pen_idx = idx < d * K
            new = opt.step(idx, np.append(gW, gb)[idx],
                           np.append(state.w, state.b)[idx], eta,
                           np.where(pen_idx, l1, 0.0), np.where(pen_idx, l2, 0.0))
            state.w[idx[pen_idx]] = new[pen_idx]
            state.b[idx[~pen_idx] - d * K] = new[~pen_idx]
        else:
            if has_l2:
                state.w = state.w * max(0.0, 1.0 - eta * alpha * (1.0 - r))
            state.w = state.w - eta * gW
            if fit_intercept:
                state.b = state.b - intercept_step * eta * gb
        if opt is None and has_l1:
            state.u += r * eta * alpha
            for j in cols:
                z = state.w[j]
                if z > 0.0:
                    state.w[j] = max(0.0, z - (state.u + state.q[j]))
                elif z < 0.0:
                    state.w[j] = min(0.0, z + (state.u - state.q[j]))
                state.q[j] += state.w[j] - z
        if 0 < state.average_start <= state.t:
            state.avg_sum = state.avg_sum + state.w
            state.avg_b_sum = state.avg_b_sum + state.b
            state.n_averaged += 1
        state.t += m
        n_updates += 1
    return sum_loss, sum_wloss, sum_w, sum_pen, n_updates
