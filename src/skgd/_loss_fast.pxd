# The compiled loss protocol shared by every kernel.
#
# A loss is a function L(y, p) of the target y and the raw prediction
# p = x.w + b.  Binary classification losses take y in {-1, +1}.
# ``loss`` returns L(y, p), ``dloss`` returns dL/dp (the derivative with
# respect to the raw prediction, not to the weights).

cdef class CyLoss:
    # dL/dp is 0 nowhere but at a point (log loss, squared error, Huber):
    # every row of a pass steps (the sgd pass then sums a dense row's dot
    # inside the add of the row before it; False by default)
    cdef readonly bint steps_every_row
    cdef double loss(self, double y, double p) noexcept nogil
    cdef double dloss(self, double y, double p) noexcept nogil
    cdef double loss_dloss(self, double y, double p, double* d) noexcept nogil


cdef class Hinge(CyLoss):
    cdef readonly double threshold


cdef class SquaredHinge(CyLoss):
    cdef readonly double threshold


cdef class ModifiedHuber(CyLoss):
    pass


cdef class LogLoss(CyLoss):
    pass


cdef class SquaredError(CyLoss):
    pass


cdef class Huber(CyLoss):
    cdef readonly double epsilon


cdef class EpsilonInsensitive(CyLoss):
    cdef readonly double epsilon


cdef class SquaredEpsilonInsensitive(CyLoss):
    cdef readonly double epsilon


cdef class SmoothHinge(CyLoss):
    cdef readonly double threshold
    cdef readonly double mu


cdef class SmoothEpsilonInsensitive(CyLoss):
    cdef readonly double epsilon
    cdef readonly double mu
