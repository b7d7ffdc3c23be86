"""scikit-learn's common estimator checks over both estimators in every mode.

Every instance uses the defaults, except the parameters a check is about:
the mode, the batch size, the multinomial model (with the loss it needs),
and (batch mode) the loss and penalty whose
sample-weight handling the equivalence checks test.  No instance carries
a hand-picked ``tol``, ``max_iter`` or step.
"""

import numpy as np
import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skgd import GDClassifier, GDRegressor

BATCH_SIZES = (1, 8, 32, 256)
PENALTIES = ("l2", "l1", "elasticnet", None)
CLASSIFIER_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge",
                     "perceptron", "squared_error", "huber", "epsilon_insensitive",
                     "squared_epsilon_insensitive")
REGRESSOR_LOSSES = ("squared_error", "huber", "epsilon_insensitive",
                    "squared_epsilon_insensitive")

SAMPLE_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)


def _instances():
    for Est in (GDClassifier, GDRegressor):
        yield Est()
        for batch_size in BATCH_SIZES:
            yield Est(mode="minibatch", batch_size=batch_size)
        yield Est(mode="batch")
        # every optimizer at its defaults
        for optimizer in ("momentum", "nesterov", "adagrad", "rmsprop", "adam"):
            yield Est(mode="minibatch", optimizer=optimizer)
        yield Est(optimizer="adam")
    # multinomial logistic regression (needs loss='log_loss') in every mode
    softmax = dict(loss="log_loss", multi_class="multinomial")
    yield GDClassifier(**softmax)
    for batch_size in BATCH_SIZES:
        yield GDClassifier(mode="minibatch", batch_size=batch_size, **softmax)
    yield GDClassifier(mode="batch", **softmax)
    yield GDClassifier(mode="minibatch", optimizer="adam", **softmax)


def _batch_weight_instances():
    # batch mode computes the exact weighted objective: a weight of 2 is a
    # repeated row for every loss and penalty
    for Est, losses in ((GDClassifier, CLASSIFIER_LOSSES),
                        (GDRegressor, REGRESSOR_LOSSES)):
        for loss in losses:
            for penalty in PENALTIES:
                if loss == "perceptron" and penalty is not None:
                    continue  # the optimum is w = 0 (batch mode warns)
                yield Est(mode="batch", loss=loss, penalty=penalty)


def _expected_failed_checks(estimator):
    # Stochastic modes take one step per row (or batch) in a shuffled order:
    # a weight of 2 is not the same as a repeated row, as for scikit-learn's
    # SGD estimators.
    if estimator.mode == "batch":
        return {}
    reason = "stochastic steps: a weight of 2 differs from a repeated row"
    return {name: reason for name in SAMPLE_WEIGHT_CHECKS}


@parametrize_with_checks(list(_instances()), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _weight_cases():
    for est in _batch_weight_instances():
        key = (type(est).__name__, est.loss, est.penalty)
        marks = ()
        if (np.lib.NumpyVersion(np.__version__) < "2.0.0"
                and key == ("GDClassifier", "log_loss", None)):
            # log_loss without a penalty (no unique optimum on 15 x 30, so
            # no polish): rounding-sensitive with NumPy 1.25's products (it
            # passes with NumPy 2's)
            marks = pytest.mark.xfail(
                reason="no penalty, no unique optimum: the stop depends on "
                       "rounding with NumPy 1.x (issue 7)", strict=False)
        yield pytest.param(est, marks=marks, id=repr(est).replace("\n", ""))


@pytest.mark.parametrize("check_name", SAMPLE_WEIGHT_CHECKS)
@pytest.mark.parametrize("estimator", list(_weight_cases()))
def test_batch_mode_sample_weight_equivalence(estimator, check_name):
    check = getattr(estimator_checks, check_name)
    check(type(estimator).__name__, estimator)
