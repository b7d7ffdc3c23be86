# The compiled optimizers: how a gathered gradient becomes a step.
#
# An optimizer sees one coordinate at a time: the batch gradient g of
# coordinate j (summed over the rows of the batch that touch it), and the
# number of updates since j was last touched.  It returns the direction d
# (the weight moves by -eta * d) and the coordinate's preconditioner (the
# factor by which it scales a gradient, used for the proximal penalty step).
# The NumPy twin of every optimizer is skgd._optimizers.  The per-coordinate
# functions are inline here, so that the passes that cimport them (skgd._gd_fast)
# compile them into their loops: a call across modules per coordinate cost
# more than the arithmetic.

from libc.math cimport pow, sqrt
from libc.stdint cimport int64_t


# catch-up gaps below this are looked up in a table of powers
cdef enum:
    N_POWERS = 1024


cdef enum:
    SLOT_M = 0      # first moment (momentum, Adam)
    SLOT_S = 1      # second moment (Adagrad, RMSprop, Adam)
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
    # instead of a division)
    double inv_bias_1
    double inv_bias_2
    double inv_last_bias_1
    double inv_last_bias_2
    double adam_ratio
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
    # powers beta ** k for k < N_POWERS, per decay (momentum, beta_1,
    # beta_2, rho, beta_1 / sqrt(beta_2)): the lazy catch-up looks them up
    # instead of calling pow
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


cdef inline double opt_catch_up(Optimizer self, Py_ssize_t j, int64_t missed,
                            double* precond) noexcept nogil:
    """Bring coordinate ``j`` up to date over the ``missed`` updates
    before the current one since its last touch (its gradient was 0 on
    them): decay its moments and return the sum of the directions it
    missed (its preconditioner, for the penalty of those updates, into
    ``precond``).  The caller marks it touched.

    Called before the margins of the batch that touches ``j`` are
    computed (after ``begin_step``), so that they see the weight the
    dense formulation has.
    """
    return opt_catch_up_slot(&self.c, self.kind, &self.slots[j, 0], missed, precond)


cdef inline double opt_catch_up_slot(const OptConsts* c, int kind, double* slot,
                                     int64_t missed, double* precond) noexcept nogil:
    """:func:`opt_catch_up` on the coordinate whose row of slots is ``slot``
    (``c`` is the optimizer's :class:`OptConsts`, ``kind`` its kind: a pass
    that calls it in a loop reads them once, and with a constant ``kind``
    the compiler drops the other optimizers' branches)."""
    cdef double mj = slot[SLOT_M], sj = slot[SLOT_S], missed_sum = 0.0
    precond[0] = 1.0
    if missed <= 0:
        return 0.0
    if kind == OPT_MOMENTUM or kind == OPT_NESTEROV:
        # update k = 1 .. missed moved by beta^k m (Nesterov: beta^(k+1) m)
        missed_sum = mj * opt_geometric(c, 0, c.momentum, missed)
        if kind == OPT_NESTEROV:
            missed_sum *= c.momentum
        slot[SLOT_M] = mj * opt_decay(c, 0, c.momentum, missed)
        return missed_sum
    if kind == OPT_ADAGRAD:
        precond[0] = 1.0 / (sqrt(sj) + c.eps)
        return 0.0
    if kind == OPT_RMSPROP:
        sj *= opt_decay(c, 3, c.rho, missed)
        slot[SLOT_S] = sj
        precond[0] = 1.0 / (sqrt(sj) + c.eps)
        return 0.0
    # Adam: update k moved by beta_1^k m_hat / sqrt(beta_2^k s_hat), with
    # the bias corrections of the last update and eps left out
    if sj > 0.0:
        missed_sum = ((mj * c.inv_last_bias_1) / sqrt(sj * c.inv_last_bias_2)
                      * opt_geometric(c, 4, c.adam_ratio, missed))
    slot[SLOT_M] = mj * opt_decay(c, 1, c.beta_1, missed)
    sj *= opt_decay(c, 2, c.beta_2, missed)
    slot[SLOT_S] = sj
    precond[0] = 1.0 / (sqrt(sj * c.inv_last_bias_2) + c.eps)
    return missed_sum


cdef inline double opt_direction(Optimizer self, Py_ssize_t j, double g,
                             double* precond) noexcept nogil:
    """The direction of coordinate ``j`` (caught up, :meth:`catch_up`) for
    gradient ``g`` in the current update; its preconditioner into
    ``precond``."""
    return opt_direction_slot(&self.c, self.kind, &self.slots[j, 0], g, precond)


cdef inline double opt_direction_slot(const OptConsts* c, int kind, double* slot,
                                      double g, double* precond) noexcept nogil:
    """:func:`opt_direction` on the coordinate whose row of slots is ``slot``
    (``c`` and ``kind`` as for :func:`opt_catch_up_slot`)."""
    # den: the reciprocal of the denominator (one division per coordinate)
    cdef double mj, sj, den
    precond[0] = 1.0
    if kind == OPT_MOMENTUM or kind == OPT_NESTEROV:
        mj = c.momentum * slot[SLOT_M] + c.momentum_c * g
        slot[SLOT_M] = mj
        if kind == OPT_NESTEROV:
            return c.momentum * mj + c.momentum_c * g
        return mj
    if kind == OPT_ADAGRAD:
        sj = slot[SLOT_S] + g * g
        slot[SLOT_S] = sj
        den = 1.0 / (sqrt(sj) + c.eps)
        precond[0] = den
        return g * den
    if kind == OPT_RMSPROP:
        sj = c.rho * slot[SLOT_S] + c.rho_c * g * g
        slot[SLOT_S] = sj
        den = 1.0 / (sqrt(sj) + c.eps)
        precond[0] = den
        return g * den
    # Adam
    mj = c.beta_1 * slot[SLOT_M] + c.beta_1_c * g
    sj = c.beta_2 * slot[SLOT_S] + c.beta_2_c * g * g
    slot[SLOT_M] = mj
    slot[SLOT_S] = sj
    den = 1.0 / (sqrt(sj * c.inv_bias_2) + c.eps)
    precond[0] = den
    return (mj * c.inv_bias_1) * den


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
