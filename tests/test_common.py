"""scikit-learn's common estimator checks over both estimators in every mode.

Every instance uses the defaults, except the parameters a check is about:
the mode, the batch size, and (batch mode) the loss and penalty whose
sample-weight handling the equivalence checks test.  No instance carries
a hand-picked ``tol``, ``max_iter`` or step.
"""

import numpy as np
import pytest
from sklearn.base import is_regressor
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
        if estimator.loss == "hinge":  # the default: see KNOWN_WEIGHT_FAILURES
            reason = "batch mode stops ~tol from the optimum (issue 7)"
            return {name: reason for name in SAMPLE_WEIGHT_CHECKS}
        return {}
    reason = "stochastic steps: a weight of 2 differs from a repeated row"
    failed = {name: reason for name in SAMPLE_WEIGHT_CHECKS}
    if estimator.optimizer == "adagrad" and is_regressor(estimator):
        # Known defect (issue 9, open): Adagrad's steps, 0.1 / sqrt(sum g^2),
        # shrink as fast as its gradients' noise accumulates; on this
        # check's 200 x 10 problem (7 updates an epoch) it reaches R^2 0.11
        # when the stopping rule ends it (0.17 after 200 epochs), where the
        # other optimizers reach 0.77-0.81.
        failed["check_regressors_train"] = "Adagrad: too slow on small data (issue 9)"
    return failed


@parametrize_with_checks(list(_instances()), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# Known defect (issue 7, item 6, open): at the default tol these fits stop
# far from the optimum of these ill-conditioned problems (15 rows, 30
# columns, alpha=1e-4), and where they stop depends on rounding.  Measured
# on the check's data without any repeated rows: refitting the *same*
# weighted problem with its rows shuffled, or with the weights times
# (1 + 1e-15), moves the decision function by 1e-4 (squared_error + l1) to
# 3e-1 (hinge + l2) relative; tol=1e-9 still leaves 1e-5..2e-1.  So the
# cause is not a dependence on the row count but sensitivity to rounding
# of a fit that stops before the optimum.  Non-strict: some pass on some
# platforms.
KNOWN_WEIGHT_FAILURES = {
    ("GDClassifier", "hinge", "l2"), ("GDClassifier", "modified_huber", "l2"),
    ("GDClassifier", "squared_hinge", "l2"), ("GDClassifier", "squared_error", "l1"),
    ("GDClassifier", "huber", "l1"), ("GDClassifier", "epsilon_insensitive", "l2"),
    ("GDClassifier", "epsilon_insensitive", "l1"),
    ("GDClassifier", "epsilon_insensitive", "elasticnet"),
    ("GDClassifier", "squared_epsilon_insensitive", "l2"),
    ("GDRegressor", "squared_error", "l1"), ("GDRegressor", "huber", "l1"),
    ("GDRegressor", "epsilon_insensitive", "l2"),
    ("GDRegressor", "squared_epsilon_insensitive", "elasticnet"),
}


def _weight_cases():
    for est in _batch_weight_instances():
        key = (type(est).__name__, est.loss, est.penalty)
        marks = ()
        # log_loss without a penalty: the same, with NumPy 1.25's products
        # (it passes with NumPy 2's)
        numpy_1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"
        if key in KNOWN_WEIGHT_FAILURES or (
                numpy_1 and key == ("GDClassifier", "log_loss", None)):
            marks = pytest.mark.xfail(
                reason="batch mode stops ~tol from the optimum (issue 7)", strict=False
            )
        yield pytest.param(est, marks=marks, id=repr(est).replace("\n", ""))


@pytest.mark.parametrize("check_name", SAMPLE_WEIGHT_CHECKS)
@pytest.mark.parametrize("estimator", list(_weight_cases()))
def test_batch_mode_sample_weight_equivalence(estimator, check_name):
    check = getattr(estimator_checks, check_name)
    check(type(estimator).__name__, estimator)
