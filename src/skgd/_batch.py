"""Exactness tools of batch mode: a duality gap and an active-set polish.

Batch mode (:class:`skgd._modes.BatchRunner`) minimises, with ``s`` the
sample weights normalised to sum to one,

    F(w, b) = sum_i s_i L(y_i, p_i) + R(w),    p_i = x_i.w + b,
    R(w) = l2 / 2 ||w||^2 + l1 ||w||_1.

Its first-order iterations stop at a tolerance.  This module adds two
things that do not depend on how the iterate was found:

* :func:`duality_gap`: for a loss whose conjugate is known (the
  piecewise-linear ones, squared error, Huber, squared hinge, modified
  Huber, log loss) with a penalty, an upper bound of ``F(w, b) - F*`` from
  a dual point ``u`` (the derivative of the loss, or of the smoothed loss),
  made feasible by rescaling.  Batch mode stops on it.
* :func:`polish`: on problems small enough for dense linear algebra, the
  exact optimum from an iterate close to it, by a primal-dual active-set
  (semismooth Newton) method on the optimality conditions, accepted only
  when those conditions hold to ``POLISH_RTOL``; a piecewise-linear loss
  with a pure L1 penalty is a linear program, solved by HiGHS and refined
  on its active sets (:func:`_linear_program`); the squared error and
  Huber losses with an L1 part are a lasso, solved by its homotopy
  (:func:`_quadratic_program`, :func:`_lasso_path`), which also minimises
  the proximal Newton models of the other smooth losses.  The hinge and
  the epsilon-insensitive loss with a pure L2 penalty have a route that
  runs at any size (:mod:`skgd._hinge_newton`: Newton steps on the
  smoothed hinge, then the margin rows' linear system).

The optimality conditions, with ``u_i`` the dual variable of sample ``i``:

* ``u_i`` in the subdifferential of ``L(y_i, .)`` at ``p_i`` (for a smooth
  loss, ``u_i = dL/dp``);
* ``-(X' S u)_j - l2 w_j`` in ``l1`` times the subdifferential of ``|w_j|``;
* ``sum_i s_i u_i = 0`` when the intercept is fitted.

The piecewise-linear losses have a staircase subdifferential: constant
levels between kinks and the whole interval between two levels at a kink.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy

from ._hinge_newton import hinge_newton, routes_hinge
from ._l1_newton import l1_newton

#: the polish accepts a point whose optimality conditions hold to this
#: relative residual
POLISH_RTOL = 1e-9

#: the polish runs when ``n_rows * (n_active_features + 1)^2`` is at most
#: this.  Its loops are Python: at 2e7 it made batch fits of standardised
#: digits (1797 x 64, 10 one-vs-rest problems) 4x to 28x slower (elastic-net
#: log loss 0.32 s -> 8.9 s) and breast cancer with L1 12x slower, so it is
#: kept to small problems (the 15 x 30 of scikit-learn's checks, a few
#: hundred rows of a few features), where it costs milliseconds.
POLISH_MAX_FLOPS = 2e5

#: the linear-programming polish (a piecewise-linear loss with a pure L1
#: penalty, :func:`_linear_program`) runs when ``n_rows * (n_features + 1)``
#: is at most this: HiGHS took 0.02 s on 200 x 30 (breast cancer), 0.9 s on
#: a dense 2000 x 50 epsilon-insensitive problem and 22 s on 10000 x 100
POLISH_MAX_LP_ENTRIES = 1e5


def polish_fits(n_rows, n_features, loss, penalty):
    """Whether :func:`polish` runs on a problem of this size: the linear
    program within ``POLISH_MAX_LP_ENTRIES``, the other routes within
    ``POLISH_MAX_FLOPS``.  (Batch mode also runs the hinge's route at any
    size where its continuation is short of tol: its
    ``_polishable(uncertified=True)``.)"""
    smooth = staircase(loss, np.zeros(0)) is None
    if not smooth and penalty.l2_strength == 0.0 and penalty.l1_strength > 0.0:
        return n_rows * (n_features + 1) <= POLISH_MAX_LP_ENTRIES
    if smooth and penalty.l1_strength > 0.0:
        return True  # (the route of skgd._l1_newton sizes itself)
    return small_polish(n_rows, n_features)


def small_polish(n_rows, n_features):
    """Whether the polish's exact routes (active-set solves, the lasso's
    homotopy) take a problem of this size (``POLISH_MAX_FLOPS``)."""
    return n_rows * (n_features + 1) ** 2 <= POLISH_MAX_FLOPS


#: stored values per block of float32 rows that the polish's products read
#: in float64 (:meth:`_Subproblem.predictions`)
POLISH_BLOCK_VALUES = 1 << 20


#: active-set (Newton) iterations of the polish
POLISH_MAX_ITER = 30

#: coordinate-descent updates the polish may spend in all (a few tenths of
#: a second of Python loops)
POLISH_MAX_CD_UPDATES = 100_000


# ----------------------------------------------------------------------
# the losses, as the polish sees them
def staircase(loss, y):
    """``(kinks, levels)`` of a piecewise-linear loss, None for other losses.

    ``kinks`` has shape (n, m) (sorted along axis 1) and ``levels`` shape
    (n, m + 1): ``dL/dp`` is ``levels[:, j]`` between ``kinks[:, j - 1]``
    and ``kinks[:, j]``, and any value between two levels at a kink.
    """
    if loss.name in ("hinge", "perceptron"):
        # max(0, t - y p): kink at p = t y; slope -y below (y = 1), above (y = -1)
        t = loss.threshold
        kinks = (t * y)[:, None]
        levels = np.stack([np.minimum(-y, 0.0), np.maximum(-y, 0.0)], axis=1)
        return kinks, levels
    if loss.name == "epsilon_insensitive":
        e = loss.epsilon
        n = len(y)
        if e == 0.0:
            return y[:, None].copy(), np.tile([-1.0, 1.0], (n, 1))
        kinks = np.stack([y - e, y + e], axis=1)
        return kinks, np.tile([-1.0, 0.0, 1.0], (n, 1))
    return None


def curvature(loss, y, p):
    """``d^2 L / dp^2`` (a generalised one at the joints) of a smooth loss."""
    name = loss.name
    if name == "smooth_hinge":
        z = loss.threshold - y * p
        return ((z > 0) & (z < loss.mu)) / loss.mu
    if name == "smooth_epsilon_insensitive":
        a = np.abs(y - p) - loss.epsilon
        return ((a > 0) & (a < loss.mu)) / loss.mu
    if name == "squared_error":
        return np.ones_like(p)
    if name == "huber":
        return (np.abs(p - y) <= loss.epsilon).astype(np.float64)
    if name == "squared_epsilon_insensitive":
        return 2.0 * (np.abs(p - y) > loss.epsilon)
    z = y * p
    if name == "squared_hinge":
        return 2.0 * (z < 1.0)
    if name == "modified_huber":
        return 2.0 * ((z >= -1.0) & (z < 1.0))
    if name == "log_loss":
        sig = 0.5 * (1.0 + np.tanh(0.5 * z))
        return sig * (1.0 - sig)
    raise ValueError(f"no curvature for loss {name!r}")


def resolve(p, u, kinks, levels):
    """Project ``(p_i, u_i)`` onto the graph of the staircase along ``p + u = m``.

    Returns ``(kink, level, p_proj, u_proj)``: ``kink[i]`` is the index of
    the kink sample ``i`` sits at (-1 for none) and ``level[i]`` the level
    it has when it is on a flat piece.  This is the active-set rule of the
    semismooth Newton method: a sample whose dual value has left the
    interval of its kink moves to the piece on that side, and one whose
    prediction crossed a kink moves onto it.
    """
    m = p + u
    n, n_kinks = kinks.shape
    kink = np.full(n, -1)
    level = np.zeros(n)
    p_proj, u_proj = p.copy(), u.copy()
    done = np.zeros(n, dtype=bool)
    for j in range(n_kinks):
        lo, hi, k = levels[:, j], levels[:, j + 1], kinks[:, j]
        flat = ~done & (m - lo < k)  # on the flat piece below kink j
        level[flat], p_proj[flat], u_proj[flat] = lo[flat], (m - lo)[flat], lo[flat]
        done |= flat
        at = ~done & (m - k <= hi)  # on the kink
        kink[at], p_proj[at], u_proj[at] = j, k[at], (m - k)[at]
        level[at] = np.nan
        done |= at
    rest = ~done
    top = levels[:, n_kinks]
    level[rest], p_proj[rest], u_proj[rest] = top[rest], (m - top)[rest], top[rest]
    return kink, level, p_proj, u_proj


def coefficient_residual(w, gamma, l1):
    """Distance of ``(w_j, gamma_j)`` to the graph of ``l1 d|w|`` along
    ``w + gamma = m`` (0 at an optimum, with ``gamma = -(X' S u) - l2 w``)."""
    m = w + gamma
    proj = np.sign(m) * np.maximum(np.abs(m) - l1, 0.0)
    return np.abs(w - proj), m


# ----------------------------------------------------------------------
# duality gap of the piecewise-linear losses
def duality_gap(loss, y, s, u, primal, penalty, fit_intercept, rmatvec,
                product=None):
    """``(gap, q)``: an upper bound of ``F(w, b) - F*`` from a dual point
    ``u``, and ``q = sum_i s_i u'_i^2`` of the feasible ``u'`` it used; or None.

    ``primal`` is ``F(w, b)``; ``u`` any vector with ``u_i`` in the range
    of ``dL/dp`` (as the derivatives of the loss, or of the smoothed loss,
    are); ``rmatvec`` computes ``X' r``.  ``u`` is made feasible by scaling
    its positive or its negative part (``sum_i s_i u_i = 0`` with an
    intercept), then all of it (``||X' S u||_inf <= l1`` without an L2
    part): scaling towards 0 keeps each ``u_i`` in the range.  ``product``:
    ``X' S u`` if known (the loss's gradient at the iterate, when ``u`` are
    its derivatives), which saves one of the two products.  The bound
    is ``F(w, b) - D(u)`` with the Fenchel dual

        D(u) = -sum_i s_i L*(y_i, u_i) - R*(-X' S u),

    whose conjugates ``L*`` are those of :func:`loss_conjugate`.  None when
    there is no dual bound (no penalty: ``R*`` is then the indicator of
    ``X' S u = 0``) or no conjugate for the loss.
    """
    l1, l2 = penalty.l1_strength, penalty.l2_strength
    if loss.name not in CONJUGATES or (l1 == 0.0 and l2 == 0.0):
        return None
    su = s * u
    pos, neg = np.maximum(su, 0.0), np.minimum(su, 0.0)
    if fit_intercept:
        x_pos = rmatvec(pos)
        x_neg = rmatvec(neg) if product is None else product - x_pos
        scale_pos, scale_neg = intercept_scales(pos.sum(), neg.sum())
        v = scale_pos * x_pos + scale_neg * x_neg
    else:
        scale_pos = scale_neg = 1.0
        v = product if product is not None else rmatvec(pos + neg)
    r_conj, t = penalty_conjugate(v, l1, l2)
    su = (t * scale_pos) * pos + (t * scale_neg) * neg
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(s > 0, su / s, 0.0)
    q = float(np.sum(su * u))
    l_conj = float(np.sum(s * loss_conjugate(loss, y, u)))
    return max(primal - (-l_conj - r_conj), 0.0), q


def intercept_scales(pos_sum, neg_sum):
    """``(a, b)``: the factors of the positive and the negative parts of
    ``s u`` (sums ``pos_sum >= 0``, ``neg_sum <= 0``) that make it sum to 0,
    the larger part scaled down to the other (a dual point's feasibility
    with an intercept)."""
    c = -neg_sum
    if pos_sum > c:
        return c / pos_sum, 1.0
    if c > pos_sum:
        return 1.0, pos_sum / c
    return 1.0, 1.0


def penalty_conjugate(v, l1, l2):
    """``(R*(-v'), t)`` with ``v' = t v`` (``v = X' S u``): the conjugate of
    the penalty, ``sum_j max(|v_j| - l1, 0)^2 / (2 l2)``; without an L2 part
    it is the indicator of ``||v'||_inf <= l1``, and ``t <= 1`` scales the
    dual point into it."""
    if l2 == 0.0:
        top = np.abs(v).max() if len(v) else 0.0
        return 0.0, (l1 / top if top > l1 else 1.0)
    return float(np.sum(np.maximum(np.abs(v) - l1, 0.0) ** 2)) / (2.0 * l2), 1.0


#: the losses whose conjugate :func:`loss_conjugate` knows
CONJUGATES = ("hinge", "perceptron", "epsilon_insensitive", "squared_error", "huber",
              "squared_hinge", "modified_huber", "log_loss")


def loss_conjugate(loss, y, u):
    """``L*(y_i, u_i) = sup_p (u_i p - L(y_i, p))`` for ``u_i`` in the range
    of ``dL/dp`` (where it is finite).

    * hinge / perceptron ``max(0, t - y p)``: ``t u y`` (``-1 <= u y <= 0``);
    * epsilon-insensitive: ``u y + epsilon |u|`` (``|u| <= 1``);
    * squared error ``(p - y)^2 / 2`` and Huber: ``u y + u^2 / 2`` (Huber:
      ``|u| <= epsilon``);
    * squared hinge ``max(0, 1 - y p)^2`` and modified Huber: ``u y +
      u^2 / 4`` (``u y <= 0``; modified Huber: ``u y >= -4``);
    * log loss ``log(1 + exp(-y p))``: ``a log a + (1 - a) log(1 - a)``
      with ``a = -u y`` in ``[0, 1]``.
    """
    name = loss.name
    if name in ("hinge", "perceptron"):
        return loss.threshold * u * y
    if name == "epsilon_insensitive":
        return u * y + loss.epsilon * np.abs(u)
    if name in ("squared_error", "huber"):
        return u * y + 0.5 * u * u
    if name in ("squared_hinge", "modified_huber"):
        return u * y + 0.25 * u * u
    if name == "log_loss":
        a = np.clip(-u * y, 0.0, 1.0)
        return xlogy(a, a) + xlogy(1.0 - a, 1.0 - a)
    raise ValueError(f"no conjugate for the loss {name!r}")


# ----------------------------------------------------------------------
# the polish
class _Subproblem:
    """The weighted rows (s_i > 0) of a problem, for the polish: its
    products are float64 whatever the rows' precision.  ``rows``: their
    positions in the data; ``memo``: see :func:`polish` (None: nothing
    shared)."""

    def __init__(self, X, y, s, loss, penalty, fit_intercept, memo=None):
        rows = np.flatnonzero(s > 0)
        self.rows, self.memo = rows, memo
        self.X = X[rows] if len(rows) < X.shape[0] else X
        self.y, self.s = y[rows], s[rows]
        self.loss, self.penalty = loss, penalty
        self.fit_intercept = fit_intercept
        self.stairs = staircase(loss, self.y)
        # coordinate-descent updates left to the polish (Python loops)
        self.cd_budget = POLISH_MAX_CD_UPDATES

    def _row_blocks(self):
        """Row ranges of about ``POLISH_BLOCK_VALUES`` stored values each."""
        n = self.X.shape[0]
        values = self.X.nnz if sp.issparse(self.X) else self.X.size
        step = max(1, POLISH_BLOCK_VALUES * n // max(values, 1))
        return [(a, min(a + step, n)) for a in range(0, n, step)]

    def predictions(self, w, b):
        """``X w + b`` in float64 (float32 rows are read by blocks in
        float64: products in float32 cannot meet the optimality conditions
        to ``POLISH_RTOL``, and a float64 copy of the data would double it)."""
        w = np.asarray(w, dtype=np.float64)
        if self.X.dtype == np.float64:
            return np.asarray(self.X @ w).ravel() + b
        p = np.empty(self.X.shape[0])
        for a, e in self._row_blocks():
            p[a:e] = np.asarray(self.X[a:e].astype(np.float64) @ w).ravel()
        return p + b

    def rmatvec(self, r):
        """``X' r`` in float64 (float32 rows by blocks, see :meth:`predictions`)."""
        r = np.asarray(r, dtype=np.float64)
        if self.X.dtype == np.float64:
            return np.asarray(self.X.T @ r).ravel()
        out = np.zeros(self.X.shape[1])
        for a, e in self._row_blocks():
            out += np.asarray(self.X[a:e].astype(np.float64).T @ r[a:e]).ravel()
        return out

    def columns(self, J):
        A = self.X[:, J]
        A = A.toarray() if sp.issparse(A) else np.asarray(A)
        A = A.astype(np.float64)
        if self.fit_intercept:
            A = np.hstack([A, np.ones((A.shape[0], 1))])
        return A

    def objective(self, w, p, loss=None):
        loss = self.loss if loss is None else loss
        return float(np.dot(self.s, loss.loss(self.y, p))) + self.penalty.value(w)

    def residual(self, w, b, p, u, smooth=False):
        """Largest relative violation of the optimality conditions (of a
        smooth loss whose derivative is ``u`` if ``smooth``)."""
        pen = self.penalty
        scale_p = 1.0 + np.abs(p).max(initial=0.0)
        worst = 0.0
        if not smooth and self.stairs is not None:
            _, _, p_proj, _ = resolve(p, u, *self.stairs)
            worst = np.abs(p - p_proj).max(initial=0.0) / scale_p
        gamma = -self.rmatvec(self.s * u) - pen.l2_strength * w
        res, _ = coefficient_residual(w, gamma, pen.l1_strength)
        scale_w = 1.0 + np.abs(w).max(initial=0.0)
        worst = max(worst, res.max(initial=0.0) / scale_w)
        if self.fit_intercept:
            worst = max(worst, abs(float(np.dot(self.s, u))))
        return worst


def polish(X, y, s, loss, penalty, fit_intercept, w, b, memo=None):
    """The exact optimum of a small problem from a nearby iterate, or None.

    ``s`` are the normalised sample weights (0 on held-out rows), ``(w, b)``
    the iterate.  Each iteration picks the active sets from the
    current point (the features with ``w_j != 0`` after the rule of
    :func:`coefficient_residual`; for a piecewise-linear loss the samples
    at a kink, by :func:`resolve`) and solves the linear optimality
    conditions on them:

    * smooth loss: linearised at the point, a semismooth Newton step (exact
      for the piecewise-quadratic losses once the active sets are right),
      with a backtracking line search on ``F``;
    * piecewise-linear loss: exactly, from the dual point ``u = dL_mu/dp``
      of the smoothed loss; while that does not satisfy the conditions, the
      smoothed problem (piecewise quadratic) is solved by the Newton
      iterations above and ``mu`` divided by 10 (a path of smoothed optima
      whose active sets tend to the true ones).

    The result is returned only when the conditions hold to
    ``POLISH_RTOL``, the optimum is unique (the linear system determines
    ``(w, b)``: without a penalty it often does not, and another rounding
    would give another point) and ``F`` is no higher than at ``(w, b)``;
    None otherwise, and when the problem is too large
    (:func:`polish_fits`).  A piecewise-linear loss with a pure L1 penalty
    is solved as a linear program instead (:func:`_linear_program`), and
    the squared error and Huber losses with an L1 part as a quadratic
    program, by the homotopy of the lasso (:func:`_quadratic_program`).
    The hinge, perceptron and epsilon-insensitive losses with a pure L2
    penalty try :func:`skgd._hinge_newton.hinge_newton` first, at any size.
    ``memo``: a dict that the polishes of the same rows share (the
    one-vs-rest problems of a fit), for what depends on the rows only
    (:meth:`skgd._hinge_newton.HingeView.data_gram`).
    """
    with np.errstate(all="ignore"):
        # trial steps of the line searches may overflow: they are rejected
        try:
            return _polish(X, y, s, loss, penalty, fit_intercept, w, b, memo)
        except _NotFinite:
            return None


class _NotFinite(Exception):
    """A linear system of the polish holds a NaN or an infinity (products of
    values near the float64 range): no exact optimum from it, and LAPACK is
    not given it (its SVD prints argument errors and returns NaN)."""


def _check_finite_system(*arrays):
    for a in arrays:
        if not np.isfinite(a).all():
            raise _NotFinite


def _svd(M):
    """``np.linalg.svd(M)`` of a finite ``M`` (else :class:`_NotFinite`)."""
    _check_finite_system(M)
    return np.linalg.svd(M)


def _polish(X, y, s, loss, penalty, fit_intercept, w, b, memo):
    sub = _Subproblem(X, y, s, loss, penalty, fit_intercept, memo)
    if len(sub.y) == 0:
        return None
    w, b = np.array(w, dtype=np.float64), float(b)
    p = sub.predictions(w, b)
    f_start = sub.objective(w, p)
    if sub.stairs is None and penalty.l1_strength == 0.0:
        found = _newton(sub, w, b, p)
    elif sub.stairs is not None and penalty.l2_strength == 0.0:
        # a linear program (piecewise-linear loss, pure L1 penalty)
        found = _linear_program(sub, f_start)
    else:
        found = None
        if routes_hinge(loss, penalty):
            found = hinge_newton(sub, w, b, POLISH_RTOL)
        if found is None:
            found = _quadratic_program(sub)
        if found is None:
            found = _smoothing_path(sub, w, b, p)
        if found is None and sub.stairs is None:
            # (after the exact routes of small problems: its own optimum
            # meets the conditions to POLISH_RTOL, theirs to rounding)
            found = l1_newton(sub, w, b, POLISH_RTOL)
    if found is None:
        return None
    w, b, p = found
    if sub.objective(w, p) > f_start + 1e-12 * abs(f_start):
        return None
    return w, b


def _coefficient_set(sub, w, u):
    """The features of the next active set and their signs."""
    pen = sub.penalty
    l1 = pen.l1_strength
    if l1 == 0.0:
        J = np.arange(len(w))
        return J, np.zeros(len(J))
    gamma = -sub.rmatvec(sub.s * u) - pen.l2_strength * w
    _, m = coefficient_residual(w, gamma, l1)
    J = np.flatnonzero(np.abs(m) > l1)
    return J, np.sign(m[J])


def _solve(sub, J, sign, A, h, r_free, free, K, target, damping=0.0):
    """Solve the optimality conditions on the active sets.

    ``[A_F' S H A_F + L2, A_K'; A_K, 0] [theta; v_K] =
    [-A_F' r_F - l1 sign; target]`` with ``theta = (w_J, b)`` and
    ``v_K = s_K u_K`` (least squares, minimum norm); ``damping`` times the
    largest diagonal entry is added to the diagonal of the first block
    (Levenberg-Marquardt).  Returns
    ``(theta, v_K, unique)``: ``unique`` says whether the system
    determines ``theta``.
    """
    q, k = A.shape[1], len(K)
    M = np.zeros((q + k, q + k))
    Af = A[free]
    M[:q, :q] = Af.T @ ((sub.s[free] * h[free])[:, None] * Af)
    diag = np.arange(len(J))
    M[diag, diag] += sub.penalty.l2_strength
    M[:q, q:] = A[K].T
    M[q:, :q] = A[K]
    rhs = np.zeros(q + k)
    rhs[:q] = -(Af.T @ r_free[free])
    rhs[:len(J)] -= sub.penalty.l1_strength * sign
    rhs[q:] = target
    if damping > 0:
        top = max(float(np.max(np.diag(M)[:q], initial=0.0)), 1e-300)
        M[np.arange(q), np.arange(q)] += damping * top
    U, sv, Vt = _svd(M)
    cut = sv[0] * len(sv) * np.finfo(np.float64).eps if len(sv) else 0.0
    keep = sv > cut
    sol = Vt[keep].T @ ((U[:, keep].T @ rhs) / sv[keep])
    null = Vt[~keep]
    unique = not len(null) or np.abs(null[:, :q]).max() <= 1e-8
    return sol[:q], sol[q:], unique


def _unpack(sub, J, theta, d):
    w = np.zeros(d)
    w[J] = theta[:len(J)]
    b = float(theta[len(J)]) if sub.fit_intercept else 0.0
    return w, b


def _newton(sub, w, b, p, loss=None, unique_only=True):
    """(Proximal) semismooth Newton on ``F`` for a smooth loss (see
    :func:`polish`): ``(w, b, p)`` once the optimality conditions hold to
    ``POLISH_RTOL``, else None.

    Each step minimises the quadratic model of the smooth part plus the L1
    part (:func:`_model_step`), then searches along the step.  ``loss``:
    the loss to minimise instead of ``sub.loss`` (a smoothed one);
    ``unique_only=False`` goes on through singular systems (damped steps)
    and returns the last point in any case.
    """
    loss = sub.loss if loss is None else loss
    d, n = len(w), len(sub.y)
    if n * (d + 1) ** 2 > POLISH_MAX_FLOPS or d + 1 > POLISH_MAX_COLUMNS:
        return None
    A = sub.columns(np.arange(d))
    damping = 0.0 if unique_only else PATH_DAMPING
    for _ in range(POLISH_MAX_ITER):
        u = loss.dloss(sub.y, p)
        h = curvature(loss, sub.y, p)
        theta, unique = _model_step(sub, A, w, b, u, h, damping,
                                    1000 if unique_only else 100)
        if sub.cd_budget <= 0:
            break
        w_new, b_new = _unpack(sub, np.arange(d), theta, d)
        w_new, b_new, p_new = _line_search(sub, loss, w, b, p, w_new, b_new)
        if p_new is None:
            if unique_only:
                return None
            if damping >= 1.0:
                break
            # no decrease along a (nearly) singular Newton step: damp it
            damping *= 1e3
            continue
        w, b, p = w_new, b_new, p_new
        if damping > 0:
            # a full step paid off: less damping (Levenberg-Marquardt)
            damping = max(damping * 0.01, 1e-15)
        if sub.residual(w, b, p, loss.dloss(sub.y, p), smooth=True) <= POLISH_RTOL:
            # the last step's system says whether the optimum is unique
            return (w, b, p) if unique or not unique_only else None
    # a smoothed problem of the path: the point reached is a warm start
    return None if unique_only else (w, b, p)


#: the proximal Newton model is minimised in Python (homotopy, or
#: coordinate descent): the polish runs on at most this many columns
#: (intercept included)
POLISH_MAX_COLUMNS = 400

#: Levenberg-Marquardt damping of the Newton steps on the smoothed problems
#: of the path (relative to the largest diagonal entry of the Hessian)
PATH_DAMPING = 1e-6


def _model_step(sub, A, w, b, u, h, damping, max_sweeps=1000):
    """Minimise the model ``g' e + e' H e / 2 + l1 ||w + e_w||_1`` at
    ``theta = (w, b)``: ``(theta + e, unique)``.

    ``H = A' S diag(h) A + l2`` (``damping`` times its largest diagonal
    entry added).  Without L1 part a linear solve; with one, the model is
    a lasso, solved exactly by its homotopy (:func:`_lasso_path`); when
    that meets a singular system, primal-dual active-set iterations or
    coordinate descent find the support and signs, and the model is then
    solved exactly on them (kept if the signs and the zero coordinates'
    conditions hold).  ``unique``: whether the (restricted) Hessian is
    non-singular.
    """
    pen = sub.penalty
    l1, l2 = pen.l1_strength, pen.l2_strength
    d = len(w)
    q = A.shape[1]
    theta0 = np.append(w, b) if sub.fit_intercept else w.copy()
    H = A.T @ ((sub.s * h)[:, None] * A)
    H[np.arange(d), np.arange(d)] += l2
    if damping > 0:
        top = max(float(np.max(np.diag(H))), 1e-300)
        H[np.arange(q), np.arange(q)] += damping * top
    grad = A.T @ (sub.s * u)
    grad[:d] += l2 * w
    c = H @ theta0 - grad  # the model is theta' H theta / 2 - c' theta + l1 |w|
    lam = np.zeros(q)
    lam[:d] = l1
    if l1 == 0.0:
        return _restricted(H, c, lam, np.arange(q), np.zeros(q))
    theta = _lasso_path(H, c, lam)
    if theta is not None:
        return theta, True
    diag = np.diag(H).copy()
    found = _model_active_set(H, c, lam, theta0, diag)
    if found is not None:
        return found
    theta = theta0.copy()
    support, stable = None, 0
    for _ in range(max_sweeps):
        sub.cd_budget -= q
        if sub.cd_budget <= 0:
            break
        biggest = 0.0
        for j in range(q):
            if diag[j] <= 0:
                continue
            r = c[j] - H[j] @ theta + diag[j] * theta[j]
            new = np.sign(r) * max(abs(r) - lam[j], 0.0) / diag[j]
            biggest = max(biggest, abs(new - theta[j]))
            theta[j] = new
        # coordinate descent is there for the support and the signs; the
        # exact solve on them gives the digits
        now = np.sign(theta).tobytes()
        stable = stable + 1 if now == support else 0
        support = now
        if stable >= 10 or biggest <= 1e-15 * (1.0 + np.abs(theta).max()):
            found = _on_support(H, c, lam, theta)
            if found is not None or biggest <= 1e-15 * (1.0 + np.abs(theta).max()):
                return found if found is not None else (theta, False)
            stable = 0
    return theta, False


def _model_active_set(H, c, lam, theta, diag):
    """The model's minimiser by primal-dual active-set iterations (the
    support from one coordinate-descent step's sign rule at each
    coordinate, then the exact solve on it), or None if they do not settle
    in 30 iterations."""
    if np.any(diag <= 0):
        return None
    seen = set()
    for _ in range(30):
        z = theta + (c - H @ theta) / diag
        S = (np.abs(z) * diag > lam) | (lam == 0)
        key = S.tobytes() + np.sign(z[S]).tobytes()
        if key in seen:
            return None
        seen.add(key)
        trial = np.where(S, np.sign(z), 0.0)
        theta, _ = _restricted(H, c, lam, np.flatnonzero(S), trial)
        found = _on_support(H, c, lam, theta)
        if found is not None:
            return found
    return None


def _on_support(H, c, lam, theta):
    """The model's exact minimiser on the support and signs of ``theta``:
    ``(theta, unique)`` if its signs and the conditions of the zero
    coordinates hold, else None."""
    q = len(c)
    S = np.flatnonzero((theta != 0) | (lam == 0))
    exact, unique = _restricted(H, c, lam, S, np.sign(theta))
    out = np.setdiff1d(np.arange(q), S)
    gap = c - H @ exact  # minus the model's smooth gradient
    rhs = lam[S] * np.sign(theta[S])
    scale = 1e-9 * (np.abs(c).max(initial=0.0) + lam.max(initial=0.0) + 1e-300)
    if (np.all(np.sign(exact[S][lam[S] > 0]) == np.sign(theta[S][lam[S] > 0]))
            and np.all(np.abs(gap[S] - rhs) <= scale)
            and np.all(np.abs(gap[out]) <= lam[out] + scale)):
        return exact, unique
    return None


def _restricted(H, c, lam, S, sign):
    """``theta`` with ``H_SS theta_S = c_S - lam_S sign_S`` and 0 off ``S``
    (minimum norm), and whether ``H_SS`` is non-singular."""
    theta = np.zeros(len(c))
    if not len(S):
        return theta, True
    Hs = H[np.ix_(S, S)]
    U, sv, Vt = _svd(Hs)
    cut = sv[0] * len(sv) * np.finfo(np.float64).eps
    keep = sv > cut
    rhs = c[S] - lam[S] * sign[S]
    theta[S] = Vt[keep].T @ ((U[:, keep].T @ rhs) / sv[keep])
    return theta, bool(np.all(keep))


def _exact(sub, w, b, p, u):
    """The exact solution on the active sets of the point ``(p, u)``:
    ``((w, b, p), unique)`` if it satisfies the optimality conditions, else
    ``(None, False)``.

    Piecewise-linear loss: one linear solve on the features of
    :func:`_coefficient_set` and the samples at a kink (:func:`resolve`).
    Smooth loss: Newton steps on those features with their signs fixed
    (exact for a piecewise-quadratic loss once its pieces settle).
    """
    d, n = len(w), len(sub.y)
    J, sign = _coefficient_set(sub, w, u)
    if n * (len(J) + 1) ** 2 > POLISH_MAX_FLOPS:
        return None, False
    A = sub.columns(J)
    if sub.stairs is None:
        return _exact_smooth(sub, J, sign, A, w, b, p)
    kinks, levels = sub.stairs
    kink, level, _, _ = resolve(p, u, kinks, levels)
    K = np.flatnonzero(kink >= 0)
    free = kink < 0
    r_free = np.where(free, sub.s * np.nan_to_num(level), 0.0)
    theta, v, unique = _solve(sub, J, sign, A, np.zeros(n), r_free,
                              free, K, kinks[K, kink[K]])
    w_new, b_new = _unpack(sub, J, theta, d)
    u_new = np.where(free, np.nan_to_num(level), 0.0)
    u_new[K] = v / sub.s[K]
    p_new = sub.predictions(w_new, b_new)
    if sub.residual(w_new, b_new, p_new, u_new) > POLISH_RTOL:
        return None, False
    return (w_new, b_new, p_new), unique


def _exact_smooth(sub, J, sign, A, w, b, p):
    d, n = len(w), len(sub.y)
    free, K = np.ones(n, dtype=bool), np.zeros(0, dtype=int)
    w = np.where(np.isin(np.arange(d), J), w, 0.0)
    p = sub.predictions(w, b)
    for _ in range(POLISH_MAX_ITER):
        u, h = sub.loss.dloss(sub.y, p), curvature(sub.loss, sub.y, p)
        theta, _, unique = _solve(sub, J, sign, A, h, sub.s * (u - h * p), free, K,
                                  np.zeros(0))
        w_new, b_new = _unpack(sub, J, theta, d)
        w_new, b_new, p_new = _line_search(sub, sub.loss, w, b, p, w_new, b_new)
        if p_new is None:
            return None, False
        w, b, p = w_new, b_new, p_new
        if sub.residual(w, b, p, sub.loss.dloss(sub.y, p), smooth=True) <= POLISH_RTOL:
            return (w, b, p), unique
    return None, False


#: the smoothing path of the polish: at most this many widths, from the
#: runner's down to 1e-12 (units of the loss's margin)
POLISH_MU_MIN = 1e-12


def _smoothing_path(sub, w, b, p):
    """Exact solutions along a path of smoothed optima (see :func:`polish`).

    At each width ``mu`` (from 1 down by tenths), the kinks of the loss
    (piecewise-linear losses) are smoothed, the smoothed problem is solved
    by Newton steps, proximal ones that keep the kink of the L1 part
    (:func:`_newton`, the model solved by the lasso homotopy) or, without
    an L1 part, damped ones (:func:`_path_newton`), and the active sets of
    its optimum are tried for the exact solution (:func:`_exact`).
    """
    mu = 1.0
    while mu >= POLISH_MU_MIN:
        work = sub.loss if sub.stairs is None else sub.loss.smoothed(mu)
        found, unique = _exact(sub, w, b, p, work.dloss(sub.y, p))
        if found is not None:
            return found if unique else None
        if sub.penalty.l1_strength > 0.0:
            # rounding the L1 part would leave the steps too little
            # curvature (none with a pure L1 part); proximal Newton keeps
            # the kink of |w|, and its model is an exact lasso
            step = _newton(sub, w, b, p, loss=work, unique_only=False)
        else:
            step = _path_newton(sub, w, b, p, work, mu)
        if step is None:
            return None
        w, b, p = step
        found, unique = _exact(sub, w, b, p, work.dloss(sub.y, p))
        if found is not None:
            return found if unique else None
        mu /= 10.0
    return None


def _huber(w, mu):
    """``sum_j huber_mu(w_j)``, its gradient and curvature: ``|t|`` rounded
    to ``t^2 / (2 mu)`` on ``|t| < mu``."""
    a = np.abs(w)
    inside = a < mu
    value = float(np.sum(np.where(inside, 0.5 * w * w / mu, a - 0.5 * mu)))
    return value, np.clip(w / mu, -1.0, 1.0), inside / mu


def _path_newton(sub, w, b, p, loss, mu):
    """Damped (Levenberg-Marquardt) Newton steps with a line search on the
    problem with ``loss`` and the L1 part rounded over ``mu``; the point
    reached (a warm start), or None when the problem is too large."""
    pen = sub.penalty
    l1, l2 = pen.l1_strength, pen.l2_strength
    d, n = len(w), len(sub.y)
    if n * (d + 1) ** 2 > POLISH_MAX_FLOPS:
        return None
    A = sub.columns(np.arange(d))
    q = A.shape[1]

    def value(w, p):
        return (float(np.dot(sub.s, loss.loss(sub.y, p))) + 0.5 * l2 * float(w @ w)
                + l1 * _huber(w, mu)[0])

    damping = 1e-12
    f = value(w, p)
    for _ in range(POLISH_MAX_ITER):
        u, h = loss.dloss(sub.y, p), curvature(loss, sub.y, p)
        _, g_l1, h_l1 = _huber(w, mu)
        grad = A.T @ (sub.s * u)
        grad[:d] += l2 * w + l1 * g_l1
        H = A.T @ ((sub.s * h)[:, None] * A)
        H[np.arange(d), np.arange(d)] += l2 + l1 * h_l1
        top = max(float(np.max(np.diag(H))), 1e-300)
        if np.abs(grad).max() <= 1e-13 * (1.0 + top * (1.0 + np.abs(w).max())):
            break
        H[np.arange(q), np.arange(q)] += damping * top
        _check_finite_system(H, grad)
        step = -np.linalg.lstsq(H, grad, rcond=None)[0]
        dp = sub.predictions(step[:d], step[d] if sub.fit_intercept else 0.0)
        t, accepted = 1.0, False
        for _ in range(40):
            wt = w + t * step[:d]
            ft = value(wt, p + t * dp)
            if ft <= f:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            if damping >= 1.0:
                break
            damping *= 1e3
            continue
        b = b + t * (step[d] if sub.fit_intercept else 0.0)
        w, p = wt, sub.predictions(wt, b)
        f = value(w, p)
        damping = max(damping * 0.01, 1e-15)
    return w, b, p


def _line_search(sub, loss, w, b, p, w_new, b_new):
    """The longest step of 1, 1/2, 1/4, ... towards ``(w_new, b_new)`` that
    does not increase the objective with ``loss`` (rounding aside); ``p``
    None if there is none."""
    f0 = sub.objective(w, p, loss)
    dw, db = w_new - w, b_new - b
    dp = sub.predictions(dw, db)
    t = 1.0
    for _ in range(40):
        wt = w + t * dw
        pt = p + t * dp
        if sub.objective(wt, pt, loss) <= f0 + 1e-13 * abs(f0):
            # recompute the predictions: the sum p + t dp drifts over iterations
            return wt, b + t * db, sub.predictions(wt, b + t * db)
        t *= 0.5
    return w, b, None


#: the linear-programming polish accepts a vertex whose duality gap (of
#: :func:`duality_gap`, from the solver's dual values) is at most this
#: relative, when the active-set solve on it does not verify (a vertex of a
#: non-unique optimum)
POLISH_LP_GAP = 1e-9


def _linear_program(sub, f_start):
    """The optimum of a piecewise-linear loss with a pure L1 penalty, a
    linear program, by HiGHS (:func:`scipy.optimize.linprog`).

    Variables ``(w+, w-, b, xi)`` with ``w = w+ - w-``, ``w+, w- >= 0`` and
    ``xi_i`` the loss of sample ``i``: ``min l1 sum(w+ + w-) + sum_i s_i
    xi_i`` with ``xi_i >= t - y_i p_i`` (hinge, perceptron: ``t`` the
    threshold), or ``xi_i >= |y_i - p_i| - epsilon`` (epsilon-insensitive),
    and ``xi >= 0``.  The solver's dual values give ``u``; the point is then
    refined by the exact solve on its active sets (:func:`_exact`, verified
    to ``POLISH_RTOL``); a vertex that it does not verify is kept when its
    duality gap is at most ``POLISH_LP_GAP`` times ``F``.
    """
    from scipy.optimize import linprog

    X, y, s = sub.X, sub.y, sub.s
    n, d = X.shape
    l1 = sub.penalty.l1_strength
    Xs = sp.csr_matrix(X, dtype=np.float64)
    ones = sp.csr_matrix(np.ones((n, 1)))
    eye = sp.identity(n, format="csr")
    # the columns of p = X (w+ - w-) + b
    P = sp.hstack([Xs, -Xs] + ([ones] if sub.fit_intercept else []), format="csr")
    n_theta = P.shape[1]
    if sub.loss.name == "epsilon_insensitive":
        e = sub.loss.epsilon
        # p - xi <= y + e and -p - xi <= e - y
        A = sp.vstack([sp.hstack([P, -eye]), sp.hstack([-P, -eye])], format="csr")
        rhs = np.concatenate([y + e, e - y])
        signs = np.concatenate([np.ones(n), -np.ones(n)])
    else:
        # -y p - xi <= -t
        A = sp.hstack([sp.diags(-y) @ P, -eye], format="csr")
        rhs = np.full(n, -sub.loss.threshold)
        signs = -y
    cost = np.concatenate([np.full(2 * d, l1), np.zeros(n_theta - 2 * d), s])
    bounds = ([(0, None)] * (2 * d) + [(None, None)] * (n_theta - 2 * d)
              + [(0, None)] * n)
    res = linprog(cost, A_ub=A, b_ub=rhs, bounds=bounds, method="highs")
    if res.status != 0:
        return None
    z = res.x
    w = z[:d] - z[d:2 * d]
    b = float(z[2 * d]) if sub.fit_intercept else 0.0
    # dual values lam >= 0 of the rows: s_i u_i = sum of lam * (the row's
    # coefficient of p_i)
    lam = -res.ineqlin.marginals
    su = (signs * lam).reshape(-1, n).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(s > 0, su / s, 0.0)
    p = sub.predictions(w, b)
    found, _ = _exact(sub, w, b, p, u)
    if found is not None:
        return found
    f = sub.objective(w, p)
    bound = duality_gap(sub.loss, y, s, u, f, sub.penalty, sub.fit_intercept,
                        sub.rmatvec)
    if bound is not None and bound[0] <= POLISH_LP_GAP * abs(f):
        return w, b, p
    return None


# ----------------------------------------------------------------------
# squared error and Huber with an L1 part: a lasso, solved by its homotopy
#: breakpoints that the homotopy of :func:`_lasso_path` may pass (each a
#: factorisation on the active set) before it gives up
POLISH_MAX_BREAKPOINTS = 1000

#: the homotopy treats breakpoints this close (relative) as one (ties, such
#: as the slack variables of repeated rows)
PATH_TIE = 1e-10


def _quadratic_program(sub):
    """The optimum of the squared error or Huber loss with an L1 part,
    or None (another loss, no L1 part, too large, or a singular system).

    Both are a lasso ``min sum_i s_i (y_i - a_i theta)^2 / 2 + l2 / 2
    ||w||^2 + sum_j lam_j |theta_j|`` in ``theta = (w, b)``, with ``a_i =
    (x_i, 1)``, ``lam = (l1, ..., l1, 0)``.  The Huber loss of width
    ``epsilon`` is the Moreau envelope of ``epsilon |.|``, ``huber(r) =
    min_z (r - z)^2 / 2 + epsilon |z|``, so with a slack ``z_i`` per sample
    (``theta = (w, z, b)``, ``a_i = (x_i, e_i, 1)``, ``lam_i = s_i
    epsilon`` for ``z_i``) it is a lasso as well.  The lasso's homotopy
    (:func:`_lasso_path`) ends at its exact optimum in finitely many
    linear solves, needing no start and no full rank of the data (the
    optimum of 15 rows and 30 columns has at most 15 nonzero coefficients,
    and the path's active sets stay that small), only non-singular systems
    on those active sets (data in general position).  The result is
    returned if its optimality conditions hold to ``POLISH_RTOL``.
    """
    loss, pen = sub.loss, sub.penalty
    if loss.name not in ("squared_error", "huber") or pen.l1_strength == 0.0:
        return None
    n, d = sub.X.shape
    width = d + int(sub.fit_intercept) + (n if loss.name == "huber" else 0)
    if n * width ** 2 > POLISH_MAX_FLOPS:
        return None  # (before the columns are made dense)
    A = sub.columns(np.arange(d))  # (X, 1)
    lam = np.full(A.shape[1], pen.l1_strength)
    lam[d:] = 0.0
    if loss.name == "huber":
        A = np.hstack([A[:, :d], np.eye(n), A[:, d:]])
        lam = np.concatenate([lam[:d], sub.s * loss.epsilon, lam[d:]])
    H = A.T @ (sub.s[:, None] * A)
    H[np.arange(d), np.arange(d)] += pen.l2_strength
    theta = _lasso_path(H, A.T @ (sub.s * sub.y), lam)
    if theta is None:
        return None
    w = theta[:d].copy()
    b = float(theta[-1]) if sub.fit_intercept else 0.0
    p = sub.predictions(w, b)
    if sub.residual(w, b, p, loss.dloss(sub.y, p), smooth=True) > POLISH_RTOL:
        return None
    return w, b, p


def _lasso_path(H, c, lam):
    """The minimiser of ``theta' H theta / 2 - c' theta + sum_j lam_j
    |theta_j|`` (``H`` positive semi-definite, ``lam >= 0``) by homotopy,
    or None if it meets a singular system or too many breakpoints.

    Along ``t lam`` from ``t = inf`` (only the coordinates with ``lam_j =
    0`` nonzero) down to ``t = 1`` the minimiser is piecewise linear in
    ``t``: on an active set ``S`` with signs ``sigma``, ``theta_S(t) =
    H_SS^-1 (c_S - t lam_S sigma_S)``.  A breakpoint is where an active
    coordinate reaches 0 (it leaves ``S``) or an inactive one's ``|c_j -
    H_j theta|`` reaches ``t lam_j`` (it enters with that sign).  The
    minimiser is unique when the last ``H_SS`` is non-singular, which is
    required.
    """
    q = len(c)
    active = lam == 0
    sign = np.zeros(q)
    t = np.inf
    for _ in range(POLISH_MAX_BREAKPOINTS):
        S = np.flatnonzero(active)
        pieces = _path_piece(H, c, lam, S, sign)
        if pieces is None:
            return None
        a, e = pieces  # theta_S(t) = a - t e
        # the inactive coordinates' c_j - H_j theta(t) = g0 + t g1
        g0, g1 = c - H[:, S] @ a, H[:, S] @ e
        t_next, enter, leave = _next_breakpoint(t, lam, sign, active, S, a, e,
                                                    g0, g1)
        if t_next <= 1.0:
            theta = np.zeros(q)
            theta[S] = a - e
            return theta
        for j, sj in enter:
            active[j], sign[j] = True, sj
        active[leave], sign[leave] = False, 0.0
        t = t_next
    return None


def _path_piece(H, c, lam, S, sign):
    """``(a, e)`` with ``H_SS a = c_S`` and ``H_SS e = lam_S sign_S``, or
    None if ``H_SS`` is singular."""
    if not len(S):
        return np.zeros(0), np.zeros(0)
    U, sv, Vt = _svd(H[np.ix_(S, S)])
    if sv[-1] <= sv[0] * len(sv) * np.finfo(np.float64).eps:
        return None
    rhs = np.stack([c[S], lam[S] * sign[S]], axis=1)
    sol = Vt.T @ ((U.T @ rhs) / sv[:, None])
    return sol[:, 0], sol[:, 1]


def _next_breakpoint(t, lam, sign, active, S, a, e, g0, g1):
    """The largest breakpoint at or below ``t`` of the piece ``theta_S = a
    - t e`` (0 if none): ``(t_next, enter, leave)`` with ``enter`` the
    pairs ``(j, sign)`` of the coordinates that enter there and ``leave``
    the ones that leave (ties within ``PATH_TIE`` together).

    Only crossings in the direction the piece moves count: an inactive
    ``|c_j - H_j theta|`` growing past ``t lam_j``, an active coordinate
    shrinking to 0.  So the coordinate that has just entered or left, at
    its boundary up to rounding, does not turn back at once; one that the
    rounding left a little across its boundary changes at ``t``.
    """
    times, who, signs = [], [], []
    out = np.flatnonzero(~active)
    for sj in (1.0, -1.0):
        # sj (g0 + t g1) - t lam_j grows through 0 as t decreases
        slope = lam[out] - sj * g1[out]
        ok = slope > 0
        tj = sj * g0[out][ok] / slope[ok]
        keep = tj > 0
        times.append(np.minimum(tj[keep], t))
        who.append(out[ok][keep])
        signs.append(np.full(keep.sum(), sj))
    # theta_j = a_j - t e_j, of sign sign_j, shrinks: sign_j e_j < 0
    shrink = np.flatnonzero((lam[S] > 0) & (sign[S] * e < 0))
    tj = a[shrink] / e[shrink]
    keep = tj > 0
    times.append(np.minimum(tj[keep], t))
    who.append(S[shrink][keep])
    signs.append(np.zeros(keep.sum()))
    times, who, signs = map(np.concatenate, (times, who, signs))
    if not len(times):
        return 0.0, [], np.zeros(0, dtype=int)
    t_next = times.max()
    tied = times >= t_next * (1.0 - PATH_TIE)
    enter = [(j, sj) for j, sj in zip(who[tied], signs[tied]) if sj != 0.0]
    leave = who[tied][signs[tied] == 0.0]
    return t_next, enter, leave
