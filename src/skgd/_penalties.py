"""Penalties R(w) = (1 - l1_ratio) / 2 ||w||_2^2 + l1_ratio ||w||_1, times alpha.

A penalty knows its value, its kind code (from the one enum of the compiled
engine) and its proximal operator, used by batch mode.  The stochastic modes
apply the L2 part as a multiplicative shrinkage and the L1 part by the
cumulative penalty of Tsuruoka et al. (2009), in the compiled pass.
"""

import numpy as np

from ._gd_fast import PenaltyKind


def dot(a, b):
    """``a . b`` of two 1-d float arrays, without BLAS.

    ``np.dot`` hands long vectors to the threaded BLAS (OpenBLAS): each call
    wakes its threads, which costs milliseconds when the other cores are
    busy, far more than the sum itself, and batch mode takes several such
    dot products per iteration.  ``einsum`` sums in the calling thread.
    """
    return np.einsum("i,i->", a, b)


class Penalty:
    """``alpha * ((1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1)``.

    Parameters
    ----------
    kind : PenaltyKind
    alpha : float
    l1_ratio : float
        Effective L1 share: 0 for L2, 1 for L1, the user's value for
        elastic-net; unused with no penalty.
    """

    def __init__(self, kind, alpha, l1_ratio):
        self.kind = kind
        self.alpha = float(alpha) if kind != PenaltyKind.PENALTY_NONE else 0.0
        self.l1_ratio = float(l1_ratio)

    @property
    def l2_strength(self):
        """The coefficient ``mu`` of ``mu / 2 ||w||^2`` (strong convexity)."""
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def l1_strength(self):
        return self.alpha * self.l1_ratio

    def value(self, w):
        """The penalty of ``w`` (a vector, or a multinomial weight matrix)."""
        if self.kind == PenaltyKind.PENALTY_NONE:
            return 0.0
        w = np.ravel(w)
        return self.l2_strength * 0.5 * float(dot(w, w)) + self.l1_strength * float(
            np.abs(w).sum()
        )

    def gradient_smooth(self, w):
        """Gradient of the L2 part."""
        return self.l2_strength * w

    def prox_l1(self, w, eta):
        """Proximal step of ``eta * l1_strength * ||w||_1`` (soft thresholding)."""
        thr = eta * self.l1_strength
        if thr == 0.0:
            return w
        return np.sign(w) * np.maximum(np.abs(w) - thr, 0.0)


def get_penalty(penalty, alpha, l1_ratio):
    """The penalty object for scikit-learn's ``penalty`` parameter."""
    if penalty is None:
        return Penalty(PenaltyKind.PENALTY_NONE, alpha, 0.0)
    if penalty == "l2":
        return Penalty(PenaltyKind.PENALTY_L2, alpha, 0.0)
    if penalty == "l1":
        return Penalty(PenaltyKind.PENALTY_L1, alpha, 1.0)
    if penalty == "elasticnet":
        return Penalty(PenaltyKind.PENALTY_ELASTICNET, alpha, l1_ratio)
    raise ValueError(f"unknown penalty {penalty!r}")
