"""Compiled losses: value and derivative with respect to the raw prediction.

Every class implements ``loss(y, p)`` and ``dloss(y, p) = dL/dp`` as
``nogil`` C methods for the kernels, and ``py_loss`` / ``py_dloss``
(vectorised over NumPy arrays) so tests can compare them with the Python
reference in :mod:`skgd._losses`.  Classification losses expect
``y`` in {-1, +1}.
"""
from libc.math cimport exp, fabs, log, log1p

import numpy as np


cdef class CyLoss:
    """Base class of the compiled losses."""

    cdef double loss(self, double y, double p) noexcept nogil:
        return 0.0

    cdef double dloss(self, double y, double p) noexcept nogil:
        return 0.0

    cdef double loss_dloss(self, double y, double p, double* d) noexcept nogil:
        """L(y, p), with dL/dp written to ``d[0]`` (one call for batch mode)."""
        d[0] = self.dloss(y, p)
        return self.loss(y, p)

    def weighted_sum(self, const double[::1] y, const double[::1] p,
                     const double[::1] s):
        """``sum_i s[i] L(y[i], p[i])`` in one compiled pass (batch mode)."""
        cdef double total = 0.0
        cdef Py_ssize_t i
        with nogil:
            for i in range(y.shape[0]):
                if s[i] != 0.0:
                    total += s[i] * self.loss(y[i], p[i])
        return total

    def weighted_sum_at(self, const double[::1] y, double p, const double[::1] s,
                        double total):
        """``sum_i (s[i] / total) L(y[i], p)``: one prediction ``p`` for every row.

        The numbers of ``weighted_sum(y, np.full(n, p), s / total)``, bit for
        bit, without either array (the objective at ``w = 0``, which starts
        a fit: one pass over ``y`` and ``s``).
        """
        cdef double acc = 0.0, q
        cdef Py_ssize_t i
        with nogil:
            for i in range(y.shape[0]):
                q = s[i] / total
                if q != 0.0:
                    acc += q * self.loss(y[i], p)
        return acc

    def weighted_gradient(self, const double[::1] y, const double[::1] p,
                          const double[::1] s, double[::1] out):
        """``out[i] = s[i] dL(y[i], p[i])``; returns ``sum_i s[i] L(y[i], p[i])``.

        The loss and its derivative in one pass, for batch mode (``out`` is
        written in place).
        """
        cdef double total = 0.0, d
        cdef Py_ssize_t i
        with nogil:
            for i in range(y.shape[0]):
                if s[i] != 0.0:
                    total += s[i] * self.loss_dloss(y[i], p[i], &d)
                    out[i] = s[i] * d
                else:
                    out[i] = 0.0
        return total

    def py_loss(self, y, p):
        """Loss of each pair (y[i], p[i]) as a float64 array."""
        cdef double[::1] yy = np.ascontiguousarray(y, dtype=np.float64)
        cdef double[::1] pp = np.ascontiguousarray(p, dtype=np.float64)
        out = np.empty(yy.shape[0])
        cdef double[::1] o = out
        cdef Py_ssize_t i
        for i in range(yy.shape[0]):
            o[i] = self.loss(yy[i], pp[i])
        return out

    def py_dloss(self, y, p):
        """Derivative dL/dp of each pair (y[i], p[i]) as a float64 array."""
        cdef double[::1] yy = np.ascontiguousarray(y, dtype=np.float64)
        cdef double[::1] pp = np.ascontiguousarray(p, dtype=np.float64)
        out = np.empty(yy.shape[0])
        cdef double[::1] o = out
        cdef Py_ssize_t i
        for i in range(yy.shape[0]):
            o[i] = self.dloss(yy[i], pp[i])
        return out


cdef class Hinge(CyLoss):
    """L = max(0, threshold - y p); threshold 0 is the perceptron loss."""

    def __init__(self, double threshold=1.0):
        self.threshold = threshold

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double z = p * y
        if z <= self.threshold:
            return self.threshold - z
        return 0.0

    cdef double dloss(self, double y, double p) noexcept nogil:
        if p * y <= self.threshold:
            return -y
        return 0.0

    def __reduce__(self):
        return Hinge, (self.threshold,)


cdef class SquaredHinge(CyLoss):
    """L = max(0, threshold - y p)^2."""

    def __init__(self, double threshold=1.0):
        self.threshold = threshold

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double z = self.threshold - p * y
        if z > 0:
            return z * z
        return 0.0

    cdef double dloss(self, double y, double p) noexcept nogil:
        cdef double z = self.threshold - p * y
        if z > 0:
            return -2.0 * y * z
        return 0.0

    def __reduce__(self):
        return SquaredHinge, (self.threshold,)


cdef class ModifiedHuber(CyLoss):
    """L = max(0, 1 - y p)^2 for y p >= -1, else -4 y p (Zhang, 2004)."""

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double z = p * y
        if z >= 1.0:
            return 0.0
        elif z >= -1.0:
            return (1.0 - z) * (1.0 - z)
        return -4.0 * z

    cdef double dloss(self, double y, double p) noexcept nogil:
        cdef double z = p * y
        if z >= 1.0:
            return 0.0
        elif z >= -1.0:
            return -2.0 * (1.0 - z) * y
        return -4.0 * y

    def __reduce__(self):
        return ModifiedHuber, ()


cdef class LogLoss(CyLoss):
    """L = log(1 + exp(-y p)), the binomial deviance for y in {-1, +1}.

    Written as ``log(1 + exp(p)) - y01 p`` with ``y01 = (y + 1) / 2`` and the
    same floating-point branches as scikit-learn's half-binomial loss, so that
    sgd mode reproduces ``SGDClassifier`` to the last bit.
    """

    def __cinit__(self, *args, **kwargs):
        # (dloss is 0 at one point at most: see CyLoss.steps_every_row)
        self.steps_every_row = True

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double y01 = 1.0 if y > 0 else 0.0
        return log1pexp(p) - y01 * p

    cdef double dloss(self, double y, double p) noexcept nogil:
        # sigmoid(p) - y01
        cdef double y01 = 1.0 if y > 0 else 0.0
        cdef double e
        if p > -37:
            e = exp(-p)
            return ((1 - y01) - y01 * e) / (1 + e)
        return exp(p) - y01

    cdef double loss_dloss(self, double y, double p, double* d) noexcept nogil:
        # one exp for both: with e = exp(-|p|), log(1 + exp(p)) is
        # max(p, 0) + log1p(e) and sigmoid(p) is 1 / (1 + e) or e / (1 + e)
        cdef double y01 = 1.0 if y > 0 else 0.0
        cdef double e = exp(-fabs(p))
        if p >= 0:
            d[0] = 1.0 / (1.0 + e) - y01
            return p + log1p(e) - y01 * p
        d[0] = e / (1.0 + e) - y01
        return log1p(e) - y01 * p

    def __reduce__(self):
        return LogLoss, ()


cdef inline double log1pexp(double x) noexcept nogil:
    """log(1 + exp(x)) without overflow or loss of precision."""
    if x <= -37:
        return exp(x)
    elif x <= -2:
        return log1p(exp(x))
    elif x <= 18:
        return log(1.0 + exp(x))
    elif x <= 33.3:
        return x + exp(-x)
    return x


cdef class SquaredError(CyLoss):
    """L = (p - y)^2 / 2 (half squared error, as scikit-learn's SGD)."""

    def __cinit__(self, *args, **kwargs):
        # (dloss is 0 at one point at most: see CyLoss.steps_every_row)
        self.steps_every_row = True

    cdef double loss(self, double y, double p) noexcept nogil:
        return 0.5 * (p - y) * (p - y)

    cdef double dloss(self, double y, double p) noexcept nogil:
        return p - y

    def __reduce__(self):
        return SquaredError, ()


cdef class Huber(CyLoss):
    """L = r^2 / 2 if |r| <= epsilon else epsilon (|r| - epsilon / 2), r = y - p."""

    def __cinit__(self, *args, **kwargs):
        # (dloss is 0 at one point at most: see CyLoss.steps_every_row)
        self.steps_every_row = True

    def __init__(self, double epsilon):
        self.epsilon = epsilon

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double r = fabs(y - p)
        if r <= self.epsilon:
            return 0.5 * r * r
        return self.epsilon * (r - 0.5 * self.epsilon)

    cdef double dloss(self, double y, double p) noexcept nogil:
        cdef double r = p - y
        if fabs(r) <= self.epsilon:
            return r
        return self.epsilon if r >= 0 else -self.epsilon

    def __reduce__(self):
        return Huber, (self.epsilon,)


cdef class EpsilonInsensitive(CyLoss):
    """L = max(0, |y - p| - epsilon)."""

    def __init__(self, double epsilon):
        self.epsilon = epsilon

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double r = fabs(y - p) - self.epsilon
        return r if r > 0 else 0.0

    cdef double dloss(self, double y, double p) noexcept nogil:
        if y - p > self.epsilon:
            return -1.0
        elif p - y > self.epsilon:
            return 1.0
        return 0.0

    def __reduce__(self):
        return EpsilonInsensitive, (self.epsilon,)


cdef class SquaredEpsilonInsensitive(CyLoss):
    """L = max(0, |y - p| - epsilon)^2."""

    def __init__(self, double epsilon):
        self.epsilon = epsilon

    cdef double loss(self, double y, double p) noexcept nogil:
        cdef double r = fabs(y - p) - self.epsilon
        return r * r if r > 0 else 0.0

    cdef double dloss(self, double y, double p) noexcept nogil:
        cdef double z = y - p
        if z > self.epsilon:
            return -2.0 * (z - self.epsilon)
        elif z < -self.epsilon:
            return 2.0 * (-z - self.epsilon)
        return 0.0

    def __reduce__(self):
        return SquaredEpsilonInsensitive, (self.epsilon,)


cdef inline double rounded_ramp(double z, double mu) noexcept nogil:
    """``max(0, z)`` with its kink rounded over ``mu``: 0, ``z^2 / (2 mu)``
    on ``(0, mu)``, ``z - mu / 2`` beyond."""
    if z <= 0.0:
        return 0.0
    if z < mu:
        return 0.5 * z * z / mu
    return z - 0.5 * mu


cdef inline double rounded_ramp_slope(double z, double mu) noexcept nogil:
    """The derivative of :func:`rounded_ramp` in ``z``."""
    if z <= 0.0:
        return 0.0
    if z < mu:
        return z / mu
    return 1.0


cdef class SmoothHinge(CyLoss):
    """The hinge with its kink rounded over a width ``mu`` (Nesterov smoothing).

    With ``z = threshold - y p``: ``L = 0`` for ``z <= 0``, ``z^2 / (2 mu)``
    for ``0 < z < mu`` and ``z - mu / 2`` beyond; ``0 <= hinge - L <= mu / 2``
    and ``d^2 L / dp^2 <= 1 / mu``.  Batch mode minimises it for a decreasing
    ``mu`` (continuation) to reach the optimum of the hinge objective.
    """

    def __init__(self, double threshold, double mu):
        self.threshold = threshold
        self.mu = mu

    cdef double loss(self, double y, double p) noexcept nogil:
        return rounded_ramp(self.threshold - p * y, self.mu)

    cdef double dloss(self, double y, double p) noexcept nogil:
        return -y * rounded_ramp_slope(self.threshold - p * y, self.mu)

    def __reduce__(self):
        return SmoothHinge, (self.threshold, self.mu)


cdef class SmoothEpsilonInsensitive(CyLoss):
    """The epsilon-insensitive loss with its kinks rounded over a width ``mu``.

    With ``a = |y - p| - epsilon``: ``L = 0`` for ``a <= 0``,
    ``a^2 / (2 mu)`` for ``0 < a < mu`` and ``a - mu / 2`` beyond.
    """

    def __init__(self, double epsilon, double mu):
        self.epsilon = epsilon
        self.mu = mu

    cdef double loss(self, double y, double p) noexcept nogil:
        return rounded_ramp(fabs(y - p) - self.epsilon, self.mu)

    cdef double dloss(self, double y, double p) noexcept nogil:
        cdef double sign = 1.0 if p > y else -1.0
        return sign * rounded_ramp_slope(fabs(y - p) - self.epsilon, self.mu)

    def __reduce__(self):
        return SmoothEpsilonInsensitive, (self.epsilon, self.mu)
