"""Compiled optimizers of the stochastic modes (momentum, Nesterov, Adagrad,
RMSprop, Adam), with lazy per-coordinate state.

The minibatch pass (:func:`skgd._gd_fast.run_epoch`) gathers the batch
gradient ``g_j`` of every coordinate ``j`` the batch touches (a nonzero
entry in one of its rows), then asks the optimizer for a direction ``d_j``;
the weight moves by ``-eta d_j``.  Coordinates the batch does not touch are
not visited (a sparse update costs O(nnz of the batch)).  A coordinate is
caught up when a batch next touches it, before the batch's margins are
computed (:meth:`Optimizer.catch_up`): its moments take the closed form of
the decays they missed (``beta ** k``), and its weight the moves it missed.
With momentum a gradient keeps moving its coordinate on the updates after it
(by ``beta ** k m``), and on sparse data those updates mostly do not touch
it; dropping these moves would keep only ``1 - beta`` of each gradient of a
rare feature (a tenth with the default ``beta``: momentum and Adam stalled
far from the optimum on text).  For momentum and Nesterov the moves are
exact when the step is constant over the gap (a geometric series in
``beta``), so that lazy steps equal the dense formulation on every
coordinate an update touches; for Adam the series in
``beta_1 / sqrt(beta_2)`` takes the bias corrections of the last update and
leaves out ``eps``; Adagrad and RMSprop do not move a coordinate whose
gradient is 0.  On data without zeros every coordinate is touched by every
update and the optimizers are the usual dense ones (``torch.optim``'s
formulas, see :mod:`skgd._optimizers`).

With ``T`` the update counter (``n_steps``), for one coordinate:

* momentum:  ``m <- beta m + (1 - beta) g``, ``d = m``;
* nesterov:  the same ``m``, ``d = beta m + (1 - beta) g``;
* adagrad:   ``s <- s + g^2``, ``d = g / (sqrt(s) + eps)``;
* rmsprop:   ``s <- rho s + (1 - rho) g^2``, ``d = g / (sqrt(s) + eps)``;
* adam:      ``m <- b1 m + (1 - b1) g``, ``s <- b2 s + (1 - b2) g^2``,
  ``d = m_hat / (sqrt(s_hat) + eps)`` with ``m_hat = m / (1 - b1^T)``,
  ``s_hat = s / (1 - b2^T)``.

Momentum is an average of gradients (dampened heavy ball): at a fixed point
``d = g``, so the step ``eta`` keeps its meaning (and its cap).  The
preconditioner of a coordinate is ``1`` for momentum and Nesterov and
``1 / den``, ``den = sqrt(s) + eps`` (``s_hat`` for Adam), otherwise; the
penalty's proximal step scales its threshold by it,
``w <- soft(z, tau l1) / (1 + tau l2)`` with ``tau = eta / den``, which the
per-coordinate functions take as ``soft(z den, eta l1) / (den + eta l2)``
(one division for the move and the penalty).
"""
from libc.math cimport pow, sqrt
from libc.stdint cimport int64_t

import numpy as np



cdef class Optimizer:
    """State and hyper-parameters of one problem's optimizer.

    Parameters
    ----------
    kind : int
        An :class:`OptimizerKind` code (not ``OPT_SGD``: plain steps need no
        state).
    n_coords : int
        Number of coordinates: ``n_features + 1`` (the intercept is last).
    momentum, beta_1, beta_2, rho, eps : float
        Hyper-parameters (see the module docstring).
    """

    def __init__(self, int kind, Py_ssize_t n_coords, double momentum=0.9,
                 double beta_1=0.9, double beta_2=0.999, double rho=0.9,
                 double eps=1e-8):
        self.kind = kind
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.eps = eps
        self.slots = np.zeros((n_coords, N_SLOTS))
        self.n_steps = 0
        self.bias_1 = 1.0
        self.bias_2 = 1.0
        self.last_bias_1 = 1.0
        self.last_bias_2 = 1.0
        k = np.arange(N_POWERS, dtype=np.float64)
        # the ratio of Adam's missed directions from one update to the next
        self.adam_ratio = beta_1 / sqrt(beta_2) if beta_2 > 0 else 0.0
        # one row per base, in the order of the ROW_* codes
        bases = np.array([momentum, beta_1, sqrt(beta_2), sqrt(rho), self.adam_ratio])
        powers = np.ascontiguousarray(np.vstack([base**k for base in bases]))
        self.powers = powers
        # opt_geometric's formula, term by term the same operations as in C
        with np.errstate(divide="ignore", invalid="ignore"):
            geoms = bases[:, None] * (1.0 - powers) / (1.0 - bases[:, None])
        geoms[bases == 1.0] = k
        geoms[:, 0] = 0.0
        self.geoms = np.ascontiguousarray(geoms)
        self.c.kind = kind
        self.c.momentum, self.c.momentum_c = momentum, 1.0 - momentum
        self.c.beta_1, self.c.beta_1_c = beta_1, 1.0 - beta_1
        self.c.beta_2, self.c.beta_2_c = beta_2, 1.0 - beta_2
        self.c.rho, self.c.rho_c = rho, 1.0 - rho
        self.c.eps = eps
        self.c.inv_bias_1 = self.c.sqrt_inv_bias_2 = 1.0
        self.c.inv_last_bias_1 = self.c.sqrt_inv_last_bias_2 = 1.0
        self.c.adam_ratio = self.adam_ratio
        self.c.sqrt_beta_2 = sqrt(beta_2)
        self.c.sqrt_rho = sqrt(rho)
        self.c.powers = &self.powers[0, 0]
        self.c.geoms = &self.geoms[0, 0]

    def __reduce__(self):
        return (
            _rebuild,
            (self.kind, self.momentum, self.beta_1, self.beta_2, self.rho, self.eps,
             self.m, self.s, self.last, self.n_steps),
        )

    @property
    def m(self):
        """First moments (momentum, Adam), a copy."""
        return np.array(self.slots[:, SLOT_M])

    @property
    def s(self):
        """Second moments (Adagrad, RMSprop, Adam), a copy (the slots keep
        their square roots ``r``: ``r * r``, from which ``sqrt`` gives ``r``
        back exactly)."""
        r = np.array(self.slots[:, SLOT_S])
        return r * r

    @property
    def last(self):
        """The update that last touched each coordinate, a copy."""
        return np.asarray(self.slots[:, SLOT_LAST]).astype(np.int64)

    def copy(self):
        """An independent copy (the state of a fit that may fail)."""
        fn, args = self.__reduce__()
        return fn(*args)

    def matches(self, int kind, double momentum, double beta_1, double beta_2,
                double rho, double eps, Py_ssize_t n_coords):
        """Whether this state belongs to an optimizer with these settings."""
        return (kind == self.kind and momentum == self.momentum
                and beta_1 == self.beta_1 and beta_2 == self.beta_2
                and rho == self.rho and eps == self.eps
                and n_coords == self.slots.shape[0])

    cdef void begin_step(self) noexcept nogil:
        """Start update ``T = n_steps + 1``: Adam's bias corrections (those of
        update ``T - 1`` are kept for the catch-up of the updates missed)."""
        self.n_steps += 1
        if self.kind == OPT_ADAM:
            self.last_bias_1 = self.bias_1
            self.last_bias_2 = self.bias_2
            self.bias_1 = 1.0 - pow(self.beta_1, <double> self.n_steps)
            self.bias_2 = 1.0 - pow(self.beta_2, <double> self.n_steps)
            self.c.inv_bias_1 = 1.0 / self.bias_1
            self.c.sqrt_inv_bias_2 = sqrt(1.0 / self.bias_2)
            self.c.inv_last_bias_1 = 1.0 / self.last_bias_1
            self.c.sqrt_inv_last_bias_2 = sqrt(1.0 / self.last_bias_2)

def _rebuild(kind, momentum, beta_1, beta_2, rho, eps, m, s, last, n_steps):
    cdef Optimizer opt = Optimizer(kind, m.shape[0], momentum, beta_1, beta_2, rho,
                                   eps)
    # a writeable copy: a pickle may be loaded as read-only memory maps
    slots = np.zeros((len(m), N_SLOTS))
    slots[:, SLOT_M], slots[:, SLOT_S], slots[:, SLOT_LAST] = m, np.sqrt(s), last
    opt.slots = slots
    opt.n_steps = n_steps
    # the bias corrections of the last update (the catch-up uses them)
    if kind == OPT_ADAM and n_steps > 0:
        opt.bias_1 = 1.0 - beta_1 ** n_steps
        opt.bias_2 = 1.0 - beta_2 ** n_steps
    return opt
