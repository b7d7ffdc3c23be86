"""Optimizers of the stochastic modes: names, parameters and NumPy twins.

``optimizer="sgd"`` takes plain steps (scikit-learn's, scattered row by row
into the weights).  The others are compiled in :mod:`skgd._optim_fast`;
the minibatch pass gathers the batch gradient on the coordinates the batch
touches, takes one optimizer step on them, then the penalty's proximal step
(see :func:`skgd._gd_fast.run_epoch`).  :class:`NumpyOptimizer` is the plain
NumPy twin of the compiled ones, coordinate for coordinate: tests check the
compiled pass against it, and it documents the lazy semantics.

The passive-aggressive rules (``learning_rate="pa1"``, ``"pa2"``, sgd mode)
are the other members: they size each row's step from its loss and norm
(:func:`passive_aggressive_step`, compiled in :mod:`skgd._optim_fast`) and
keep no state, so they take no optimizer.

Step sizes: the schedule (``learning_rate``) still gives the base step
``eta``.  Momentum and Nesterov average gradients, so ``eta`` means what it
means for plain steps (a batch steps by the sum of its rows' steps, capped
by ``1 / L_B`` in minibatch mode).  Adagrad, RMSprop and Adam normalise the
gradient per coordinate, so their step is a distance in weight units: an
update steps by ``eta`` of its first row (no sum over the batch, no
``1 / L_B`` cap).  The default ``learning_rate='optimal'`` (a plain-SGD rule
in ``1 / (alpha t)``, which ignores ``eta0``) means for them a constant step
(:data:`OPTIMAL_STEPS`: 0.1 for Adagrad, whose steps decay by themselves,
0.01 for RMSprop and Adam), divided by 5 on a plateau in minibatch mode
while that pays off (Adagrad takes its constant step under
``'invscaling'``, the regressor's default, too: that decay on top of its
own stalled it); RMSprop and Adam then report the average of their
iterates (as ``average=True``), since a constant step leaves the last
iterate in a noise ball around the optimum (measured on a9a and a dense
200,000 x 100 problem: F - F* 5.9e-3 for the last iterate after 5 epochs of
Adam, 1.1e-5 for the average).
"""

import numpy as np

from ._optim_fast import Optimizer, OptimizerKind, StepRule

KINDS = {
    "momentum": OptimizerKind.OPT_MOMENTUM,
    "nesterov": OptimizerKind.OPT_NESTEROV,
    "adagrad": OptimizerKind.OPT_ADAGRAD,
    "rmsprop": OptimizerKind.OPT_RMSPROP,
    "adam": OptimizerKind.OPT_ADAM,
}
OPTIMIZERS = ("sgd", *KINDS)
#: optimizers whose step is normalised per coordinate (scale-free)
NORMALISED = frozenset({"adagrad", "rmsprop", "adam"})
#: their constant step (in weight units) under ``learning_rate='optimal'``
#: (and Adagrad's under 'invscaling'; see ``BaseGD._optimal_normalised``),
#: which ignores ``eta0`` as scikit-learn's does: Adagrad's step decays by
#: itself (as one over the root of the squared gradients summed), so it
#: starts larger than those of RMSprop and Adam
OPTIMAL_STEPS = {"adagrad": 0.1, "rmsprop": 0.01, "adam": 0.01}
#: constant-step optimizers whose iterates are averaged under 'optimal'
AVERAGED = frozenset({"rmsprop", "adam"})


def hyper_parameters(est):
    """The optimizer hyper-parameters of an estimator, as the kernel takes them."""
    return dict(
        momentum=float(est.momentum), beta_1=float(est.beta_1),
        beta_2=float(est.beta_2), rho=float(est.rho),
        eps=float(est.optimizer_epsilon),
    )


def make_optimizer(est, n_coords, previous=None):
    """The compiled optimizer state of one problem (None for plain steps).

    ``n_coords`` counts the problem's parameters, intercepts included
    (``n_features + 1`` for a binary problem).  ``previous`` (the state of
    an earlier ``partial_fit`` call) is kept when it belongs to the same
    optimizer and shape, so that a stream continues its moments.
    """
    if est.optimizer == "sgd":
        return None
    kind = int(KINDS[est.optimizer])
    params = hyper_parameters(est)
    if previous is not None and previous.matches(kind, n_coords=n_coords, **params):
        return previous.copy()
    return Optimizer(kind, n_coords, **params)


#: the passive-aggressive step rules (``learning_rate``): sgd mode sizes a
#: row's step from its loss and norm (no schedule, no optimizer state)
STEP_RULES = {"pa1": StepRule.STEP_PA1, "pa2": StepRule.STEP_PA2}


def passive_aggressive_step(rule, c, loss_value, sq_norm):
    """NumPy twin of the compiled passive-aggressive step size of a row.

    PA-I (``rule='pa1'``): ``min(C, loss / ||x||^2)``, None for a row with no
    nonzero (it takes no step); PA-II: ``loss / (||x||^2 + 1 / (2 C))``.
    """
    if rule == "pa1":
        return None if sq_norm == 0 else min(c, loss_value / sq_norm)
    return loss_value / (sq_norm + 0.5 / c)


def geometric_sum(base, k):
    """``base + base ** 2 + ... + base ** k`` for an array ``k`` (0 where
    ``k <= 0``)."""
    k = np.asarray(k)
    if base == 1.0:
        return np.maximum(k, 0).astype(np.float64)
    return np.where(k > 0, base * (1 - base ** np.maximum(k, 0)) / (1 - base), 0.0)


def soft_threshold(z, t):
    """``sign(z) max(|z| - t, 0)``, elementwise (``t >= 0``)."""
    return np.where(z > t, z - t, np.where(z < -t, z + t, 0.0))


def prox_elastic_net(z, tau, l1, l2):
    """``soft(z, tau l1) / (1 + tau l2)``, elementwise (where ``l1``, ``l2`` > 0)."""
    z = np.where(l1 > 0, soft_threshold(z, tau * l1), z)
    return np.where(l2 > 0, z / (1.0 + tau * l2), z)


def _prox_scaled(z, den, a, l1, l2):
    """``prox`` of ``z / den`` with threshold ``a / den`` (preconditioner
    ``1 / den``): ``soft(z, a l1) / (den + a l2)``, one division."""
    z = np.where(l1 > 0, soft_threshold(z, a * l1), z)
    return z / (den + a * l2)


class NumpyOptimizer:
    """NumPy twin of :class:`skgd._optim_fast.Optimizer` (for tests and reading).

    :meth:`catch_up` brings the coordinates a batch touches up to date
    before its margins are computed (the moments' decays over the updates a
    coordinate missed and, for momentum, Nesterov and Adam, the moves its
    weight would have made on them, then the penalty's proximal step of
    those updates), as the compiled code does; :meth:`step` takes their
    gathered gradient ``g`` and returns their new weights (the move along
    the optimizer's direction, then the proximal step).  The formulas are
    those of :func:`skgd._optim_fast.opt_catch_up_weight` and
    ``opt_step_weight``, operation for operation: with the preconditioner
    ``1 / den`` the move and the proximal step take one division.
    ``l1 = alpha l1_ratio`` and ``l2 = alpha (1 - l1_ratio)`` (scalars or
    one per coordinate; 0 without a penalty, and for the intercept).  The
    second moments are kept as their roots ``r = sqrt(s)`` (``s`` is
    ``r * r``), which a catch-up decays by ``sqrt(decay) ** missed``.
    """

    def __init__(self, name, n_coords, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 rho=0.9, eps=1e-8):
        self.name = name
        self.momentum, self.beta_1, self.beta_2 = momentum, beta_1, beta_2
        self.rho, self.eps = rho, eps
        self.m = np.zeros(n_coords)
        self.r = np.zeros(n_coords)
        self.last = np.zeros(n_coords, dtype=np.int64)
        self.n_steps = 0

    def catch_up(self, cols, w, eta, l1=0.0, l2=0.0):
        """Bring the coordinates ``cols`` (weights ``w``) up to date over the
        updates they missed, at the step ``eta``: returns their new weights
        (``w`` where none was missed)."""
        missed = self.n_steps - self.last[cols]
        self.last[cols] = self.n_steps
        w = np.asarray(w, dtype=np.float64)
        l1 = np.broadcast_to(np.asarray(l1, dtype=np.float64), w.shape)
        l2 = np.broadcast_to(np.asarray(l2, dtype=np.float64), w.shape)
        m, r = self.m[cols], self.r[cols]
        a = eta * missed
        no_penalty = (l1 == 0) & (l2 == 0)
        if self.name in ("momentum", "nesterov"):
            b = self.momentum
            # update k = 1 .. missed moved by b^k m (Nesterov: b^(k + 1) m)
            carry = m * geometric_sum(b, missed)
            if self.name == "nesterov":
                carry = b * carry
            m = m * b**missed
            new = prox_elastic_net(w - eta * carry, a, l1, l2)
        else:
            # the proximal step on y den / q: y the weight moved, times q
            y, q, moved = w, np.ones_like(w), np.zeros(w.shape, dtype=bool)
            if self.name == "adam":
                # the last update's bias corrections, no eps in the moves
                if self.n_steps == 0:
                    return w
                b1, b2, T = self.beta_1, self.beta_2, self.n_steps
                inv_c1, sqrt_inv_c2 = 1.0 / (1 - b1**T), np.sqrt(1.0 / (1 - b2**T))
                r0 = r * sqrt_inv_c2
                # sqrt(s_hat) after the decay: r0 sqrt(b2)^missed
                den = r0 * np.sqrt(b2) ** missed + self.eps
                # the moves (where s > 0; else m = 0 too): y = w r0 - eta
                # m_hat geometric
                moved = r > 0
                q = np.where(moved, r0, 1.0)
                geo = geometric_sum(b1 / np.sqrt(b2), missed)
                y = np.where(moved, w * r0 - eta * ((m * inv_c1) * geo), w)
                m, r = m * b1**missed, r * np.sqrt(b2) ** missed
            else:  # adagrad, rmsprop: no moves
                if self.name == "rmsprop":
                    r = r * np.sqrt(self.rho) ** missed
                den = r + self.eps
            z = y * den
            z = np.where(l1 > 0, soft_threshold(z, (a * l1) * q), z)
            new = np.where(~moved & no_penalty, w, z / (q * (den + a * l2)))
        self.m[cols], self.r[cols] = m, r
        return np.where(missed > 0, new, w)

    def step(self, touched, g, w, eta, l1=0.0, l2=0.0):
        """New weights of ``touched`` (caught up, weights ``w``) for their
        gradient ``g`` in a new update at the step ``eta``."""
        self.n_steps += 1
        T = self.n_steps
        self.last[touched] = T
        w = np.asarray(w, dtype=np.float64)
        l1 = np.broadcast_to(np.asarray(l1, dtype=np.float64), w.shape)
        l2 = np.broadcast_to(np.asarray(l2, dtype=np.float64), w.shape)
        m, r = self.m[touched], self.r[touched]
        if self.name in ("momentum", "nesterov"):
            b = self.momentum
            m = b * m + (1 - b) * g
            d = b * m + (1 - b) * g if self.name == "nesterov" else m
            self.m[touched] = m
            return prox_elastic_net(w - eta * d, eta, l1, l2)
        # the second moment s = r * r before the update, r = sqrt(s) after
        if self.name == "adagrad":
            r = np.sqrt(r * r + g * g)
            den, num = r + self.eps, g
        elif self.name == "rmsprop":
            r = np.sqrt(self.rho * (r * r) + (1 - self.rho) * g * g)
            den, num = r + self.eps, g
        else:  # adam
            b1, b2 = self.beta_1, self.beta_2
            m = b1 * m + (1 - b1) * g
            r = np.sqrt(b2 * (r * r) + (1 - b2) * g * g)
            den = r * np.sqrt(1.0 / (1 - b2**T)) + self.eps
            num = m * (1.0 / (1 - b1**T))
        self.m[touched], self.r[touched] = m, r
        # d = num / den, preconditioner 1 / den
        return _prox_scaled(w * den - eta * num, den, eta, l1, l2)
