# The compiled optimizers: how a gathered gradient becomes a step.
#
# An optimizer sees one coordinate at a time: the batch gradient g of
# coordinate j (summed over the rows of the batch that touch it), and the
# number of updates since j was last touched.  It returns j's new weight:
# the move along its direction d (by -eta * d), then the penalty's proximal
# step, whose threshold is scaled by the coordinate's preconditioner (the
# factor by which it scales a gradient), in one formula (opt_catch_up_weight
# for the updates j missed, opt_step_weight for the current one).
# The NumPy twin of every optimizer is skgd._optimizers.  The per-coordinate
# functions are inline here, so that the passes that cimport them (skgd._gd_fast)
# compile them into their loops: a call across modules per coordinate cost
# more than the arithmetic.  GCC decides whether to inline them (`nm` on the
# built module lists no opt_catch_up_weight / opt_step_weight symbol when it
# did); a larger body than these can tip it into calls.

from libc.math cimport pow, sqrt
from libc.stdint cimport int64_t


# catch-up gaps below this are looked up in a table of powers
cdef enum:
    N_POWERS = 1024


cdef enum:
    # the rows of the tables of powers and geometric sums, by base
    ROW_MOMENTUM = 0
    ROW_BETA_1 = 1
    ROW_SQRT_BETA_2 = 2    # (the second moments are kept as their roots)
    ROW_SQRT_RHO = 3
    ROW_ADAM_RATIO = 4     # beta_1 / sqrt(beta_2)
    N_ROWS = 5


cdef enum:
    SLOT_M = 0      # first moment (momentum, Adam)
    # the square root r = sqrt(s) of the second moment s (Adagrad, RMSprop,
    # Adam): the preconditioner takes it, and a catch-up decays it by
    # sqrt(decay)^missed without computing a square root
    SLOT_S = 1
    SLOT_G = 2      # the gradient gathered in the current update
    SLOT_LAST = 3   # the update that last touched the coordinate (exact in a double)
    N_SLOTS = 4


cpdef enum StepRule:
    # how the step of an update is sized: by the schedule (plain steps and
    # the optimizers), or by a passive-aggressive rule (sgd mode, hinge and
    # epsilon-insensitive losses)
    STEP_GRADIENT = 0
    STEP_PA1 = 1
    STEP_PA2 = 2


cpdef enum OptimizerKind:
    OPT_SGD = 0
    OPT_MOMENTUM = 1
    OPT_NESTEROV = 2
    OPT_ADAGRAD = 3
    OPT_RMSPROP = 4
    OPT_ADAM = 5


cdef struct OptConsts:
    # What the per-coordinate formulas read, in one plain struct: a pass
    # copies it into a local, where the stores to the slots cannot alias it
    # (read through the Optimizer, every field is reloaded after each store).
    int kind
    double momentum
    double beta_1
    double beta_2
    double rho
    double eps
    # 1 - momentum, 1 - beta_1, 1 - beta_2, 1 - rho (the same numbers as
    # computed in the formulas)
    double momentum_c
    double beta_1_c
    double beta_2_c
    double rho_c
    # reciprocals of Adam's bias corrections of the current update and of
    # the one before (set by begin_step: a multiplication per coordinate
    # instead of a division); of the second, their square roots, which
    # correct the root of the second moment
    double inv_bias_1
    double sqrt_inv_bias_2
    double inv_last_bias_1
    double sqrt_inv_last_bias_2
    double adam_ratio
    double sqrt_beta_2
    double sqrt_rho
    # the tables of Optimizer.powers and Optimizer.geoms (rows of N_POWERS)
    const double* powers
    const double* geoms


cdef class Optimizer:
    cdef readonly int kind
    cdef readonly double momentum
    cdef readonly double beta_1
    cdef readonly double beta_2
    cdef readonly double rho
    cdef readonly double eps
    # per coordinate (n_features + 1: the last one is the intercept's), one
    # row of N_SLOTS numbers: its moments, the gradient gathered in the
    # current update and the update that last touched it.  One row per
    # coordinate, so that a sparse update's random accesses to a coordinate
    # fall in one cache line (32 bytes) instead of one line per array.
    cdef double[:, ::1] slots
    cdef public int64_t n_steps
    cdef double bias_1
    cdef double bias_2
    # those of the update before (the catch-up of missed updates uses them)
    cdef double last_bias_1
    cdef double last_bias_2
    cdef double adam_ratio
    # powers beta ** k for k < N_POWERS, per decay (the rows ROW_*: momentum,
    # beta_1, sqrt(beta_2), sqrt(rho), beta_1 / sqrt(beta_2)): the lazy
    # catch-up looks them up instead of calling pow
    cdef double[:, ::1] powers
    # geometric sums base + ... + base ** k for k < N_POWERS, per decay (the
    # same rows), computed by the formula of opt_geometric from the powers
    cdef double[:, ::1] geoms
    # the hyper-parameters, bias corrections and tables, as the passes read
    # them (kept up to date by __init__ and begin_step)
    cdef OptConsts c

    cdef void begin_step(self) noexcept nogil


# ----------------------------------------------------------------------
# per coordinate (inlined into the compiled passes)
cdef inline double opt_decay(const OptConsts* c, int which, double base,
                             int64_t k) noexcept nogil:
    """``base ** k`` (``which`` names the base's row of the table)."""
    if k < N_POWERS:
        return c.powers[which * N_POWERS + k]
    return pow(base, <double> k)


cdef inline double opt_geometric(const OptConsts* c, int which, double base,
                                 int64_t k) noexcept nogil:
    """``base + base ** 2 + ... + base ** k`` (0 for ``k <= 0``)."""
    if k <= 0:
        return 0.0
    if k < N_POWERS:
        return c.geoms[which * N_POWERS + k]
    if base == 1.0:
        return <double> k
    return base * (1.0 - opt_decay(c, which, base, k)) / (1.0 - base)


cdef inline double soft_threshold(double z, double t) noexcept nogil:
    """``sign(z) max(|z| - t, 0)`` for ``t >= 0``."""
    if z > t:
        return z - t
    if z < -t:
        return z + t
    return 0.0


cdef inline double prox_elastic_net(double z, double tau, double l1,
                                    double l2) noexcept nogil:
    """``soft(z, tau l1) / (1 + tau l2)``: the proximal step of the penalty."""
    if l1 > 0.0:
        z = soft_threshold(z, tau * l1)
    if l2 > 0.0:
        z /= 1.0 + tau * l2
    return z


cdef inline double opt_catch_up_weight(const OptConsts* c, int kind, double* slot,
                                       int64_t missed, double w, double eta,
                                       double l1, double l2) noexcept nogil:
    """Bring a coordinate up to date over the ``missed > 0`` updates before
    the current one since its last touch (its gradient was 0 on them): decay
    its moments (its row of slots is ``slot``) and return its new weight,
    ``w`` moved by the directions it missed, then the penalty's proximal
    step of those updates at once,

        prox(z) = soft(z, tau l1) / (1 + tau l2),  tau = eta * precond * missed,

    at the step ``eta`` of the current update (``l1 = alpha l1_ratio``,
    ``l2 = alpha (1 - l1_ratio)``, both 0 without a penalty).  The caller
    marks the coordinate touched.

    ``c`` is the optimizer's :class:`OptConsts` and ``kind`` its kind (a
    pass that calls this in a loop reads them once).  Called before the
    margins of the batch that touches the coordinate are computed (after
    ``begin_step``), so that they see the weight the dense formulation has.

    With the preconditioner ``1 / den`` (``den = sqrt(s) + eps``) the
    proximal step is taken on ``z den``, so that its division is the only
    one: ``soft(z den, a l1) / (den + a l2)`` with ``a = eta * missed``
    (``soft(z, t) den = soft(z den, t den)`` for ``den > 0``).  The slots
    keep the root ``r = sqrt(s)``, which the decay ``s beta^missed`` takes
    to ``r sqrt(beta)^missed`` (a table lookup): no square root here.
    """
    cdef double mj = slot[SLOT_M], rj = slot[SLOT_S], a = eta * <double> missed
    cdef double carry, den, r0, q, z
    # the weight moved is y / r (r = 1 when it did not move), and the
    # proximal step is taken on y den / r
    cdef double y = w, r = 1.0
    cdef bint moved = False
    if kind == OPT_MOMENTUM or kind == OPT_NESTEROV:
        # update k = 1 .. missed moved by beta^k m (Nesterov: beta^(k+1) m)
        carry = mj * opt_geometric(c, ROW_MOMENTUM, c.momentum, missed)
        if kind == OPT_NESTEROV:
            carry *= c.momentum
        slot[SLOT_M] = mj * opt_decay(c, ROW_MOMENTUM, c.momentum, missed)
        return prox_elastic_net(w - eta * carry, a, l1, l2)
    if kind == OPT_ADAM:
        # update k moved by beta_1^k m_hat / sqrt(beta_2^k s_hat), with the
        # bias corrections of the last update and eps left out (a geometric
        # series in beta_1 / sqrt(beta_2)): w - eta m_hat geometric / r0,
        # r0 = sqrt(s_hat) before the decay, and sqrt(s_hat) after it is
        # r0 sqrt(beta_2)^missed
        r0 = rj * c.sqrt_inv_last_bias_2
        # (one lookup: a store to the slots may alias the tables)
        q = opt_decay(c, ROW_SQRT_BETA_2, c.sqrt_beta_2, missed)
        slot[SLOT_M] = mj * opt_decay(c, ROW_BETA_1, c.beta_1, missed)
        slot[SLOT_S] = rj * q
        den = r0 * q + c.eps
        if rj > 0.0:  # (else m = 0 too: no moves)
            moved = True
            r = r0
            y = w * r0 - eta * ((mj * c.inv_last_bias_1)
                                * opt_geometric(c, ROW_ADAM_RATIO, c.adam_ratio, missed))
    else:
        # Adagrad, RMSprop: no moves (the gradient was 0)
        if kind == OPT_RMSPROP:
            rj *= opt_decay(c, ROW_SQRT_RHO, c.sqrt_rho, missed)
            slot[SLOT_S] = rj
        den = rj + c.eps
    if not moved and l1 == 0.0 and l2 == 0.0:
        return w
    # soft(y / r, a l1 / den) / (1 + a l2 / den)
    # = soft(y den, a l1 r) / (r (den + a l2)), one division
    z = y * den
    if l1 > 0.0:
        z = soft_threshold(z, (a * l1) * r)
    return z / (r * (den + a * l2))


cdef inline double opt_step_weight(const OptConsts* c, int kind, double* slot,
                                   double g, double w, double eta, double l1,
                                   double l2) noexcept nogil:
    """The step of the current update on a coordinate (caught up, row of
    slots ``slot``) whose gradient is ``g``: updates its moments and returns
    its new weight, ``w`` moved by ``-eta d`` along the optimizer's direction
    ``d``, then the penalty's proximal step

        prox(z) = soft(z, tau l1) / (1 + tau l2),  tau = eta * precond

    (``c``, ``kind``, ``l1``, ``l2`` as for :func:`opt_catch_up_weight`;
    ``l1 = l2 = 0`` for an unpenalised coordinate, the intercept).

    With the preconditioner ``1 / den`` (Adagrad, RMSprop, Adam: ``d = n /
    den``, ``n`` the gradient or Adam's ``m_hat``), the move and the
    proximal step take one division: ``soft(w den - eta n, eta l1) /
    (den + eta l2)``.  The second moment is kept as its root ``r``:
    ``s = r * r`` before the update, ``r = sqrt(s)`` after it.
    """
    cdef double mj, rj = slot[SLOT_S], num, den, z
    if kind == OPT_MOMENTUM or kind == OPT_NESTEROV:
        mj = c.momentum * slot[SLOT_M] + c.momentum_c * g
        slot[SLOT_M] = mj
        if kind == OPT_NESTEROV:
            mj = c.momentum * mj + c.momentum_c * g
        return prox_elastic_net(w - eta * mj, eta, l1, l2)
    if kind == OPT_ADAGRAD:
        rj = sqrt(rj * rj + g * g)
        den = rj + c.eps
        num = g
    elif kind == OPT_RMSPROP:
        rj = sqrt(c.rho * (rj * rj) + c.rho_c * g * g)
        den = rj + c.eps
        num = g
    else:  # Adam
        mj = c.beta_1 * slot[SLOT_M] + c.beta_1_c * g
        rj = sqrt(c.beta_2 * (rj * rj) + c.beta_2_c * g * g)
        slot[SLOT_M] = mj
        den = rj * c.sqrt_inv_bias_2 + c.eps
        num = mj * c.inv_bias_1
    slot[SLOT_S] = rj
    z = w * den - eta * num
    if l1 > 0.0:
        z = soft_threshold(z, eta * l1)
    return z / (den + eta * l2)


cdef inline double passive_aggressive_step(int rule, double c, double loss_value,
                                           double sq_norm) noexcept nogil:
    """The passive-aggressive step size of a row (Crammer et al., 2006).

    PA-I: ``min(C, loss / ||x||^2)``; PA-II: ``loss / (||x||^2 + 1 / (2 C))``,
    ``C`` being ``eta0``.  The step moves the weights by ``step * x`` towards
    the row's target; -1 for a PA-I row with no nonzero (no step: the
    caller skips it).  NumPy twin: :func:`skgd._optimizers.passive_aggressive_step`.
    """
    if rule == STEP_PA1:
        if sq_norm == 0.0:
            return -1.0
        return min(c, loss_value / sq_norm)
    return loss_value / (sq_norm + 0.5 / c)
