"""Losses: vectorised NumPy reference implementations and their compiled twins.

Every loss is a function ``L(y, p)`` of the target ``y`` and the raw
prediction ``p = x.w + b``; ``dloss`` is ``dL/dp``.  Classification losses
take ``y`` in {-1, +1} (the one label convention of skgd).  The NumPy
methods are the test oracle of the compiled ``CyLoss`` classes returned by
:meth:`Loss.compiled`.
"""

import numpy as np

from . import _loss_fast


class Loss:
    """Base class.

    Attributes
    ----------
    name : str
        The scikit-learn name of the loss.
    classification : bool
        Whether ``y`` is a label in {-1, +1}.
    smoothness : float or None
        An upper bound of ``d^2 L / dp^2`` (the loss's Lipschitz constant of
        the derivative), or None when the loss is not smooth.
    scale_free : bool
        Whether ``L(y, c p) = c L(y, p)`` for ``c > 0`` (the perceptron): the
        loss sets no scale for the weights, so a step size has no stability
        role.
    """

    name = None
    classification = True
    smoothness = None
    scale_free = False

    def loss(self, y, p):
        raise NotImplementedError

    def dloss(self, y, p):
        raise NotImplementedError

    def compiled(self):
        """The compiled twin used by the kernels."""
        raise NotImplementedError

    def predict_proba(self, decision):
        """Probability of the positive class from the decision function.

        Raises ``AttributeError`` for losses that define no probability
        (the estimator then hides ``predict_proba``).
        """
        raise AttributeError(f"loss {self.name!r} does not define probabilities")

    def smoothed(self, mu):
        """A smooth loss within ``mu / 2`` of this one (non-smooth losses only).

        Batch mode minimises the smoothed objective for a decreasing ``mu``
        (Nesterov smoothing with continuation).
        """
        raise NotImplementedError(f"loss {self.name!r} is smooth already")

    @property
    def has_proba(self):
        return type(self).predict_proba is not Loss.predict_proba

    def __repr__(self):
        return f"{type(self).__name__}()"


class Hinge(Loss):
    """L = max(0, threshold - y p): the linear SVM (threshold 1) and perceptron (0)."""

    def __init__(self, threshold=1.0, name="hinge"):
        self.threshold = threshold
        self.name = name
        self.scale_free = threshold == 0.0

    def loss(self, y, p):
        return np.maximum(0.0, self.threshold - y * p)

    def dloss(self, y, p):
        return np.where(y * p <= self.threshold, -y, 0.0)

    def compiled(self):
        return _loss_fast.Hinge(self.threshold)

    def smoothed(self, mu):
        return SmoothHinge(self.threshold, mu)


class SmoothHinge(Loss):
    """The hinge with its kink rounded over a width ``mu``.

    With ``z = threshold - y p``: 0 for ``z <= 0``, ``z^2 / (2 mu)`` for
    ``0 < z < mu``, ``z - mu / 2`` beyond.  Below the hinge by at most
    ``mu / 2``; its second derivative is at most ``1 / mu``.
    """

    name = "smooth_hinge"

    def __init__(self, threshold, mu):
        self.threshold = threshold
        self.mu = mu
        self.smoothness = 1.0 / mu

    def loss(self, y, p):
        z = np.maximum(self.threshold - y * p, 0.0)
        return np.where(z < self.mu, 0.5 * z**2 / self.mu, z - 0.5 * self.mu)

    def dloss(self, y, p):
        z = np.maximum(self.threshold - y * p, 0.0)
        return -y * np.minimum(z / self.mu, 1.0)

    def compiled(self):
        return _loss_fast.SmoothHinge(self.threshold, self.mu)


class SquaredHinge(Loss):
    """L = max(0, 1 - y p)^2."""

    name = "squared_hinge"
    smoothness = 2.0

    def loss(self, y, p):
        return np.maximum(0.0, 1.0 - y * p) ** 2

    def dloss(self, y, p):
        return -2.0 * y * np.maximum(0.0, 1.0 - y * p)

    def compiled(self):
        return _loss_fast.SquaredHinge(1.0)


class ModifiedHuber(Loss):
    """L = max(0, 1 - y p)^2 if y p >= -1 else -4 y p."""

    name = "modified_huber"
    smoothness = 2.0

    def loss(self, y, p):
        z = y * p
        return np.where(z >= -1.0, np.maximum(0.0, 1.0 - z) ** 2, -4.0 * z)

    def dloss(self, y, p):
        z = y * p
        return np.where(z >= -1.0, -2.0 * y * np.maximum(0.0, 1.0 - z), -4.0 * y)

    def compiled(self):
        return _loss_fast.ModifiedHuber()

    def predict_proba(self, decision):
        # Zhang (2004): (clip(d, -1, 1) + 1) / 2
        return (np.clip(decision, -1.0, 1.0) + 1.0) / 2.0


class LogLoss(Loss):
    """L = log(1 + exp(-y p)), logistic regression."""

    name = "log_loss"
    smoothness = 0.25

    def loss(self, y, p):
        return np.logaddexp(0.0, -y * p)

    def dloss(self, y, p):
        return -y * _expit(-y * p)

    def compiled(self):
        return _loss_fast.LogLoss()

    def predict_proba(self, decision):
        return _expit(decision)


class SquaredError(Loss):
    """L = (p - y)^2 / 2."""

    name = "squared_error"
    classification = False
    smoothness = 1.0

    def loss(self, y, p):
        return 0.5 * (p - y) ** 2

    def dloss(self, y, p):
        return p - y

    def compiled(self):
        return _loss_fast.SquaredError()


class Huber(Loss):
    """L = r^2 / 2 if |r| <= epsilon else epsilon (|r| - epsilon / 2), r = y - p."""

    name = "huber"
    classification = False
    smoothness = 1.0

    def __init__(self, epsilon):
        self.epsilon = epsilon

    def loss(self, y, p):
        r = np.abs(y - p)
        e = self.epsilon
        return np.where(r <= e, 0.5 * r**2, e * (r - 0.5 * e))

    def dloss(self, y, p):
        return np.clip(p - y, -self.epsilon, self.epsilon)

    def compiled(self):
        return _loss_fast.Huber(self.epsilon)


class EpsilonInsensitive(Loss):
    """L = max(0, |y - p| - epsilon), linear support vector regression."""

    name = "epsilon_insensitive"
    classification = False

    def __init__(self, epsilon):
        self.epsilon = epsilon

    def loss(self, y, p):
        return np.maximum(0.0, np.abs(y - p) - self.epsilon)

    def dloss(self, y, p):
        r = p - y
        return np.where(r > self.epsilon, 1.0, np.where(-r > self.epsilon, -1.0, 0.0))

    def compiled(self):
        return _loss_fast.EpsilonInsensitive(self.epsilon)

    def smoothed(self, mu):
        return SmoothEpsilonInsensitive(self.epsilon, mu)


class SmoothEpsilonInsensitive(Loss):
    """The epsilon-insensitive loss with its kinks rounded over a width ``mu``.

    With ``a = |y - p| - epsilon``: 0 for ``a <= 0``, ``a^2 / (2 mu)`` for
    ``0 < a < mu``, ``a - mu / 2`` beyond.
    """

    name = "smooth_epsilon_insensitive"
    classification = False

    def __init__(self, epsilon, mu):
        self.epsilon = epsilon
        self.mu = mu
        self.smoothness = 1.0 / mu

    def loss(self, y, p):
        a = np.maximum(np.abs(y - p) - self.epsilon, 0.0)
        return np.where(a < self.mu, 0.5 * a**2 / self.mu, a - 0.5 * self.mu)

    def dloss(self, y, p):
        a = np.maximum(np.abs(y - p) - self.epsilon, 0.0)
        return np.sign(p - y) * np.minimum(a / self.mu, 1.0)

    def compiled(self):
        return _loss_fast.SmoothEpsilonInsensitive(self.epsilon, self.mu)


class SquaredEpsilonInsensitive(Loss):
    """L = max(0, |y - p| - epsilon)^2."""

    name = "squared_epsilon_insensitive"
    classification = False
    smoothness = 2.0

    def __init__(self, epsilon):
        self.epsilon = epsilon

    def loss(self, y, p):
        return np.maximum(0.0, np.abs(y - p) - self.epsilon) ** 2

    def dloss(self, y, p):
        r = p - y
        return 2.0 * np.sign(r) * np.maximum(0.0, np.abs(r) - self.epsilon)

    def compiled(self):
        return _loss_fast.SquaredEpsilonInsensitive(self.epsilon)


def _expit(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


CLASSIFICATION_LOSSES = (
    "hinge",
    "log_loss",
    "modified_huber",
    "squared_hinge",
    "perceptron",
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
)
REGRESSION_LOSSES = (
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
)


def get_loss(name, epsilon=0.1):
    """The loss object for a scikit-learn loss name.

    Regression losses used by the classifier see ``y`` in {-1, +1}, as in
    scikit-learn's ``SGDClassifier``.
    """
    if name == "hinge":
        return Hinge(1.0)
    if name == "perceptron":
        return Hinge(0.0, name="perceptron")
    if name == "squared_hinge":
        return SquaredHinge()
    if name == "modified_huber":
        return ModifiedHuber()
    if name == "log_loss":
        return LogLoss()
    if name == "squared_error":
        return SquaredError()
    if name == "huber":
        return Huber(epsilon)
    if name == "epsilon_insensitive":
        return EpsilonInsensitive(epsilon)
    if name == "squared_epsilon_insensitive":
        return SquaredEpsilonInsensitive(epsilon)
    raise ValueError(f"unknown loss {name!r}")
