"""Optimizers of the stochastic modes: names, parameters and NumPy twins.

``optimizer="sgd"`` takes plain steps (scikit-learn's, scattered row by row
into the weights).  The others are compiled in :mod:`skgd._optim_fast`;
the minibatch pass gathers the batch gradient on the coordinates the batch
touches, takes one optimizer step on them, then the penalty's proximal step
(see :func:`skgd._gd_fast.run_epoch`).  :class:`NumpyOptimizer` is the plain
NumPy twin of the compiled ones, coordinate for coordinate: tests check the
compiled pass against it, and it documents the lazy semantics.

Step sizes: the schedule (``learning_rate``) still gives the base step
``eta``.  Momentum and Nesterov average gradients, so ``eta`` means what it
means for plain steps (a batch steps by the sum of its rows' steps, capped
by ``1 / L_B`` in minibatch mode).  Adagrad, RMSprop and Adam normalise the
gradient per coordinate, so their step is a distance in weight units: an
update steps by ``eta`` of its first row (no sum over the batch, no
``1 / L_B`` cap), and the default ``learning_rate='optimal'`` (a plain-SGD
rule in ``1 / (alpha t)``) means a constant ``eta0`` for them, divided by 5
on a plateau in minibatch mode while that pays off.
"""

import numpy as np

from ._optim_fast import Optimizer, OptimizerKind

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


def hyper_parameters(est):
    """The optimizer hyper-parameters of an estimator, as the kernel takes them."""
    return dict(
        momentum=float(est.momentum), beta_1=float(est.beta_1),
        beta_2=float(est.beta_2), rho=float(est.rho),
        eps=float(est.optimizer_epsilon),
    )


def make_optimizer(est, n_features, previous=None):
    """The compiled optimizer state of one problem (None for plain steps).

    ``previous`` (the state of an earlier ``partial_fit`` call) is kept when
    it belongs to the same optimizer and shape, so that a stream continues
    its moments.
    """
    if est.optimizer == "sgd":
        return None
    kind = int(KINDS[est.optimizer])
    params = hyper_parameters(est)
    if previous is not None and previous.matches(kind, n_coords=n_features + 1,
                                                 **params):
        return previous.copy()
    return Optimizer(kind, n_features + 1, **params)


class NumpyOptimizer:
    """NumPy twin of :class:`skgd._optim_fast.Optimizer` (for tests and reading).

    :meth:`step` takes the gathered gradient ``g`` of the coordinates
    ``touched`` by one update and returns their directions and
    preconditioners, with the same lazy catch-up as the compiled code.
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

    def step(self, touched, g):
        """Directions and preconditioners of ``touched`` for gradient ``g``,
        and the number of updates since each was last touched."""
        self.n_steps += 1
        T = self.n_steps
        gap = T - self.last[touched]
        self.last[touched] = T
        missed = gap - 1
        m, s = self.m[touched], self.s[touched]
        pc = np.ones(len(touched))
        if self.name in ("momentum", "nesterov"):
            b = self.momentum
            m = b * (m * b**missed) + (1 - b) * g
            d = b * m + (1 - b) * g if self.name == "nesterov" else m
        elif self.name == "adagrad":
            s = s + g * g
            pc = 1 / (np.sqrt(s) + self.eps)
            d = g * pc
        elif self.name == "rmsprop":
            s = self.rho * (s * self.rho**missed) + (1 - self.rho) * g * g
            pc = 1 / (np.sqrt(s) + self.eps)
            d = g * pc
        else:  # adam
            b1, b2 = self.beta_1, self.beta_2
            m = b1 * (m * b1**missed) + (1 - b1) * g
            s = b2 * (s * b2**missed) + (1 - b2) * g * g
            pc = 1 / (np.sqrt(s / (1 - b2**T)) + self.eps)
            d = m / (1 - b1**T) * pc
        self.m[touched], self.s[touched] = m, s
        return d, pc, gap
