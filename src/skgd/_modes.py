"""How the three modes walk the data.

A *problem* is one binary (or regression) fit: data, targets, weights, loss,
penalty.  A *runner* owns the weights of one problem and advances them by one
epoch per call of :meth:`epoch`, returning the epoch's objective.  The
estimator's epoch loop (``_base.py``) drives runners and never sees rows.

* :class:`StochasticRunner` (``sgd`` and ``minibatch``): one compiled call of
  :func:`skgd._gd_fast.run_epoch` per epoch, with an ordering and the step
  sizes of the epoch drawn beforehand.
* :class:`BatchRunner` (``batch``): one full-gradient step per epoch, two
  matrix products per step.  Smooth losses use the step ``1 / L_k``, from
  the Lipschitz constant of the gradient (power iteration) adapted by
  backtracking, with Nesterov acceleration and adaptive restart (FISTA);
  non-smooth losses take
  proximal subgradient steps along the schedule.
"""

import numpy as np
import scipy.sparse as sp

from ._gd_fast import RowIndex, StepRule, WeightState, run_epoch, shuffle
from ._penalties import dot


class Data:
    """A data set seen through the row view of the compiled passes.

    ``X`` must be a C-ordered float32/float64 array or a CSR matrix with
    sorted or unsorted indices; nothing is copied except CSR index arrays
    of another integer width.
    """

    def __init__(self, X):
        self.X = X
        self._XT = None
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        if sp.issparse(X):
            if self.n_features > np.iinfo(np.int32).max:
                raise ValueError(
                    f"X has {self.n_features} columns; skgd's sparse rows index "
                    "columns with 32-bit integers (at most 2**31 - 1 columns). "
                    "Hash the features into fewer columns."
                )
            self.data = X.data
            # 64-bit column indices (e.g. from load_svmlight_file) are
            # narrowed once per fit: a copy of the indices, not of the data
            indices = np.asarray(X.indices, dtype=np.int32)
            indptr = np.asarray(X.indptr, dtype=np.int64)
            self.rows = RowIndex(indices, indptr, 0)
        else:
            self.data = X.reshape(-1)
            indices = np.arange(self.n_features, dtype=np.int32)
            self.rows = RowIndex(indices, np.zeros(1, dtype=np.int64), self.n_features)
        if self.data.size == 0:
            # the compiled pass takes a pointer to data[0]
            self.data = np.zeros(1, dtype=self.dtype)

    def matvec(self, w, b=0.0):
        """``X @ w + b`` in float64, computed in the data's precision."""
        return matvec(self.X, w, b)

    def rmatvec(self, r):
        """``X.T @ r`` in float64, computed in the data's precision."""
        if self._XT is None:
            # a CSC view of the same arrays, built once (building it costs
            # about as much as the product on small matrices)
            self._XT = self.X.T
        return rmatvec_transposed(self._XT, r)


def matvec(X, w, b=0.0):
    """``X @ w + b`` in float64; the product runs in X's precision (no upcast)."""
    p = X @ w.astype(X.dtype, copy=False)
    return np.asarray(p, dtype=np.float64).ravel() + b


def rmatvec_transposed(XT, r):
    """``XT @ r`` in float64, with ``XT = X.T``, in X's precision (no upcast)."""
    out = XT @ r.astype(XT.dtype, copy=False)
    return np.asarray(out, dtype=np.float64).ravel()


class Problem:
    """One linear fit: data, targets, weights, loss and penalty.

    ``y`` is float64 (in {-1, +1} for classification); ``sample_weight``
    already includes class weights; ``train`` are the row indices used for
    training (the others are held out for early stopping).
    """

    def __init__(self, data, y, sample_weight, loss, penalty, fit_intercept, train):
        self.data = data
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        self.loss = loss
        self.cy_loss = loss.compiled()
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.train = np.ascontiguousarray(train, dtype=np.intp)


class StochasticRunner:
    """Per-row (``batch_size=1``) or minibatch gradient descent."""

    def __init__(self, problem, coef, intercept, schedule, batch_size, t, rng,
                 shuffle, average_start=0, avg_coef=None, avg_intercept=0.0,
                 n_averaged=0, step_rule="gradient", pa_c=0.0):
        self.problem = problem
        pen = problem.penalty
        self.state = WeightState(
            coef, float(intercept), int(pen.kind), pen.alpha, pen.l1_ratio,
            bool(problem.fit_intercept), int(t), int(average_start), avg_coef,
            float(avg_intercept), int(n_averaged),
        )
        if step_rule != "gradient":
            self.state.step_rule = int(
                StepRule.STEP_PA1 if step_rule == "pa1" else StepRule.STEP_PA2
            )
            self.state.pa_c = pa_c
            self.state.margin_loss = problem.loss.name in ("hinge", "perceptron")
        self.schedule = schedule
        self.order = problem.train.copy()
        self.batch_size = int(batch_size)
        self.rng = rng
        self.shuffle = shuffle

    @property
    def t(self):
        return self.state.t

    def epoch(self):
        """One pass over the training rows; returns the running objective.

        The running objective averages, over the rows of the epoch, the
        weighted loss at the weights before their step plus the penalty,
        as scikit-learn's SGD reports it.
        """
        pb = self.problem
        if self.shuffle:
            # the ordering of this epoch, drawn from the random state
            order = self.order
            shuffle(order, int(self.rng.randint(np.iinfo(np.int64).max)))
        else:
            order = pb.train
        n_updates = -(-len(order) // self.batch_size)
        t = self.state.t + np.arange(n_updates)
        etas = np.ascontiguousarray(self.schedule.etas(t), dtype=np.float64)
        sum_loss, sum_wloss, sum_w, sum_pen, _ = run_epoch(
            self.state, pb.cy_loss, pb.data.data, pb.data.rows, pb.y,
            pb.sample_weight, order, self.batch_size, etas,
        )
        n = max(len(order), 1)
        # scikit-learn's stopping rule looks at the unweighted mean loss
        self.mean_loss = sum_loss / n
        self.stop_value = (sum_loss + sum_pen) / n
        if sum_w > 0:
            return sum_wloss / sum_w + sum_pen / n
        return sum_pen / n

    def coef(self):
        return self.state.coef()

    def intercept(self):
        return self.state.intercept

    def average(self):
        return self.state.average_coef(), self.state.average_intercept()

    @property
    def n_averaged(self):
        return self.state.n_averaged

    def is_finite(self):
        return self.state.is_finite()


def lipschitz_constant(problem, n_iter=20, seed=0):
    """Largest eigenvalue of ``Xt S Xt / sum(s)`` by power iteration.

    ``Xt`` is ``X`` with a column of ones when the intercept is fitted and
    ``S`` the diagonal of sample weights (training rows only).  The estimate
    is a lower bound; the batch runner backs off when a step increases the
    objective.
    """
    data, tr = problem.data, problem.train
    s = np.zeros(data.n_samples)
    s[tr] = problem.sample_weight[tr]
    total = s.sum()
    if total <= 0:
        return 1.0
    s /= total
    d = data.n_features

    def gram_product(v):
        r = s * data.matvec(v[:d], v[d])
        new = np.empty(d + 1)
        new[:d] = data.rmatvec(r)
        new[d] = r.sum() if problem.fit_intercept else 0.0
        return new

    return power_iteration(gram_product, d, problem.fit_intercept, n_iter, seed)


def power_iteration(gram_product, n_features, fit_intercept, n_iter=20, seed=0):
    """Top eigenvalue of the (n_features + 1)-square operator ``gram_product``.

    The last coordinate is the intercept's (kept at 0 without intercept).
    Shared by the in-memory and the dask batch runners, so both find the
    same step.
    """
    v = np.random.RandomState(seed).uniform(0.5, 1.5, n_features + 1)
    if not fit_intercept:
        v[n_features] = 0.0
    lam = 0.0
    for _ in range(n_iter):
        nv = np.sqrt(dot(v, v))
        if nv == 0:
            return 1.0
        v = v / nv
        new = gram_product(v)
        lam = float(dot(v, new))
        v = new
    return max(lam, 1e-12)


class BatchRunner:
    """Full-gradient descent: FISTA for smooth losses, subgradient otherwise."""

    def __init__(self, problem, coef, intercept, schedule, t, accelerate=True,
                 average_start=0, avg_coef=None, avg_intercept=0.0, n_averaged=0):
        self.problem = problem
        # averaging: running mean of the iterates of updates t >= average_start
        self.average_start = int(average_start)
        self.n_averaged = int(n_averaged)
        self.avg_w = (np.zeros(len(coef)) if avg_coef is None
                      else np.array(avg_coef, dtype=np.float64))
        self.avg_b = float(avg_intercept)
        self.schedule = schedule
        self.t_ = int(t)
        self.w = np.array(coef, dtype=np.float64)
        self.b = float(intercept)
        pb = problem
        self.smooth = pb.loss.smoothness is not None
        self.accelerate = accelerate and self.smooth
        self.s = self._normalised_weights()
        self.p = pb.data.matvec(self.w, self.b)
        self.obj = self._objective(self.w, self.p)
        if self.smooth:
            lam = self._gram_top_eigenvalue()
            self.L = pb.loss.smoothness * lam * 1.02 + pb.penalty.l2_strength
            self.L = max(self.L, 1e-12)
        # momentum state: previous iterate and its predictions
        self.w_prev, self.b_prev, self.p_prev = self.w, self.b, self.p
        self.theta = 1.0
        self.beta = 0.0
        self.grad_mapping_norm = np.inf
        # subgradient steps do not decrease the objective monotonically:
        # keep the best iterate
        self.best = (self.obj, self.w, self.b)

    @property
    def t(self):
        return self.t_

    def _normalised_weights(self):
        """``s_i / sum(s)`` on the training rows, 0 on held-out rows."""
        pb = self.problem
        tr = pb.train
        s = np.zeros(pb.data.n_samples)
        total = pb.sample_weight[tr].sum()
        s[tr] = pb.sample_weight[tr] / total if total > 0 else 0.0
        return s

    def _gram_top_eigenvalue(self):
        """Largest eigenvalue of the weighted Gram matrix (power iteration)."""
        return lipschitz_constant(self.problem)

    def _objective(self, w, p):
        pb = self.problem
        return pb.cy_loss.weighted_sum(pb.y, p, self.s) + pb.penalty.value(w)

    def _gradient(self, w, p):
        """Gradient at (w, p) and the objective there (None if not computed)."""
        pb = self.problem
        r = np.empty_like(self.s)
        loss = pb.cy_loss.weighted_gradient(pb.y, p, self.s, r)
        gw = pb.data.rmatvec(r) + pb.penalty.gradient_smooth(w)
        gb = float(r.sum()) if pb.fit_intercept else 0.0
        return gw, gb, loss + pb.penalty.value(w)

    def epoch(self):
        """One (accelerated) proximal gradient step; returns the objective."""
        pb = self.problem
        if self.accelerate and self.beta > 0:
            beta = self.beta
            zw = self.w + beta * (self.w - self.w_prev)
            zb = self.b + beta * (self.b - self.b_prev)
            zp = self.p + beta * (self.p - self.p_prev)
        else:
            zw, zb, zp = self.w, self.b, self.p
        gw, gb, obj_z = self._gradient(zw, zp)
        if obj_z is None:
            obj_z = self._objective(zw, zp) if self.smooth else None
        # the predictions are computed in the data's precision: compare
        # objectives up to that rounding
        rtol = 1e-12 if pb.data.dtype == np.float64 else 1e-5
        if self.smooth:
            # Try a 10% longer step than last time: the global bound L (loss
            # smoothness times the top eigenvalue of the Gram matrix) is
            # often far above the curvature near the optimum.  Backtracking
            # below restores a majorising step when the trial fails.  On
            # ill-conditioned problems this cuts the iterations 3 to 8 times.
            self.L *= 0.9
        for _ in range(60):
            if self.smooth:
                eta = 1.0 / self.L
            else:
                eta = float(self.schedule.etas([self.t_])[0])
            w_new = pb.penalty.prox_l1(zw - eta * gw, eta)
            b_new = zb - eta * gb
            p_new = pb.data.matvec(w_new, b_new)
            obj_new = self._objective(w_new, p_new)
            if not self.smooth or (np.isfinite(obj_new) and self._sufficient_decrease(
                obj_z, zw, zb, gw, gb, w_new, b_new, obj_new, rtol
            )):
                break
            # the step was too long for the local curvature: back off
            self.L *= 2.0
        gmap = np.concatenate([zw - w_new, [zb - b_new]]) / eta
        self.grad_mapping_norm = float(np.sqrt(dot(gmap, gmap)))
        if self.accelerate:
            # adaptive restart (O'Donoghue & Candes, 2015): drop momentum when
            # it points against the step just taken
            if dot(zw - w_new, w_new - self.w) + (zb - b_new) * (b_new - self.b) > 0:
                self.theta = 1.0
            theta_new = (1.0 + np.sqrt(1.0 + 4.0 * self.theta**2)) / 2.0
            self.beta = (self.theta - 1.0) / theta_new
            self.theta = theta_new
        self.w_prev, self.b_prev, self.p_prev = self.w, self.b, self.p
        self.w, self.b, self.p, self.obj = w_new, b_new, p_new, obj_new
        if obj_new < self.best[0]:
            self.best = (obj_new, w_new, b_new)
        if 0 < self.average_start <= self.t_:
            self.n_averaged += 1
            self.avg_w += (self.coef() - self.avg_w) / self.n_averaged
            self.avg_b += (self.intercept() - self.avg_b) / self.n_averaged
        self.t_ += 1
        return obj_new

    def _sufficient_decrease(self, obj_z, zw, zb, gw, gb, w_new, b_new, obj_new, rtol):
        # majorisation check at the extrapolated point z
        dw, db = w_new - zw, b_new - zb
        pen = self.problem.penalty
        quad = (obj_z - pen.l1_strength * np.abs(zw).sum() + dot(gw, dw) + gb * db
                + 0.5 * self.L * (dot(dw, dw) + db * db)
                + pen.l1_strength * np.abs(w_new).sum())
        return obj_new <= quad + rtol * abs(quad)

    def average(self):
        return self.avg_w.copy(), self.avg_b

    def coef(self):
        return (self.w if self.smooth else self.best[1]).copy()

    def intercept(self):
        return self.b if self.smooth else self.best[2]

    def is_finite(self):
        return bool(np.isfinite(self.b) and np.all(np.isfinite(self.w)))
