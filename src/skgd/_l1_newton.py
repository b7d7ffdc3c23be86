"""Batch mode's exact route for a smooth loss with an L1 part.

FISTA, batch mode's method for ``penalty="l1"`` and ``"elasticnet"``,
converges slowly where the data are ill-conditioned, and its stopping rule
(the iterates stall) then fires far from the optimum: on 2,100 tf-idf
documents (4,995 columns) with ``alpha=1e-4`` it stopped 2.4% above the
optimum of ``Lasso``, at 887 iterations; it needed about 10,000.  This
route, tried by the polish (:func:`skgd._batch.polish`) after FISTA's
first iterations and when FISTA stalls (see
:meth:`skgd._modes.BatchRunner._l1_route_due`), finds the optimum by
proximal Newton steps (Lee, Sun and Saunders,
2014; the method of glmnet and of scikit-learn's ``Lasso`` for the squared
error, whose quadratic model is exact):

* at ``theta = (w, b)``, the loss's gradient ``g`` and curvatures ``h_i``
  (:func:`skgd._batch.curvature`) give the model ``g' D + 1/2 D' A' S h A
  D`` plus the penalty at ``theta + D``;
* the model's minimiser is found by coordinate descent
  (:mod:`skgd._cd_fast`): on its Hessian ``A' S h A`` where there are at
  most ``GRAM_COLUMNS`` columns and a sweep over it costs no more than
  one over the columns (:func:`skgd._modes.weighted_gram`), on the
  columns of the rows otherwise (a CSC or Fortran-ordered copy of at most
  ``COLUMN_VALUES`` stored values, made once per set of rows), within a
  budget of ``WORK_ITERATIONS`` iterations' products;
* a backtracking line search on the objective, from the whole step
  (Armijo's rule on the model's decrease).

The point is returned when its optimality conditions hold to ``rtol``
(:meth:`skgd._batch._Subproblem.residual`), else None (the polish then
tries its other routes, and batch mode goes on with FISTA).
"""

import numpy as np
import scipy.sparse as sp

from ._cd_fast import Columns, column_sweeps, gram_sweeps

#: proximal Newton steps before the route gives up
MAX_STEPS = 50

#: the route's coordinate descent (and its support solves) may cost at
#: most this many times the products of an iteration of batch mode (two
#: passes over the stored values), and at least MIN_WORK multiply-adds: a
#: model whose Hessian is singular or ill-conditioned (the Huber loss on
#: 700 x 500 rows, few of them in its quadratic band) is solved slowly,
#: and an unbounded budget spent 10 minutes there (Levenberg-Marquardt
#: damping of the Hessian, 1e-6 to 1e-2 of its mean diagonal, did not
#: help); with this one, 1.2 s.  Each polish attempt has its own.
WORK_ITERATIONS = 500
MIN_WORK = 10_000_000

#: sweeps per step before the model is solved on its support
#: (:func:`_on_support`)
STEP_SWEEPS = 1000

#: the support solve takes at most this many coordinates, and (on the
#: columns) supports of at most SUPPORT_VALUES rows x coordinates
SUPPORT_COLUMNS = 1000
SUPPORT_VALUES = 10_000_000
SUPPORT_ROUNDS = 50

#: on the columns, the support solve runs on at most this many rows (a
#: support of SUPPORT_COLUMNS coordinates would have ten times
#: SUPPORT_VALUES values)
SUPPORT_ROWS = 10 * SUPPORT_VALUES // SUPPORT_COLUMNS

#: the model is solved on its Hessian up to this many coordinates (the
#: Hessian costs one pass over the rows' products per step)
GRAM_COLUMNS = 1000

#: otherwise on a copy of the rows' columns of at most this many stored
#: values (CSC or Fortran-ordered dense: a second copy of the data)
COLUMN_VALUES = 20_000_000

#: Armijo's fraction of the model's decrease
ARMIJO = 1e-4

#: a step's sweeps stop when no coordinate's gradient changes by more than
#: this times the largest gradient of the loss at the step's start (later
#: steps, from closer points, go further)
SWEEP_RTOL = 1e-3


def l1_newton(sub, w, b, rtol):
    """The optimum of ``sub`` (a :class:`skgd._batch._Subproblem` of a
    smooth loss with an L1 part) from ``(w, b)``: ``(w, b, p)`` with ``p``
    the predictions, or None."""
    from ._batch import curvature  # (which imports this module)

    loss, pen = sub.loss, sub.penalty
    if sub.stairs is not None or pen.l1_strength == 0.0:
        return None
    model = _Model.of(sub)
    if model is None:
        return None
    w = np.array(w, dtype=np.float64)
    b = float(b) if sub.fit_intercept else 0.0
    p = sub.predictions(w, b)
    f = sub.objective(w, p)
    tol = None
    values = sub.X.nnz if sp.issparse(sub.X) else sub.X.size
    budget = max(WORK_ITERATIONS * 2 * values, MIN_WORK)  # (multiply-adds)
    for n_steps in range(MAX_STEPS + 1):
        u = loss.dloss(sub.y, p)
        if sub.residual(w, b, p, u, smooth=True) <= rtol:
            return w, b, p
        if n_steps == MAX_STEPS or budget <= 0:
            return None
        su = sub.s * u
        g = sub.rmatvec(su)
        if sub.fit_intercept:
            g = np.append(g, su.sum())
        # the sweeps' tolerance: the residual the result must meet (rtol
        # times 1 + max |w|, in the units of a gradient) for the squared
        # error, whose model is exact, and on the Hessian, whose sweeps
        # cost little against forming it; otherwise SWEEP_RTOL of the
        # gradient at the first step, a tenth of the last one's after
        floor = 0.1 * rtol * (1.0 + np.abs(w).max(initial=0.0))
        if loss.name == "squared_error" or model.cheap_sweeps:
            tol = floor
        elif tol is None:
            tol = max(SWEEP_RTOL * np.abs(g).max(initial=0.0), floor)
        else:
            tol = max(0.1 * tol, floor)
        theta = np.append(w, b) if sub.fit_intercept else w.copy()
        new, work = model.minimise(sub.s * curvature(loss, sub.y, p), g, theta.copy(),
                                   tol, budget)
        budget -= work
        if not np.all(np.isfinite(new)):
            return None
        step = new - theta
        d = len(w)
        w_new = new[:d]
        decrease = float(g @ step) + pen.value(w_new) - pen.value(w)
        if not decrease < 0.0:
            if tol <= floor:
                return None
            continue  # (the sweeps were too short to find a descent)
        dp = sub.predictions(step[:d], step[d] if sub.fit_intercept else 0.0)
        t = 1.0
        for _ in range(60):
            w_t = w + t * step[:d]
            p_t = p + t * dp
            f_t = sub.objective(w_t, p_t)
            if f_t <= f + ARMIJO * t * decrease:
                break
            t *= 0.5
        else:
            return None
        w, p, f = w_t, p_t, f_t
        if sub.fit_intercept:
            b = b + t * float(step[d])
        if t == 1.0:
            # (recomputed: the sums of the whole steps' products drift)
            p = sub.predictions(w, b)
            f = sub.objective(w, p)


class _Model:
    """The quadratic model's minimiser, by coordinate descent on the
    Hessian (few columns) or on the columns of the rows."""

    @staticmethod
    def of(sub):
        """The model's solver for ``sub``'s rows, or None (too large); one
        per set of rows (kept in ``sub.memo``: the one-vs-rest problems of
        a fit share their columns)."""
        n, d = sub.X.shape
        values = sub.X.nnz if sp.issparse(sub.X) else n * d
        if d + 1 <= GRAM_COLUMNS and (d + 1) ** 2 <= 2 * values:
            # (a sweep on the Hessian costs (d + 1)^2, on the columns twice
            # their stored values)
            return _GramModel(sub)
        if values > COLUMN_VALUES:
            return None
        memo = sub.memo if sub.memo is not None else {}
        key = ("l1_columns", tuple(sub.rows[:1]), len(sub.rows))
        hit = memo.get(key)
        if hit is None or not np.array_equal(hit[0], sub.rows):
            hit = (sub.rows, Columns(sub.X))
            memo[key] = hit
        return _ColumnModel(sub, hit[1])


class _GramModel:
    cheap_sweeps = True

    def __init__(self, sub):
        self.sub = sub

    def minimise(self, c, g, theta, tol, budget):
        """``(minimiser, work)``: the model's minimiser from ``theta`` (to
        ``tol``, or where ``budget`` multiply-adds or ``STEP_SWEEPS``
        sweeps end the sweeps, then on its support: :func:`_on_support`)
        and the multiply-adds spent."""
        from ._modes import weighted_gram  # (which imports skgd._batch)

        sub = self.sub
        H = weighted_gram(sub.X, c, sub.fit_intercept)
        m, theta0 = len(theta), theta.copy()
        visits, change = gram_sweeps(H, g, theta, np.zeros(m), sub.penalty.l1_strength,
                                     sub.penalty.l2_strength, sub.X.shape[1],
                                     int(min(budget // m, STEP_SWEEPS * m)), tol)
        if change > tol:
            h0 = H @ theta0
            exact = _on_support(sub.penalty, lambda S: H[np.ix_(S, S)],
                                lambda S: h0[S] - g[S], _support(theta, sub.X.shape[1]),
                                sub.X.shape[1], theta, lambda new: g + H @ (new - theta0))
            if exact is not None:
                theta = exact
        return theta, visits * m


class _ColumnModel:
    cheap_sweeps = False

    def __init__(self, sub, columns):
        self.sub, self.columns = sub, columns

    def minimise(self, c, g, theta, tol, budget):
        """See :meth:`_GramModel.minimise` (a visit costs twice its
        column's stored values: counted as their mean, plus one)."""
        sub = self.sub
        n, d = sub.X.shape
        values = sub.X.nnz if sp.issparse(sub.X) else n * d
        per_visit = 2.0 * values / max(d, 1) + 1.0
        c = np.ascontiguousarray(c, dtype=np.float64)
        theta0 = theta.copy()
        max_visits = min(budget // per_visit, STEP_SWEEPS * len(theta))
        visits, change = column_sweeps(self.columns, c, g, theta, np.zeros(n),
                                       sub.penalty.l1_strength, sub.penalty.l2_strength,
                                       int(max_visits), tol)
        work = visits * per_visit
        if change > tol and n <= SUPPORT_ROWS:
            p0 = self._products(theta0)
            spent, last = [0.0], [None, None]

            def columns(S):
                """The support's columns, dense (a round's Hessian block and
                right-hand side read the same ones: made once)."""
                if last[0] is not None and np.array_equal(last[0], S):
                    return last[1]
                if n * len(S) > SUPPORT_VALUES:
                    raise _TooLarge
                spent[0] += n * len(S)
                last[:] = S, sub.columns(S[S < d])  # (the intercept's column last)
                return last[1]

            def gradient(new):
                r = c * (self._products(new) - p0)
                out = sub.rmatvec(r)
                return g + (np.append(out, r.sum()) if sub.fit_intercept else out)

            try:
                exact = _on_support(
                    sub.penalty, lambda S: _weighted_product(columns(S), c, spent),
                    lambda S: columns(S).T @ (c * p0) - g[S], _support(theta, d), d,
                    theta, gradient)
            except _TooLarge:
                exact = None
            work += spent[0]
            if exact is not None:
                theta = exact
        return theta, work

    def _products(self, theta):
        d = self.sub.X.shape[1]
        return self.sub.predictions(theta[:d], theta[d] if len(theta) > d else 0.0)


def _weighted_product(A, c, spent):
    """``A' diag(c) A``, its multiply-adds added to ``spent[0]``."""
    spent[0] += A.shape[0] * A.shape[1] ** 2
    return A.T @ (c[:, None] * A)


class _TooLarge(Exception):
    """A support beyond SUPPORT_VALUES (the columns' dense copy)."""


def _support(theta, n_pen):
    """The coordinates of the model's support: nonzero or unpenalised."""
    S = np.flatnonzero(theta != 0.0)
    return np.union1d(S, np.arange(n_pen, len(theta)))


def _on_support(penalty, hessian, rhs, S, n_pen, theta, gradient):
    """The model's exact minimiser by active sets from the support and
    signs of ``theta`` (the coordinate descent's point), or None.

    On a support ``S`` with its signs fixed the model is a quadratic,
    ``(H_SS + l2) theta_S = rhs(S) - l1 sign_S`` (``hessian(S)`` gives
    ``H_SS``, ``rhs(S)`` gives ``(H theta0)_S - g_S``; coordinates from
    ``n_pen`` on, the intercept, take no ``l1`` nor ``l2`` and stay in
    ``S``).  A coordinate whose solution has left its sign leaves the
    support; when the signs hold, the coordinates off the support that
    break their condition ``|G_j| <= l1`` (``gradient(new)``: the model's
    gradient at the solution) enter it, with the sign that lowers the
    model, and the solve is repeated, at most ``SUPPORT_ROUNDS`` times.
    Coordinate descent on an ill-conditioned model creeps to the optimum (a
    lasso of 300 x 900 rows at alpha=1e-4: 1,600 sweeps) while its support
    settles early."""
    import scipy.linalg

    l1, l2 = penalty.l1_strength, penalty.l2_strength
    m = len(theta)
    sign_of = np.sign(theta)
    for _ in range(SUPPORT_ROUNDS):
        if len(S) > SUPPORT_COLUMNS:
            return None
        pen = S < n_pen
        sign = sign_of[S] * pen
        A = np.array(hessian(S), dtype=np.float64)
        A[np.arange(len(S)), np.arange(len(S))] += l2 * pen
        try:
            theta_S = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A),
                                             rhs(S) - l1 * sign)
        except (np.linalg.LinAlgError, ValueError):
            # more coordinates than the rows determine (a lasso's optimum
            # has at most as many nonzeros as rows): the least-norm
            # solution, whose sign flips then prune the support
            theta_S = scipy.linalg.lstsq(A, rhs(S) - l1 * sign)[0]
        flipped = pen & (np.sign(theta_S) != sign)
        if flipped.any():
            S = S[~flipped]
            continue
        new = np.zeros(m)
        new[S] = theta_S
        G = gradient(new)
        G[S] = 0.0
        G[n_pen:] = 0.0
        enter = np.flatnonzero(np.abs(G) > l1 * (1.0 + 1e-9))
        if not len(enter):
            return new
        # (the worst first: entering them all overshoots the support)
        enter = enter[np.argsort(-np.abs(G[enter]))[:max(10, len(S) // 4)]]
        sign_of[enter] = -np.sign(G[enter])
        S = np.union1d(S, enter)
    return None
