"""Rules that span several parameters, and checks of fit-time arrays."""

import numpy as np
from sklearn.base import is_classifier


def check_params(est, for_partial_fit=False):
    """Raise ``ValueError`` for parameter combinations that make no sense.

    Single-parameter rules live in ``_parameter_constraints``; this function
    holds the rules that look at more than one parameter.
    """
    if est.early_stopping and for_partial_fit:
        raise ValueError(
            "early_stopping should be False with partial_fit: partial_fit runs "
            "one epoch on the chunk it is given and holds out no validation set."
        )
    if est.learning_rate == "optimal" and est.alpha == 0:
        raise ValueError(
            "alpha must be > 0 since learning_rate is 'optimal'. alpha is used "
            "to compute the optimal learning rate."
        )
    if est.learning_rate in ("pa1", "pa2"):
        needed = "hinge" if is_classifier(est) else "epsilon_insensitive"
        if est.loss != needed:
            raise ValueError(
                f"Learning rate '{est.learning_rate}' only works with loss '{needed}'."
            )
        if est.mode != "sgd":
            raise ValueError(
                f"Learning rate '{est.learning_rate}' (passive-aggressive) computes "
                "each step from one sample's loss and norm; it only exists in "
                f"mode='sgd', not in mode={est.mode!r}."
            )
    if est.penalty == "elasticnet" and est.l1_ratio is None:
        raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")


def check_init_array(value, shape, name, dtype):
    """Validate ``coef_init`` / ``intercept_init`` and return a float64 copy."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(
            f"Provided {name} does not match dataset: expected shape {shape}, "
            f"got {arr.shape}."
        )
    return arr.copy()
