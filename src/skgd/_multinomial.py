"""Multinomial (softmax) logistic regression: the K rows of a model fitted together.

``GDClassifier(multi_class="multinomial")`` with ``K > 2`` classes minimises

    F(W, b) = sum_i s_i L(y_i, W x_i + b) / sum_i s_i + alpha R(W),
    L(y, z) = log sum_c exp(z_c) - z_y,

over a ``K x n_features`` weight matrix ``W`` and ``K`` intercepts ``b``,
with the penalty ``R`` of the binary problems summed over the entries of
``W``.  One problem covers the ``K`` rows (one-vs-rest fits ``K``); its
runners follow the protocol of :mod:`skgd._modes`:

* :class:`SoftmaxRunner` (``sgd`` and ``minibatch``): the binary
  :class:`skgd._modes.StochasticRunner` with the state and the compiled pass
  of :mod:`skgd._softmax_fast` (step sizes, caps and stopping rules are the
  binary ones, the loss's smoothness being 1/2);
* :class:`SoftmaxBatchRunner` (``batch``): L-BFGS on ``(W, b)`` with a
  strong-Wolfe line search without an L1 part, FISTA with backtracking with
  one (and for ``partial_fit``); the stopping rule of binary batch mode.

Binary problems (``K = 2``) keep one row and the binary log loss, as
scikit-learn's ``LogisticRegression`` does.
"""

import numpy as np
from scipy.special import xlogy

from ._batch import penalty_conjugate
from ._modes import (
    BatchRunner,
    ConvergedRule,
    EpochResult,
    Problem,
    StochasticRunner,
    at_rounding,
    check_gradient,
    check_row_squares,
    gap_certifies,
    lbfgs_direction,
    lbfgs_first_step,
    lbfgs_remember,
    lipschitz_constant,
    normalised_weights,
    scaled_cholesky_solve,
    stalled,
    training_weights,
    weighted_gram,
    wolfe_line_search,
)
from ._penalties import dot
from ._softmax_fast import SoftmaxState, run_softmax_epoch


def softmax_hessian(X, s, Z, fit_intercept):
    """The Hessian of ``sum_i s_i L(y_i, Z_i)`` in ``(w_1, b_1, ..., w_K,
    b_K)`` (class by class; no ``b_k`` without intercept), ``Z = X W' + b``:
    block ``(k, l)`` is ``A' diag(s (P_k delta_kl - P_k P_l)) A``, ``A`` the
    rows with a column of ones, ``P`` the probabilities
    (:func:`skgd._modes.weighted_gram`, on non-negative weights: the
    blocks off the diagonal negated)."""
    K = Z.shape[1]
    e = X.shape[1] + (1 if fit_intercept else 0)
    P = softmax(Z)
    H = np.empty((K * e, K * e))
    for k in range(K):
        for m in range(k, K):
            if k == m:
                block = weighted_gram(X, s * P[:, k] * (1.0 - P[:, k]), fit_intercept)
            else:
                block = -weighted_gram(X, s * P[:, k] * P[:, m], fit_intercept)
            H[k * e:(k + 1) * e, m * e:(m + 1) * e] = block
            H[m * e:(m + 1) * e, k * e:(k + 1) * e] = block.T
    return H


def softmax(Z):
    """Row-wise softmax of the scores ``Z`` (stable: shifted by the row max)."""
    Z = np.asarray(Z, dtype=np.float64)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


class SoftmaxLoss:
    """``L(y, z) = log sum_c exp(z_c) - z_y`` of a row's ``K`` scores ``z``.

    ``y`` holds class indices (``0 .. K - 1``).  Its Hessian in ``z``,
    ``diag(p) - p p'``, has eigenvalues at most 1/2: the smoothness the
    step policies of the binary losses read.
    """

    name = "log_loss"
    classification = True
    smoothness = 0.5
    scale_free = False

    def loss(self, y, Z):
        """Per-row loss (log-sum-exp, stable)."""
        Z = np.asarray(Z, dtype=np.float64)
        top = Z.max(axis=1)
        lse = np.log(np.exp(Z - top[:, None]).sum(axis=1)) + top
        return lse - Z[np.arange(len(Z)), np.asarray(y, dtype=np.intp)]

    def gradient(self, y, Z):
        """``dL / dz``: ``softmax(z) - e_y`` per row."""
        P = softmax(Z)
        P[np.arange(len(P)), np.asarray(y, dtype=np.intp)] -= 1.0
        return P

    def value_and_gradient(self, y, Z, s):
        """``(sum_i s_i L_i, s_i dL_i / dz)`` (rows of weight 0 included)."""
        R = self.gradient(y, Z)
        R *= s[:, None]
        return float(dot(s, self.loss(y, Z))), R

    def __repr__(self):
        return "SoftmaxLoss()"


def one_hot(labels, K):
    """``(n, K)`` indicators of the class indices ``labels``."""
    Y = np.zeros((len(labels), K))
    Y[np.arange(len(labels)), labels] = 1.0
    return Y


# the dual point of the multinomial duality gap (SoftmaxBatchRunner.duality_gap),
# in three row-wise steps that the dask runner takes per block
def dual_shares(P, Y, s):
    """``(c, f)``: ``c = sum_i s_i (P_i - Y_i)``, the intercept's gradient,
    and ``f = sum_i s_i Y_i``, the class shares."""
    f = s @ Y
    return s @ P - f, f


def dual_mixing(P, s, c, f):
    """The least ``a`` in [0, 1] for which ``V_i = (1 - a) (P_i - c) + a f``
    is non-negative on the rows of positive weight (0 at the optimum,
    where ``c = 0``)."""
    shifted = P[s > 0] - c
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(shifted < 0, -shifted / (f - shifted), 0.0)
    return float(np.clip(need.max(initial=0.0), 0.0, 1.0))


def dual_point(P, Y, s, c, f, a):
    """The rows ``V_i`` of a dual point: ``P`` without an intercept (``c`` None);
    with one, ``(1 - a) (P_i - c) + a f``, whose ``sum_i s_i (V_i - Y_i)``
    is 0 (each row in the simplex; rows of weight 0 take ``Y_i``)."""
    if c is None:
        return P
    V = (1.0 - a) * (P - c) + a * f
    V[s <= 0] = Y[s <= 0]
    return np.maximum(V, 0.0)


def class_scores(data, W, b):
    """``X W' + b`` (``n_samples x K``, float64) for a :class:`Data`: the
    data's products of a K-output model (one per class, in the data's own
    precision, no copy of ``X``)."""
    return data.matvec(np.asarray(W, dtype=np.float64).T, b)


def class_gradients(data, R):
    """``R' X`` (``K x n_features``), by the data's K-output products."""
    return data.rmatvec(R).T


class SoftmaxProblem(Problem):
    """One multinomial fit: ``y`` holds the class index of each row."""

    def __init__(self, data, y, sample_weight, penalty, fit_intercept, train,
                 n_classes):
        self.data = data
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.labels = self.y.astype(np.intp)
        self.sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        self.loss = SoftmaxLoss()
        self.cy_loss = None
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.train = np.ascontiguousarray(train, dtype=np.intp)
        self.n_outputs = int(n_classes)

    @property
    def n_coords(self):
        return (self.data.n_features + 1) * self.n_outputs

    def on_columns(self):
        """The same problem over the stored columns of its CSR data
        (:meth:`skgd._modes.Data.on_columns`)."""
        return SoftmaxProblem(self.data.on_columns(), self.y, self.sample_weight,
                              self.penalty, self.fit_intercept, self.train,
                              self.n_outputs)

    def runner_types(self):
        return SoftmaxRunner, SoftmaxBatchRunner

    def objective(self, W, b):
        """``F(W, b)`` on the training rows (no product at ``W = 0``)."""
        weights = training_weights(self)
        if weights is None:
            return 0.0
        tr, s = weights
        if not np.any(W):
            # where a fit starts: every row's scores are b, so the loss of a
            # row is that of its class, computed on a K x K array of b's
            # rows (the same numbers as on the n x K scores, without their
            # product: 0.27 s of a one-epoch fit of 200,000 x 262,144 text);
            # the penalty of a zero matrix is that of one zero
            K = self.n_outputs
            b = np.broadcast_to(np.asarray(b, dtype=np.float64), (K,))
            per_class = self.loss.loss(np.arange(K), np.tile(b, (K, 1)))
            loss = dot(s, per_class[self.labels[tr]])
            return float(loss + self.penalty.value(np.zeros(1)))
        Z = class_scores(self.data, W, b)[tr]
        loss = dot(s, self.loss.loss(self.labels[tr], Z))
        return float(loss + self.penalty.value(np.ravel(W)))


class SoftmaxRunner(StochasticRunner):
    """sgd and minibatch modes on a multinomial problem (see the module)."""

    _kernel = staticmethod(run_softmax_epoch)
    _threaded = False

    def _new_state(self, coef, intercept, t, average_start, avg_coef,
                   avg_intercept, n_averaged):
        pb = self.problem
        pen = pb.penalty
        return SoftmaxState(
            coef, intercept, int(pen.kind), pen.alpha, pen.l1_ratio,
            bool(pb.fit_intercept), int(t), int(average_start), avg_coef,
            avg_intercept, int(n_averaged),
        )

    def objective(self):
        return self.problem.objective(self.coef(), self.intercept())

    def intercept(self):
        return self.state.intercept_vector()

    def average(self):
        return self.state.average_coef(), self.state.average_intercepts()


class SoftmaxBatchRunner:
    """Full-gradient descent on a multinomial problem.

    The parameters ``theta = (W, b)`` are one vector of ``K (n_features + 1)``
    numbers.  Without an L1 part: L-BFGS directions (memory ``MEMORY``) with
    a strong-Wolfe line search, whose trial steps cost O(n K) (the scores
    along the direction are computed once).  With one, or for
    ``partial_fit`` (one step per chunk): proximal gradient steps ``1 / L_k``
    with backtracking, accelerated with adaptive restart (FISTA) in a full
    fit.  ``L`` starts at the softmax's smoothness (1/2) times the top
    eigenvalue of the weighted Gram matrix, plus the L2 strength.  Stopping:
    :func:`skgd._modes.stalled`, as binary batch mode on a smooth loss.

    The reductions over the rows (weights, loss, gradients, line-search
    values, the power iteration) are methods of their own, which
    :class:`skgd._dask.DaskSoftmaxBatchRunner` computes block by block.
    """

    HISTORY = 64
    MEMORY = 10
    # Newton steps on ill-conditioned problems: binary batch mode's rule
    # (:meth:`skgd._modes.BatchRunner._newton_due`), with this runner's
    # own price of a Hessian (:meth:`_hessian_cost`)
    NEWTON_COLUMNS = BatchRunner.NEWTON_COLUMNS
    NEWTON_PATIENCE = BatchRunner.NEWTON_PATIENCE
    HESSIAN_COST = BatchRunner.HESSIAN_COST
    _newton_due = BatchRunner._newton_due

    def __init__(self, problem, coef, intercept, schedule, t, accelerate=True,
                 average_start=0, avg_coef=None, avg_intercept=None,
                 n_averaged=0, L=None, mu=None):
        pb = self.problem = problem
        self.K, self.d = pb.n_outputs, pb.data.n_features
        self.schedule = schedule
        self.t_ = int(t)
        self.s = self._normalised_weights()
        check_row_squares(pb.data)
        self.theta = np.concatenate([np.asarray(coef, dtype=np.float64).ravel(),
                                     np.asarray(intercept, dtype=np.float64).ravel()])
        if not pb.fit_intercept:
            self.theta[self.K * self.d:] = 0.0
        self.average_start = int(average_start)
        self.n_averaged = int(n_averaged)
        size = self.K * (self.d + 1)
        self.avg = np.zeros(size)
        if avg_coef is not None:
            self.avg = np.concatenate([np.ravel(avg_coef), np.ravel(avg_intercept)])
        self.accelerate = accelerate
        self.quasi_newton = accelerate and pb.penalty.l1_strength == 0.0
        self._L = None if L is None else max(float(L), 1e-12)
        self.Z = self._scores(self.theta)
        self.obj, self.g = self._value(self.theta, self.Z), None
        self.memory, self.failed_searches = [], 0
        self.prev, self.Z_prev, self.theta_k, self.beta = self.theta, self.Z, 1.0, 0.0
        self.history = [(self.obj, self.theta, 0.0)]
        # the last iteration whose duality gap was computed (_certified)
        self._certify_at = -np.inf
        # Newton directions once L-BFGS has cost a few Hessians (_newton_due)
        self._t_start, self._newton_ratio = self.t_, None

    # ------------------------------------------------------------------
    def _split(self, theta):
        Kd = self.K * self.d
        return theta[:Kd].reshape(self.K, self.d), theta[Kd:]

    def _scores(self, theta):
        W, b = self._split(theta)
        return class_scores(self.problem.data, W, b)

    def _value(self, theta, Z):
        pb = self.problem
        return float(self._loss_sum(Z) + pb.penalty.value(theta[:self.K * self.d]))

    def _gradient(self, theta, Z):
        """``(F, grad F)`` at ``theta`` (the L1 part left out of the gradient)."""
        return self._gradient_from(theta, *self._loss_gradients(Z))

    def _gradient_from(self, theta, loss, GW, gb):
        """:meth:`_gradient` from the loss and its gradients at the scores."""
        pb = self.problem
        W, _ = self._split(theta)
        gW = GW + pb.penalty.gradient_smooth(W)
        if not pb.fit_intercept:
            gb = np.zeros(self.K)
        obj = float(loss + pb.penalty.value(theta[:self.K * self.d]))
        return obj, np.concatenate([gW.ravel(), gb])

    # the reductions over the rows (the dask runner computes them per block:
    # skgd._dask.DaskSoftmaxBatchRunner)
    def _normalised_weights(self):
        return normalised_weights(self.problem)

    def _gram_top_eigenvalue(self):
        """Largest eigenvalue of the weighted Gram matrix (power iteration)."""
        return lipschitz_constant(self.problem)

    def _loss_sum(self, Z):
        """``sum_i s_i L(y_i, Z_i)`` (``s`` the normalised weights)."""
        pb = self.problem
        return dot(self.s, pb.loss.loss(pb.labels, Z))

    def _loss_gradients(self, Z):
        """``(sum_i s_i L_i, R' X, sum_i R_i)`` with ``R = s dL / dZ``: the
        loss and its gradients in ``W`` (``K x n_features``) and ``b``."""
        pb = self.problem
        return self._residual_gradients(
            *pb.loss.value_and_gradient(pb.labels, Z, self.s))

    def _residual_gradients(self, loss, R):
        """``(loss, R' X, sum_i R_i)`` from ``R = s dL / dZ``."""
        return loss, class_gradients(self.problem.data, R), R.sum(axis=0)

    def _line_values(self, Z, Zd):
        """``(sum_i s_i L(y_i, Z_i), sum_i s_i dL(y_i, Z_i) . Zd_i)``: the
        loss and its slope along the scores ``Zd`` of a direction."""
        pb = self.problem
        loss, R = pb.loss.value_and_gradient(pb.labels, Z, self.s)
        # kept: at an accepted trial, the gradient's (see _lbfgs_step)
        self._line_residuals = (loss, R)
        return loss, float(np.einsum("ij,ij->", R, Zd))

    def _scores_along(self, Zd, a):
        """The scores at the accepted point of a line search, ``Z + a Zd``."""
        return self.Z + a * Zd

    @property
    def L(self):
        """The step estimate of the proximal steps (power iteration once)."""
        if self._L is None:
            lam = self._gram_top_eigenvalue()
            self._L = max(self.problem.loss.smoothness * lam * 1.02
                          + self.problem.penalty.l2_strength, 1e-12)
        return self._L

    # ------------------------------------------------------------------
    def epoch(self):
        """One iteration (an :class:`EpochResult` with the objective)."""
        if self.quasi_newton:
            self.theta, self.Z = self._lbfgs_step()
        else:
            self.theta, self.Z = self._proximal_step()
        if 0 < self.average_start <= self.t_:
            self.n_averaged += 1
            self.avg += (self.theta - self.avg) / self.n_averaged
        self.t_ += 1
        self.history.append((self.obj, self.theta, 0.0))
        if len(self.history) > self.HISTORY:
            self.history.pop(0)
        return EpochResult(self.obj)

    def _lbfgs_step(self):
        pb = self.problem
        Kd = self.K * self.d
        if self.g is None:
            self.obj, self.g = self._gradient(self.theta, self.Z)
            check_gradient(self.g)
        g = self.g
        if self.failed_searches >= 2:
            return self.theta, self.Z
        direction = self._newton_direction(g) if self._newton_due() else None
        newton = direction is not None
        if not newton:
            direction = lbfgs_direction(self.memory, g)
        if not dot(g, direction) < 0:
            self.memory = []
            newton = False
            direction = lbfgs_direction(self.memory, g)
        if not pb.fit_intercept:
            direction[Kd:] = 0.0
        Zd = self._scores(direction)
        l2 = pb.penalty.l2_strength
        w, dw = self.theta[:Kd], direction[:Kd]
        ww, wd, dd = dot(w, w), dot(w, dw), dot(dw, dw)
        # the loss's derivatives at the last trial (set by _line_values in
        # memory): at the accepted step, the gradient's
        self._line_residuals = None
        last = [None]

        def phi(a):
            last[0] = a
            loss, slope = self._line_values(self.Z + a * Zd, Zd)
            return (loss + 0.5 * l2 * (ww + 2.0 * a * wd + a * a * dd),
                    slope + l2 * (wd + a * dd))

        f0, d0 = self.obj, dot(g, direction)
        a = 0.0
        if d0 < -1e-15 * abs(f0):
            a1 = 1.0 if newton else lbfgs_first_step(self.memory, f0, d0)
            a = wolfe_line_search(phi, f0, d0, a1=a1)
        if a == 0.0:
            self.failed_searches += 1
            if at_rounding(newton or self.memory, f0, d0):
                self.failed_searches = 2
            self.memory = []
            return self.theta, self.Z
        self.failed_searches = 0
        theta = self.theta + a * direction
        Z = self._scores_along(Zd, a)
        if last[0] == a and self._line_residuals is not None:
            # the last trial is the step (its scores are Z + a Zd, as Z)
            self.obj, g_new = self._gradient_from(
                theta, *self._residual_gradients(*self._line_residuals))
        else:
            self.obj, g_new = self._gradient(theta, Z)
        lbfgs_remember(self.memory, a * direction, g_new - g, self.MEMORY)
        self.g = g_new
        return theta, Z

    def _hessian_cost(self):
        """A Hessian's cost in L-BFGS iterations: ``K (K + 1) / 2`` weighted
        Gram matrices of ``n (d + 1)^2 / 2`` multiply-adds, against the
        ``2 n d K`` values of an iteration's products (inf where Newton
        directions are not taken: more than ``NEWTON_COLUMNS`` parameters;
        unscaled wine and digits took 1,000 iterations and warned)."""
        if self.K * (self.d + 1) > self.NEWTON_COLUMNS:
            return np.inf
        return max(self.HESSIAN_COST * (self.K + 1) * (self.d + 1) / 8.0, 1.0)

    def _newton_direction(self, g):
        """``-H^+ g`` for the Hessian of the objective at the iterate: block
        ``(k, l)`` of the loss's part is ``A' S (P_k delta_kl - P_k P_l) A``
        (``A`` the rows, with ones for the intercepts; ``P`` the
        probabilities), plus the L2 strength on the weights.  The loss does
        not change when the same number is added to every intercept: along
        that direction, to which ``g`` is orthogonal, curvature is added so
        that Cholesky's factor exists (the step is the minimum-norm one).
        Solved as :meth:`skgd._modes.BatchRunner._newton_direction`; None
        where it has no factor."""
        pb = self.problem
        K, d = self.K, self.d
        fit_b = pb.fit_intercept
        e = d + 1 if fit_b else d
        H = self._loss_hessian()
        weights = (np.arange(K)[:, None] * e + np.arange(d)).ravel()
        H[weights, weights] += pb.penalty.l2_strength
        # class by class: (w_k, b_k); theta holds W, then b
        order = np.arange(K * d).reshape(K, d)
        if fit_b:
            order = np.hstack([order, K * d + np.arange(K)[:, None]])
            b_rows = np.arange(K) * e + d
            H[np.ix_(b_rows, b_rows)] += np.mean(np.diag(H)[b_rows]) / K
        order = order.ravel()
        step = scaled_cholesky_solve(H, -g[order])
        if step is None:
            return None
        direction = np.zeros(len(g))
        direction[order] = step
        return direction

    def _loss_hessian(self):
        """The loss's Hessian at the scores ``Z`` (:func:`softmax_hessian`;
        the dask runner sums its blocks')."""
        pb = self.problem
        return softmax_hessian(pb.data.X, self.s, self.Z, pb.fit_intercept)

    def _proximal_step(self):
        pb = self.problem
        Kd = self.K * self.d
        if self.accelerate and self.beta > 0:
            z = self.theta + self.beta * (self.theta - self.prev)
            Zz = self.Z + self.beta * (self.Z - self.Z_prev)
        else:
            z, Zz = self.theta, self.Z
        obj_z, g = self._gradient(z, Zz)
        smooth_z = obj_z - pb.penalty.l1_strength * np.abs(z[:Kd]).sum()
        rtol = 1e-12 if pb.data.dtype == np.float64 else 1e-5
        self._L = self.L * 0.9
        for _ in range(60):
            eta = 1.0 / self._L
            new = z - eta * g
            new[:Kd] = pb.penalty.prox_l1(new[:Kd], eta)
            if not pb.fit_intercept:
                new[Kd:] = 0.0
            Z_new = self._scores(new)
            obj_new = self._value(new, Z_new)
            step = new - z
            quad = (smooth_z + dot(g, step) + 0.5 * self._L * dot(step, step)
                    + pb.penalty.l1_strength * np.abs(new[:Kd]).sum())
            if np.isfinite(obj_new) and obj_new <= quad + rtol * abs(quad):
                break
            self._L *= 2.0
        if self.accelerate:
            if dot(z - new, new - self.theta) > 0:  # adaptive restart
                self.theta_k = 1.0
            theta_new = (1.0 + np.sqrt(1.0 + 4.0 * self.theta_k ** 2)) / 2.0
            self.beta = (self.theta_k - 1.0) / theta_new
            self.theta_k = theta_new
        self.prev, self.Z_prev = self.theta, self.Z
        self.obj = obj_new
        return new, Z_new

    # ------------------------------------------------------------------
    # the runner protocol
    n_calls = 0

    @property
    def t(self):
        return self.t_

    def converged(self, tol, n_iter_no_change):
        """Stalled (:func:`skgd._modes.stalled`) and, with a penalty, a
        duality gap at most ``tol / 10`` times the objective
        (:meth:`duality_gap`, :func:`skgd._modes.gap_certifies`): on badly
        scaled data the iterations stall far from the optimum (the unscaled
        wine data: 5.7 times F* after 253 iterations) and go on then."""
        if tol is None or not stalled(self.history, tol, n_iter_no_change):
            return False
        return gap_certifies(self, self.duality_gap, tol, n_iter_no_change)

    def duality_gap(self):
        """An upper bound of ``F - F*`` at the current iterate, or None (no
        penalty).

        The Fenchel dual of ``F = sum_i s_i L(y_i, z_i) + R(W)`` at the
        dual point ``U = V - Y`` (``V`` per row in the simplex, ``Y`` the
        one-hot labels) is ``D = -sum_i s_i sum_k V_ik log V_ik -
        R*(-X' S U)``.  ``V`` starts as the softmax probabilities ``P``;
        with an intercept it must satisfy ``sum_i s_i U_i = 0``
        (:func:`dual_point`).  Without an L2 part, ``U`` is scaled down
        until ``||X' S U||_inf <= l1`` (``V`` stays in the simplex).
        """
        pb = self.problem
        l1, l2 = pb.penalty.l1_strength, pb.penalty.l2_strength
        if l1 == 0.0 and l2 == 0.0:
            return None
        s, labels = self.s, np.asarray(pb.labels, dtype=np.intp)
        P, Y = softmax(self.Z), one_hot(labels, self.K)
        c = f = a = None
        if pb.fit_intercept:
            c, f = dual_shares(P, Y, s)
            a = dual_mixing(P, s, c, f)
        U = dual_point(P, Y, s, c, f, a) - Y
        GW = class_gradients(pb.data, s[:, None] * U)
        r_conj, t = penalty_conjugate(GW.ravel(), l1, l2)
        V = t * U + Y
        l_conj = float(s @ xlogy(V, V).sum(axis=1))
        return max(self.obj + l_conj + r_conj, 0.0)

    def stopping_rule(self, tol, n_iter_no_change, schedule, start_scale, uncapped):
        return ConvergedRule(self, tol, n_iter_no_change)

    def carried_state(self):
        # None if no step was estimated (L-BFGS needs none)
        return {"_curvature": {"batch": (self._L, None, self.n_calls + 1)}}

    def objective(self):
        return self.obj

    def coef(self):
        return self._split(self.theta)[0].copy()

    def intercept(self):
        return self._split(self.theta)[1].copy()

    def average(self):
        W, b = self._split(self.avg)
        return W.copy(), b.copy()

    def is_finite(self):
        return bool(np.all(np.isfinite(self.theta)))


def softmax_accuracy(coef, intercept, data, y, problem_weight, mask, *,
                     sample_weight):
    """Accuracy of the multinomial model on the held-out rows ``mask``,
    weighted by the sample weights alone (not the class weights)."""
    Z = class_scores(data, coef, intercept)[mask]
    hit = np.argmax(Z, axis=1) == np.asarray(y[mask], dtype=np.intp)
    s = sample_weight[mask]
    return float(np.dot(s, hit) / s.sum())
