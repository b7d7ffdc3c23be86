"""The exact optimum of the hinge (and epsilon-insensitive) loss with an L2
penalty, for batch mode's polish.

The problem (``s`` the normalised sample weights, ``t`` the threshold: 1
for the hinge, 0 for the perceptron)

    F(w, b) = sum_i s_i max(0, t - y_i p_i) + l2 / 2 ||w||^2,  p_i = x_i.w + b,

is a quadratic program that first-order methods solve slowly at the
defaults (``alpha=1e-4``): batch mode's smoothing continuation stopped 0.2%
to 10% above the optimum, and dual coordinate descent (liblinear's method)
was still 2% above it after 2,000 passes over breast cancer.  Its optimum is
a linear system once it is known which rows sit on the margin.  This module
finds them the way Chapelle (2007, "Training a support vector machine in
the primal") does:

* Newton steps on the hinge smoothed over a width ``mu`` (quadratic on
  ``0 < t - y p < mu``, the *band*), each followed by an exact line search
  (the objective along a direction is piecewise quadratic:
  :func:`line_search`).  Once the band stops changing, a full step lands on
  the smoothed optimum.  The Hessian is ``l2`` plus the band rows' outer
  products, so a step solves a system of the band's rows (in the row space,
  Woodbury's form) or of the columns, whichever is smaller
  (:func:`newton_direction`): a few hundred unknowns where the rows are
  many and the margin narrow.
* After each width, the rows at the kink are read off the smoothed optimum
  (:func:`skgd._batch.resolve`) and the exact optimum solved on them, in the
  row space: ``w = -(X' S u) / l2`` with the dual values ``u`` of the margin
  rows unknown (:func:`kink_solve`).  It is kept only when the optimality
  conditions hold to the polish's tolerance; otherwise the width is
  divided by 10.

Every product is one pass over the rows, so a step costs two products, a
sort of the rows' breakpoints and a solve of at most ``MAX_SYSTEM``
unknowns.

The epsilon-insensitive loss is two hinges per row, ``max(0, |y - p| - e)
= max(0, (y - e) - p) + max(0, p - (y + e))`` (at most one of them is
positive): :class:`HingeView` solves it as the hinge on each row twice,
with labels +1 and -1 and thresholds ``y - e`` and ``-(y + e)``, without
copying the rows (a product of the doubled rows is one of the rows).
"""

import hashlib

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp

from ._dual_fast import smo

#: the widest and the narrowest smoothing tried (units of the margin)
MU_START = 1.0
MU_MIN = 1e-12

#: Newton steps per smoothing width, and in all
STAGE_MAX_ITER = 30
MAX_ITER = 150

#: the linear systems solved (the band's rows, the columns, or the margin
#: rows) have at most this many unknowns: dense solves of up to 2,000
#: unknowns take 0.1-0.3 s
MAX_SYSTEM = 2000

#: the rows on the margin whose exact system :func:`kink_solve` solves (by
#: the Cholesky factor of their Gram matrix: 0.05 s at 1,000)
MAX_KINK_ROWS = 1000

#: up to this many data rows, a view keeps their whole Gram matrix once a
#: system takes half of them, and later systems take its blocks
#: (:meth:`HingeView.gram`): on sparse text the sparse products of the
#: Newton systems were 60-65% of the route's time
GRAM_ROWS = 3000


def routes_hinge(loss, penalty):
    """Whether :func:`hinge_newton` solves this loss and penalty."""
    return (loss.name in ("hinge", "perceptron", "epsilon_insensitive")
            and penalty.l1_strength == 0.0 and penalty.l2_strength > 0.0)


class HingeView:
    """A polish subproblem (:class:`skgd._batch._Subproblem`) as rows of the
    hinge ``s_i max(0, t_i - y_i p_i)``, ``y_i = +-1``: its own rows for the
    hinge and the perceptron (``t_i`` their threshold), each row twice for
    the epsilon-insensitive loss (see the module's docstring).  Vectors
    over the view's rows are ``copies`` vectors over the data's rows, one
    after the other."""

    def __init__(self, sub):
        self.sub = sub
        n = len(sub.y)
        self.n = n
        if sub.loss.name == "epsilon_insensitive":
            e = sub.loss.epsilon
            self.copies = 2
            self.y = np.concatenate([np.ones(n), -np.ones(n)])
            self.t = np.concatenate([sub.y - e, -(sub.y + e)])
            self.s = np.concatenate([sub.s, sub.s])
        else:
            self.copies = 1
            self.y = sub.y
            self.t = np.full(n, float(sub.loss.threshold))
            self.s = sub.s
        self.fit_intercept = sub.fit_intercept
        self.l2 = sub.penalty.l2_strength
        # the kink of each row, at p = t y, and the derivative of its loss
        # below and above it
        self.kinks = (self.t * self.y)[:, None]
        self.levels = np.stack([np.minimum(-self.y, 0.0), np.maximum(-self.y, 0.0)],
                               axis=1)
        self._gram = None  # the data rows' Gram matrix, once computed

    def predictions(self, w, b):
        return np.tile(self.sub.predictions(w, b), self.copies)

    def rmatvec(self, r):
        """``X' r`` of the view's rows (the copies' parts of ``r`` summed)."""
        return self.sub.rmatvec(self.on_data(r))

    def on_data(self, r):
        """A vector over the view's rows summed onto the data's rows (the
        loss's derivative of the data's rows from those of the view's)."""
        return r.reshape(self.copies, self.n).sum(axis=0)

    def dual_key(self):
        """What the dual (:func:`hinge_dual`) of this view depends on besides
        the rows: a digest of its labels, thresholds and bounds, and the L2
        strength and intercept (its memo entry's key)."""
        digest = hashlib.sha1()
        for a in (self.y, self.t, self.s, self.sub.rows):
            digest.update(np.ascontiguousarray(a).tobytes())
        return ("dual failed", digest.hexdigest(), self.l2, self.fit_intercept)

    def rows(self, index):
        """The view's rows ``index`` in float64 (CSR stays CSR)."""
        Xr = self.sub.X[index % self.n]
        if sp.issparse(Xr):
            return sp.csr_matrix(Xr, dtype=np.float64)
        return np.asarray(Xr, dtype=np.float64)

    def gram(self, index, Xr):
        """``Xr Xr'`` (dense) of the view's rows ``index`` (``Xr``, from
        :meth:`rows`): a block of the data rows' Gram matrix, which the view
        computes (:meth:`data_gram`) the first time half of them are asked
        for (a block of fewer rows costs less alone)."""
        if 2 * len(index) >= self.n:
            self.data_gram()
        if self._gram is not None:
            data_rows = index % self.n
            return self._gram[np.ix_(data_rows, data_rows)]
        return _dense(Xr @ Xr.T)

    def data_gram(self):
        """The data rows' whole Gram matrix (C-ordered, computed once and
        shared through the subproblem's memo with the other problems of
        the same rows), or None beyond ``GRAM_ROWS`` rows."""
        if self._gram is not None or self.n > GRAM_ROWS:
            return self._gram
        memo = self.sub.memo
        shared = memo.get("gram") if memo is not None else None
        if shared is not None and np.array_equal(shared[0], self.sub.rows):
            self._gram = shared[1]
            return self._gram
        X = self.rows(np.arange(self.n))
        self._gram = np.ascontiguousarray(_dense(X @ X.T))
        if memo is not None:
            memo["gram"] = (self.sub.rows, self._gram)
        return self._gram


def hinge_newton(sub, w, b, rtol):
    """``(w, b, p)`` at the exact optimum, or None.

    ``sub`` is the polish's :class:`skgd._batch._Subproblem` (hinge,
    perceptron or epsilon-insensitive loss, pure L2 penalty: see
    :func:`routes_hinge`), ``(w, b)`` the iterate to start from; the
    result's optimality conditions hold to ``rtol``, ``p`` are its
    predictions.  The smoothing starts at ``MU_START`` whatever the
    iterate's: a narrow one from a point off its optimum took a Newton
    step per row joining the band (unscaled breast cancer: 30 steps and
    no optimum at 1e-4, where the widths from 1 find it).  On wide data of
    at most ``DUAL_ROWS`` rows, the dual first (:func:`hinge_dual`; the
    iterate is not used there).
    """
    from ._batch import resolve  # (which imports this module)

    view = HingeView(sub)
    memo = sub.memo if sub.memo is not None else {}
    if view.n <= DUAL_ROWS and len(w) + 1 > view.n:
        key = view.dual_key()
        # (a dual that failed once fails again: the fit's second polish
        # attempt goes to the Newton steps directly)
        found = None if key in memo else hinge_dual(view, rtol)
        if found is not None:
            return found
        memo[key] = True
    l2 = view.l2
    p = view.predictions(w, b)
    mu = MU_START
    budget = MAX_ITER
    last = None  # the optimum of the wider smoothing before
    while mu >= MU_MIN:
        for _ in range(STAGE_MAX_ITER):
            if budget <= 0:
                return None
            budget -= 1
            step = newton_direction(view, w, p, mu)
            if step is None:
                return None
            dw, db, decrement, value = step
            if decrement <= 1e-15 * max(abs(value), 1e-300):
                break  # the smoothed problem's optimum, to rounding
            q = view.predictions(dw, db)
            tau = line_search(view.t - view.y * p, view.y * q, view.s, mu,
                              l2 * float(w @ dw), l2 * float(dw @ dw))
            if not tau > 0.0:
                break
            w, b = w + tau * dw, b + tau * db
            p = p + tau * q
        p = view.predictions(w, b)
        u = -view.y * np.clip((view.t - view.y * p) / mu, 0.0, 1.0)
        kink, level, _, _ = resolve(p, u, view.kinks, view.levels)
        if mu <= 1e-2 and np.count_nonzero(kink >= 0) > MAX_KINK_ROWS:
            # the margin holds more rows than the exact system takes (rows
            # repeated on the margin: a9a's binary rows as a regression
            # target, 2,750 of 8,000 within 1e-2 of the tube's edges)
            return None
        found = kink_solve(view, kink, level, rtol)
        if found is not None:
            return found
        # the smoothed optima move linearly in mu while the band keeps its
        # rows (theta_mu = theta* + mu delta): the next one is nearer to
        # theta + (theta - theta_last) / 10 than to theta, where a tenth of
        # the band's rows would stay in the narrower band
        optimum = (w, b)
        if last is not None:
            w, b = w + 0.1 * (w - last[0]), b + 0.1 * (b - last[1])
            p = view.predictions(w, b)
        last = optimum
        mu /= 10.0
    return None


#: up to this many data rows, and fewer than the columns (with the
#: intercept's), :func:`hinge_newton` first solves the dual
#: (:func:`hinge_dual`)
DUAL_ROWS = GRAM_ROWS

#: the violations of the dual's optimality conditions down to which
#: :func:`hinge_dual` runs, each followed by a try of the exact system
DUAL_TOLERANCES = (1e-3, 1e-5, 1e-7, 1e-9, 1e-11)

#: the dual's steps, per variable
DUAL_STEPS_PER_ROW = 50


def hinge_dual(view, rtol):
    """``(w, b, p)`` at the exact optimum, from the dual, or None.

    Sequential minimal optimisation (:func:`skgd._dual_fast.smo`) on the
    data rows' Gram matrix finds the rows on the margin (the dual values
    strictly between their bounds), and :func:`kink_solve` the exact
    optimum on them, verified on the data's optimality conditions; while it
    does not verify, the dual is solved more tightly (``DUAL_TOLERANCES``).
    None beyond ``GRAM_ROWS`` data rows or ``DUAL_STEPS_PER_ROW`` steps a
    variable.  On wide data (text: 2,100 tf-idf rows of 5,000 columns,
    1,500 of them on the margin) this takes about 16,000 steps of 10
    microseconds (7 a variable), where the Newton steps on the smoothed
    hinge factor a system of the band's rows at each step, 88 times.
    """
    K = view.data_gram()
    if K is None:
        return None
    m = len(view.y)
    rows = np.arange(m, dtype=np.intp) % view.n
    y = np.ascontiguousarray(view.y, dtype=np.float64)
    upper = np.ascontiguousarray(view.s, dtype=np.float64)
    beta = np.zeros(m)
    grad = -np.asarray(view.t, dtype=np.float64)  # Q 0 - t
    budget = DUAL_STEPS_PER_ROW * m
    for eps in DUAL_TOLERANCES:
        steps, violation = smo(K, rows, y, upper, 1.0 / view.l2, view.fit_intercept,
                               beta, grad, eps, budget)
        budget -= steps
        free = (beta > 0.0) & (beta < upper)
        kink = np.where(free, 0, -1)
        level = np.where(beta >= upper, -y, 0.0)
        found = kink_solve(view, kink, level, rtol, max_rows=m)
        if found is not None or budget <= 0 or not violation < eps:
            return found
    return None


def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def _spd_solver(G):
    """A solver of ``G x = r`` for a symmetric positive semi-definite ``G``
    (Cholesky; least squares where it is singular to rounding)."""
    try:
        factor = scipy.linalg.cho_factor(G, check_finite=False)
    except np.linalg.LinAlgError:
        return lambda r: np.linalg.lstsq(G, r, rcond=None)[0]
    return lambda r: scipy.linalg.cho_solve(factor, r, check_finite=False)


def newton_direction(view, w, p, mu):
    """``(dw, db, decrement, F_mu)``: the Newton direction of the hinge
    smoothed over ``mu`` at the point with predictions ``p``, ``-g'd``
    (twice the decrease the quadratic model predicts) and the smoothed
    objective; None when its system has more than ``MAX_SYSTEM`` unknowns.

    The Hessian is ``H = A_B' D A_B + diag(l2, ..., l2, 0)`` with ``A_B``
    the band rows (and a column of ones for the intercept) and ``D =
    s_B / mu``.  With fewer band rows than columns it is inverted in the
    row space: ``(l2 + X_B' D X_B)^-1 = (I - X_B' G^-1 X_B) / l2`` with
    ``G = l2 D^-1 + X_B X_B'``, and the intercept's row eliminated (its
    curvature ``1' D 1 - 1' G^-1 X_B X_B' D 1``).  Without a band row the
    intercept has no curvature: its step takes ``l2`` as one (the line
    search then finds its length).
    """
    y, s, l2 = view.y, view.s, view.l2
    z = view.t - y * p
    slope = np.clip(z / mu, 0.0, 1.0)
    value = (float(s @ np.where(z < mu, 0.5 * slope * np.maximum(z, 0.0),
                                z - 0.5 * mu))
             + 0.5 * l2 * float(w @ w))
    r = -s * y * slope  # dF/dp
    rw = -(view.rmatvec(r) + l2 * w)
    rb = -float(r.sum()) if view.fit_intercept else 0.0
    band = np.flatnonzero((z > 0.0) & (z < mu))
    n_band, d = len(band), len(w)
    curv = s[band] / mu
    q = d + 1 if view.fit_intercept else d
    if n_band > MAX_SYSTEM and q > MAX_SYSTEM:
        return None
    if n_band == 0:
        dw, db = rw / l2, rb / l2
    elif n_band < q:
        XB = view.rows(band)
        K = view.gram(band, XB)
        solve = _spd_solver(K + np.diag(l2 / curv))

        def inverse(v, Xv):
            # (l2 + X_B' D X_B)^-1 v, given Xv = X_B v
            return (v - XB.T @ solve(Xv)) / l2

        Xrw = XB @ rw
        dw = inverse(rw, Xrw)
        db = 0.0
        if view.fit_intercept:
            Kd = K @ curv
            den = float(curv.sum() - solve(Kd).sum())
            if not den > 1e-12 * float(curv.sum()):
                den = l2
            db = (rb - float(solve(Xrw).sum())) / den
            dw = dw - db * inverse(np.asarray(XB.T @ curv).ravel(), Kd)
    else:
        XB = view.rows(band)
        if sp.issparse(XB):
            H = _dense(XB.T @ sp.diags(curv) @ XB)
        else:
            H = XB.T @ (curv[:, None] * XB)
        H[np.arange(d), np.arange(d)] += l2
        rhs = rw
        if view.fit_intercept:
            e = np.asarray(XB.T @ curv).ravel()
            H = np.block([[H, e[:, None]], [e[None, :], np.array([[curv.sum()]])]])
            rhs = np.append(rw, rb)
        step = _spd_solver(H)(rhs)
        dw, db = step[:d], (float(step[d]) if view.fit_intercept else 0.0)
    decrement = float(rw @ dw) + rb * db
    return dw, db, decrement, value


def line_search(z, a, s, mu, c1, c2):
    """The exact minimiser ``tau >= 0`` along a direction of the smoothed
    objective ``phi(tau) = sum_i s_i h_mu(z_i - tau a_i) + c1 tau + c2
    tau^2 / 2`` (plus a constant), ``h_mu`` the smoothed hinge of the margin
    deficit ``z = t - y p`` and ``a = y X d`` the rate at which the
    direction raises the margins; ``c1 = l2 w'dw``, ``c2 = l2 dw'dw``.

    ``phi'`` is continuous, non-decreasing and piecewise linear: row ``i``
    adds ``s_i a_i^2 / mu`` to its slope while ``0 < z_i - tau a_i < mu``,
    between its two breakpoints.  Its zero is bracketed (from ``[0, 1]``,
    the Newton step), the bracket narrowed at the median breakpoint inside
    until at most ``LINE_SEARCH_SORTED`` remain, and those are sorted and
    followed: a few passes over the rows instead of a sort of all their
    breakpoints (a9a: 2 x 48,842).  0 if ``phi'(0) >= 0`` (no descent).
    """
    def derivative(tau):
        return c1 + c2 * tau - float(np.sum(s * a * np.clip((z - tau * a) / mu,
                                                            0.0, 1.0)))

    d0 = derivative(0.0)
    if not d0 < 0.0:
        return 0.0
    moving = np.flatnonzero(a != 0.0)
    zm, am = z[moving], a[moving]
    weight = s[moving] * am * am / mu
    t_zero, t_full = zm / am, (zm - mu) / am  # the row's deficit is 0, mu
    enter = np.where(am > 0.0, t_full, t_zero)
    leave = np.where(am > 0.0, t_zero, t_full)
    # bracket [lo, hi] with phi'(lo) < 0 <= phi'(hi)
    lo, hi = 0.0, 1.0
    last = float(max(enter.max(initial=0.0), leave.max(initial=0.0)))
    while derivative(hi) < 0.0:
        lo = hi
        if hi > last:
            # past every breakpoint: phi' is linear with slope c2
            return hi - derivative(hi) / c2 if c2 > 0.0 else hi
        hi *= 4.0
    times = np.concatenate([enter, leave])
    deltas = np.concatenate([weight, -weight])
    inside = (times > lo) & (times <= hi)
    times, deltas = times[inside], deltas[inside]
    while len(times) > LINE_SEARCH_SORTED:
        mid = float(np.partition(times, len(times) // 2)[len(times) // 2])
        if derivative(mid) < 0.0:
            lo, keep = mid, times > mid
        else:
            hi, keep = mid, times <= mid
        if keep.all() or not keep.any():
            break
        times, deltas = times[keep], deltas[keep]
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    d_lo = derivative(lo)
    slope = c2 + float(np.sum(weight[(enter <= lo) & (leave > lo)]))
    # phi' at each breakpoint, and the slope on the piece before it
    before = slope + np.concatenate([[0.0], np.cumsum(deltas)[:-1]])
    values = d_lo + np.cumsum(before * np.diff(times, prepend=lo))
    past = np.flatnonzero(values >= 0.0)
    if len(past):
        k = past[0]
        start = times[k - 1] if k > 0 else lo
        at_start = values[k - 1] if k > 0 else d_lo
        return float(start - at_start / before[k])
    end = times[-1] if len(times) else lo
    at_end = values[-1] if len(times) else d_lo
    last_slope = slope + float(deltas.sum())
    if not last_slope > 0.0:
        return float(hi)
    return float(end - at_end / last_slope)


#: breakpoints the line search sorts (the others it brackets out)
LINE_SEARCH_SORTED = 1024


def kink_solve(view, kink, level, rtol, max_rows=MAX_KINK_ROWS):
    """The exact optimum with the view's rows at a kink (``kink >= 0``) on
    the margin and the others at their level of the loss's derivative, or
    None if the data's optimality conditions do not hold to ``rtol``.

    With ``u`` the dual values (``dL/dp``; the kink rows' ``v = s_K u_K``
    unknown) the conditions are ``w = -(X' S u) / l2``, ``x_i.w + b =
    kink_i`` on the kink rows and ``sum_i s_i u_i = 0`` with an
    intercept: a system in ``(v, b)`` with the Gram matrix of the kink
    rows.  The check is the data's (:meth:`skgd._batch._Subproblem.residual`,
    its loss's derivatives summed from the view's).  None too beyond
    ``max_rows`` kink rows.
    """
    l2, s = view.l2, view.s
    K = np.flatnonzero(kink >= 0)
    if len(K) > max_rows:
        return None
    u = np.where(kink < 0, np.nan_to_num(level), 0.0)
    c = view.rmatvec(s * u)
    XK = view.rows(K)
    target = view.kinks[K, kink[K]]
    if not len(K):
        if view.fit_intercept:
            return None  # no margin row: the intercept is not determined
        return _verified(view, -c / l2, 0.0, u, rtol)
    # the bordered system [G, -1; 1', 0] [v; b] = [rhs; total] (no border
    # without an intercept), G = X_K X_K' / l2 scaled to a unit diagonal
    # at most: by Cholesky's factor of G, then (up to SVD_ROWS kink rows)
    # by the bordered matrix's SVD, where G is singular (dependent columns,
    # as make_classification's redundant features) and only the
    # minimum-norm solution is of use
    G = view.gram(K, XK) / l2
    scale = max(float(np.max(np.diag(G))), 1e-300)
    if not np.all(np.isfinite(G)):
        return None
    rhs = -(target + np.asarray(XK @ c).ravel() / l2)
    found, residuals = None, []
    system, singular = _cholesky_system(G / scale, view.fit_intercept)
    if system is not None:
        found = _refined(view, system, scale, XK, c, u, target, rhs, K, rtol,
                         residuals)
    if found is None and singular:
        # (a regular system that does not verify: a wrong set of kink rows,
        # or one whose w = -(c + X_K' v) / l2 cancels, which the SVD would
        # not help)
        system = _svd_system(G / scale, view.fit_intercept)
        if system is not None:
            found = _refined(view, system, scale, XK, c, u, target, rhs, K, rtol,
                             residuals)
    if (found is None and len(c) + 1 <= PRIMAL_COLUMNS
            and (singular or min(residuals, default=np.inf) <= PRIMAL_NEAR)):
        # dependent kink rows, or an optimum that missed the check by
        # little: not a wrong set of kink rows, whose residuals are larger
        found = _primal_kink_solve(view, K, kink[K], XK, c, u, target, rtol)
    return found


#: up to this many columns (with the intercept's), :func:`kink_solve` also
#: solves for ``(w, b)`` in the columns' space (:func:`_primal_kink_solve`),
#: where the kink rows are dependent or the Gram route's residual is at
#: most PRIMAL_NEAR (7e-8 on columns of scale 1e3; a wrong set of kink
#: rows: 4e-4 to 7e-2)
PRIMAL_COLUMNS = 500
PRIMAL_NEAR = 1e-5


def _primal_kink_solve(view, K, at, XK, c, u, target, rtol):
    """:func:`kink_solve`'s conditions solved for ``theta = (w, b)``: the
    minimum of ``l2 / 2 ||w||^2 + c'w + e b`` (the rows off the margin at
    their levels, ``e`` their share of the intercept's derivative) on the
    kink rows' plane ``A theta = target``, ``A = [X_K, 1]``, by the plane's
    null space (the SVD of ``A``); the kink rows' dual values then by least
    squares, within their bounds (the interval of the loss's derivative at
    kink ``at``: where more rows sit on the margin than ``A`` has columns,
    as a9a's repeated binary rows with sample weights, 130 rows on 124
    columns, the minimum-norm values left it and the route failed).  Where ``l2 ||w||`` is far below ``||c||`` (columns of scale
    1e3 with ``alpha=1e-4``: ``w`` of 1e-3), ``w = -(c + X_K' v) / l2``
    cancels away the digits the optimality check asks for (residuals of
    7e-8 against 1e-9); here ``w`` comes out of a system of the columns'
    scale.  Verified as :func:`kink_solve`'s result (None if it fails)."""
    l2, s = view.l2, view.s
    A = _dense(XK)
    d = A.shape[1]
    lin = c
    curv = np.full(d, l2)
    if view.fit_intercept:
        A = np.hstack([A, np.ones((len(K), 1))])
        lin = np.append(c, float(s @ u))
        curv = np.append(curv, 0.0)
    if not np.all(np.isfinite(A)):
        return None
    U, sv, Vt = np.linalg.svd(A, full_matrices=True)
    rank = int(np.sum(sv > sv[0] * max(A.shape) * np.finfo(np.float64).eps)) if len(sv) else 0
    # a point of the plane (least squares, minimum norm), then the best one
    theta = Vt[:rank].T @ ((U[:, :rank].T @ target) / sv[:rank])
    N = Vt[rank:].T
    if N.shape[1]:
        M = N.T @ (curv[:, None] * N)
        z = np.linalg.lstsq(M, -N.T @ (curv * theta + lin), rcond=None)[0]
        theta = theta + N @ z
    # the kink rows' dual values: A' v = -(curv theta + lin), v_i / s_i
    # within the derivative's interval at the row's kink
    rhs = -(curv * theta + lin)
    v = np.linalg.lstsq(A.T, rhs, rcond=None)[0]
    lo = s[K] * view.levels[K, at]
    hi = s[K] * view.levels[K, at + 1]
    if rank < len(K) and (np.any(v < lo) or np.any(v > hi)):
        # (dependent kink rows: their duals are not unique, and values
        # within the bounds may exist; with independent rows they are
        # unique, and outside them the set is wrong)
        v = scipy.optimize.lsq_linear(A.T, rhs, bounds=(lo, hi), method="bvls",
                                      tol=1e-15).x
    w, b = theta[:d], (float(theta[d]) if view.fit_intercept else 0.0)
    u = u.copy()
    u[K] = v / s[K]
    return _verified(view, w, b, u, rtol)


def _cholesky_system(M, bordered):
    """``(solver, singular)``: a solver of ``M v - b 1 = r, 1'v = total`` by
    the Cholesky factor of ``M`` and the Schur complement of the border (or
    None), and whether ``M`` is singular to rounding (its factor's diagonal
    spans more than 1e5: a condition number above 1e10)."""
    try:
        factor = scipy.linalg.cho_factor(M, check_finite=False)
    except np.linalg.LinAlgError:
        return None, True
    diag = np.abs(np.diag(factor[0]))
    singular = not diag.min() > 1e-5 * diag.max()
    ones = scipy.linalg.cho_solve(factor, np.ones(len(M)), check_finite=False)
    if bordered and not ones.sum() > 0.0:
        return None, True

    def solve(r, total):
        v = scipy.linalg.cho_solve(factor, r, check_finite=False)
        if not bordered:
            return v, 0.0
        b = (total - float(v.sum())) / float(ones.sum())
        return v + b * ones, b

    return solve, singular


#: kink rows up to which :func:`kink_solve` tries the SVD of its system
#: (0.1 s at 900) when Cholesky's factor does not give the optimum
SVD_ROWS = 500


def _svd_system(M, bordered):
    """:func:`_cholesky_system` by the SVD of the bordered matrix (least
    squares, minimum norm), or None beyond ``SVD_ROWS`` rows."""
    k = len(M)
    if k > SVD_ROWS:
        return None
    if bordered:
        M = np.block([[M, -np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
    U, sv, Vt = np.linalg.svd(M)
    keep = sv > sv[0] * len(sv) * np.finfo(np.float64).eps

    def solve(r, total):
        x = Vt[keep].T @ ((U[:, keep].T @ (np.append(r, total) if bordered else r))
                          / sv[keep])
        return (x[:k], float(x[k])) if bordered else (x, 0.0)

    return solve


def _refined(view, solve, scale, XK, c, u, target, rhs, K, rtol, report=None):
    """The optimum from the system's solution, refined twice on the
    conditions' residuals (from fresh products: G squares the condition of
    the kink rows, 3e10 on unscaled breast cancer), if it is verified
    (:func:`_verified`, which appends its residual to ``report``); else
    None."""
    l2, s = view.l2, view.s
    total = -float(s @ u)

    def scaled(r, t):
        # the system is solved with G / scale: b comes out divided by it
        v, b = solve(r / scale, t)
        return v, b * scale

    v, b = scaled(rhs, total)
    for _ in range(2):
        if not (np.all(np.isfinite(v)) and np.isfinite(b)):
            return None
        w = -(c + np.asarray(XK.T @ v).ravel()) / l2
        p_K = np.asarray(XK @ w).ravel() + b
        dv, db = scaled(p_K - target, total - float(v.sum()))
        v, b = v + dv, b + db
    if not (np.all(np.isfinite(v)) and np.isfinite(b)):
        return None
    u = u.copy()
    u[K] = v / s[K]
    return _verified(view, -(c + np.asarray(XK.T @ v).ravel()) / l2, b, u, rtol,
                     report)


def _verified(view, w, b, u, rtol, report=None):
    """``(w, b, p)`` if the data's optimality conditions hold to ``rtol``
    at ``(w, b)`` with the view's dual values ``u``, else None; the
    conditions' residual is appended to ``report`` (a list) if given."""
    sub = view.sub
    p = sub.predictions(w, b)
    residual = sub.residual(w, b, p, view.on_data(u))
    if report is not None:
        report.append(residual)
    if residual > rtol:
        return None
    return w, b, p
