# The compiled optimizers: how a gathered gradient becomes a step.
#
# An optimizer sees one coordinate at a time: the batch gradient g of
# coordinate j (summed over the rows of the batch that touch it), and the
# number of updates since j was last touched.  It returns the direction d
# (the weight moves by -eta * d) and the coordinate's preconditioner (the
# factor by which it scales a gradient, used for the proximal penalty step).
# The NumPy twin of every optimizer is skgd._optimizers.

from libc.stdint cimport int64_t


cpdef enum OptimizerKind:
    OPT_SGD = 0
    OPT_MOMENTUM = 1
    OPT_NESTEROV = 2
    OPT_ADAGRAD = 3
    OPT_RMSPROP = 4
    OPT_ADAM = 5


cdef class Optimizer:
    cdef readonly int kind
    cdef readonly double momentum
    cdef readonly double beta_1
    cdef readonly double beta_2
    cdef readonly double rho
    cdef readonly double eps
    # per coordinate (n_features + 1: the last one is the intercept's)
    cdef public double[::1] m
    cdef public double[::1] s
    cdef public int64_t[::1] last
    cdef public int64_t n_steps
    cdef double bias_1
    cdef double bias_2
    cdef double adam_ratio
    # powers beta ** k for k < N_POWERS, per decay (momentum, beta_1,
    # beta_2, rho, beta_1 / sqrt(beta_2)): the lazy catch-up looks them up
    # instead of calling pow
    cdef double[:, ::1] powers

    cdef double decay(self, int which, double base, int64_t k) noexcept nogil

    cdef double geometric(self, int which, double base, int64_t k) noexcept nogil
    cdef void begin_step(self) noexcept nogil
    cdef int64_t touch(self, Py_ssize_t j) noexcept nogil
    cdef double catch_up(self, Py_ssize_t j, int64_t missed,
                         double* precond) noexcept nogil
    cdef double direction(self, Py_ssize_t j, double g,
                          double* precond) noexcept nogil
