"""The hinge's dual by sequential minimal optimisation, on a dense Gram matrix.

Batch mode's exact route for the hinge (:mod:`skgd._hinge_newton`) solves

    min  sum_i s_i max(0, t_i - y_i (x_i.w + b)) + l2 / 2 ||w||^2

whose dual, with ``K`` the rows' Gram matrix and ``Q_ij = y_i y_j K_ij /
l2``, is the quadratic program

    min  1/2 beta' Q beta - t' beta,   0 <= beta_i <= s_i,
         and y' beta = 0 when the intercept is fitted,

with ``w = sum_i beta_i y_i x_i / l2``.  Rows with ``0 < beta_i < s_i`` sit
on the margin.  :func:`smo` finds which rows those are (the exact optimum is
then a linear system on them, :func:`skgd._hinge_newton.kink_solve`): with
an intercept, by the pairs of LIBSVM's solver (Fan, Chen and Lin, 2005: the
most violating row, and the partner that decreases the dual most by the
second-order rule); without one, a row at a time (the most violating one).
Each step costs two rows of ``K`` and three passes over the rows, in C, on
one thread: the result does not depend on any thread count.
"""
from libc.math cimport INFINITY, fabs

cimport cython

#: the curvature taken for a pair whose own is not positive (LIBSVM's TAU)
DEF TAU = 1e-12


cdef inline double violation_of(double beta, double upper, double g) noexcept nogil:
    """How far a row's dual gradient ``g`` is from optimal at ``beta`` in
    ``[0, upper]`` (no equality constraint)."""
    if beta <= 0.0:
        return -g if g < 0.0 else 0.0
    if beta >= upper:
        return g if g > 0.0 else 0.0
    return fabs(g)


@cython.boundscheck(False)
@cython.wraparound(False)
def smo(const double[:, ::1] K, const Py_ssize_t[::1] rows, const double[::1] y,
        const double[::1] upper, double inv_l2, bint equality, double[::1] beta,
        double[::1] grad, double eps, Py_ssize_t max_iter):
    """Minimise the dual above from ``beta`` (feasible; ``grad`` its gradient
    ``Q beta - t``) until the largest violation of its optimality conditions
    is below ``eps`` or after ``max_iter`` steps, in place.

    ``K`` is the Gram matrix of the data's rows and ``rows[i]`` the data row
    of variable ``i`` (a row may be two variables: the two hinges of the
    epsilon-insensitive loss); ``y`` are +-1.  Returns ``(steps,
    violation)``: the steps taken, and the violation at the end (with the
    equality constraint, LIBSVM's ``m(beta) - M(beta)``).
    """
    cdef Py_ssize_t n = beta.shape[0]
    cdef Py_ssize_t it = 0, t, i, j
    cdef double viol = INFINITY, best, g, gd, quad, obj, obj_min, gmax, gmax2
    cdef double ai, aj, ci, cj, delta, diff, total, qii, qjj, qij, di, dj
    cdef const double* Ki
    cdef const double* Kj
    with nogil:
        while it < max_iter:
            if not equality:
                # the most violating row, moved to its optimum alone
                best, i = 0.0, -1
                for t in range(n):
                    g = violation_of(beta[t], upper[t], grad[t])
                    if g > best:
                        best, i = g, t
                viol = best
                if i < 0 or viol < eps:
                    break
                qii = K[rows[i], rows[i]] * inv_l2
                if qii > 0.0:
                    ai = min(max(beta[i] - grad[i] / qii, 0.0), upper[i])
                else:
                    ai = upper[i] if grad[i] < 0.0 else 0.0
                di = ai - beta[i]
                beta[i] = ai
                Ki = &K[rows[i], 0]
                ci = y[i] * di * inv_l2
                for t in range(n):
                    grad[t] += y[t] * ci * Ki[rows[t]]
                it += 1
                continue
            # i: the largest -y_t G_t over the rows that may move up (in
            # the direction y_t)
            gmax, i = -INFINITY, -1
            for t in range(n):
                if y[t] > 0.0:
                    if beta[t] < upper[t] and -grad[t] >= gmax:
                        gmax, i = -grad[t], t
                elif beta[t] > 0.0 and grad[t] >= gmax:
                    gmax, i = grad[t], t
            if i < 0:
                viol = 0.0
                break
            Ki = &K[rows[i], 0]
            qii = Ki[rows[i]]
            # j: among the rows that may move down, the one whose pair with
            # i decreases the dual most (second-order rule)
            gmax2, j, obj_min = -INFINITY, -1, INFINITY
            for t in range(n):
                if y[t] > 0.0:
                    if not beta[t] > 0.0:
                        continue
                    if grad[t] >= gmax2:
                        gmax2 = grad[t]
                    gd = gmax + grad[t]
                else:
                    if not beta[t] < upper[t]:
                        continue
                    if -grad[t] >= gmax2:
                        gmax2 = -grad[t]
                    gd = gmax - grad[t]
                if gd > 0.0:
                    quad = (qii + K[rows[t], rows[t]] - 2.0 * Ki[rows[t]]) * inv_l2
                    if quad <= 0.0:
                        quad = TAU
                    obj = -(gd * gd) / quad
                    if obj <= obj_min:
                        obj_min, j = obj, t
            viol = gmax + gmax2
            if j < 0 or viol < eps:
                break
            # the pair's optimum on its segment (LIBSVM's update, with each
            # row's own upper bound)
            Kj = &K[rows[j], 0]
            qii = qii * inv_l2
            qjj = Kj[rows[j]] * inv_l2
            qij = y[i] * y[j] * Ki[rows[j]] * inv_l2
            ci, cj = upper[i], upper[j]
            ai, aj = beta[i], beta[j]
            if y[i] != y[j]:
                quad = qii + qjj + 2.0 * qij
                if quad <= 0.0:
                    quad = TAU
                delta = (-grad[i] - grad[j]) / quad
                diff = ai - aj
                ai += delta
                aj += delta
                if diff > 0.0:
                    if aj < 0.0:
                        aj, ai = 0.0, diff
                elif ai < 0.0:
                    ai, aj = 0.0, -diff
                if diff > ci - cj:
                    if ai > ci:
                        ai, aj = ci, ci - diff
                elif aj > cj:
                    aj, ai = cj, cj + diff
            else:
                quad = qii + qjj - 2.0 * qij
                if quad <= 0.0:
                    quad = TAU
                delta = (grad[i] - grad[j]) / quad
                total = ai + aj
                ai -= delta
                aj += delta
                if total > ci:
                    if ai > ci:
                        ai, aj = ci, total - ci
                elif aj < 0.0:
                    aj, ai = 0.0, total
                if total > cj:
                    if aj > cj:
                        aj, ai = cj, total - cj
                elif ai < 0.0:
                    ai, aj = 0.0, total
            di, dj = ai - beta[i], aj - beta[j]
            beta[i], beta[j] = ai, aj
            ci, cj = y[i] * di * inv_l2, y[j] * dj * inv_l2
            for t in range(n):
                grad[t] += y[t] * (ci * Ki[rows[t]] + cj * Kj[rows[t]])
            it += 1
    return it, viol
