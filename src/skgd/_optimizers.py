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


class NumpyOptimizer:
    """NumPy twin of :class:`skgd._optim_fast.Optimizer` (for tests and reading).

    :meth:`catch_up` brings the coordinates a batch touches up to date
    before its margins are computed (the moments' decays over the updates a
    coordinate missed and, for momentum, Nesterov and Adam, the moves its
    weight would have made on them), as the compiled code does; :meth:`step`
    takes their gathered gradient ``g`` and returns their directions and
    preconditioners.
    """

    def __init__(self, name, n_coords, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 rho=0.9, eps=1e-8):
        self.name = name
        self.momentum, self.beta_1, self.beta_2 = momentum, beta_1, beta_2
        self.rho, self.eps = rho, eps
        self.m = np.zeros(n_coords)
        self.s = np.zeros(n_coords)
        self.last = np.zeros(n_coords, dtype=np.int64)
        self.n_steps = 0

    def catch_up(self, cols):
        """Bring the coordinates ``cols`` up to date over the updates they
        missed: returns the sum of the directions they missed, their
        preconditioners and the number of updates missed."""
        missed = self.n_steps - self.last[cols]
        self.last[cols] = self.n_steps
        m, s = self.m[cols], self.s[cols]
        carry = np.zeros(len(cols))
        pc = np.ones(len(cols))
        if self.name in ("momentum", "nesterov"):
            b = self.momentum
            # update k = 1 .. missed moved by b^k m (Nesterov: b^(k + 1) m)
            carry = m * geometric_sum(b, missed)
            if self.name == "nesterov":
                carry = b * carry
            m = m * b**missed
        elif self.name == "adagrad":
            pc = 1 / (np.sqrt(s) + self.eps)
        elif self.name == "rmsprop":
            s = s * self.rho**missed
            pc = 1 / (np.sqrt(s) + self.eps)
        else:  # adam: the last update's bias corrections, no eps
            b1, b2, T = self.beta_1, self.beta_2, self.n_steps
            c1, c2 = 1 - b1**T, 1 - b2**T
            with np.errstate(divide="ignore", invalid="ignore"):
                carry = np.where(s > 0, (m / c1) / np.sqrt(s / c2), 0.0)
            carry = carry * geometric_sum(b1 / np.sqrt(b2), missed)
            m, s = m * b1**missed, s * b2**missed
            if T > 0:
                pc = 1 / (np.sqrt(s / c2) + self.eps)
        self.m[cols], self.s[cols] = m, s
        return carry, pc, missed

    def step(self, touched, g):
        """Directions and preconditioners of ``touched`` (caught up) for
        their gradient ``g`` in a new update."""
        self.n_steps += 1
        T = self.n_steps
        self.last[touched] = T
        m, s = self.m[touched], self.s[touched]
        pc = np.ones(len(touched))
        if self.name in ("momentum", "nesterov"):
            b = self.momentum
            m = b * m + (1 - b) * g
            d = b * m + (1 - b) * g if self.name == "nesterov" else m
        elif self.name == "adagrad":
            s = s + g * g
            pc = 1 / (np.sqrt(s) + self.eps)
            d = g * pc
        elif self.name == "rmsprop":
            s = self.rho * s + (1 - self.rho) * g * g
            pc = 1 / (np.sqrt(s) + self.eps)
            d = g * pc
        else:  # adam
            b1, b2 = self.beta_1, self.beta_2
            m = b1 * m + (1 - b1) * g
            s = b2 * s + (1 - b2) * g * g
            pc = 1 / (np.sqrt(s / (1 - b2**T)) + self.eps)
            d = m / (1 - b1**T) * pc
        self.m[touched], self.s[touched] = m, s
        return d, pc
