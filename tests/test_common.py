"""scikit-learn's common estimator checks over both estimators in every mode."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skgd import GDClassifier, GDRegressor

MODES = ("sgd", "minibatch", "batch")

SAMPLE_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)


def _instances():
    for mode in MODES:
        yield GDClassifier(mode=mode, batch_size=8, random_state=0)
        yield GDRegressor(mode=mode, batch_size=8, random_state=0)
    # a few loss / penalty combinations
    yield GDClassifier(loss="log_loss", penalty="elasticnet", mode="batch", random_state=0)
    yield GDClassifier(loss="hinge", penalty="l1", mode="minibatch", batch_size=8,
                       random_state=0)
    yield GDClassifier(loss="log_loss", average=True, mode="sgd", random_state=0)
    # converged tightly: weights and repetitions then reach the same optimum
    # along different (adaptive-step) paths
    yield GDRegressor(loss="huber", penalty="l1", mode="batch", tol=1e-7,
                      max_iter=10000, random_state=0)
    yield GDRegressor(loss="epsilon_insensitive", mode="minibatch", random_state=0)


def _expected_failed_checks(estimator):
    # Stochastic modes take one step per row (or batch) in a shuffled order:
    # a weight of 2 is not the same as a repeated row, as for scikit-learn's
    # SGD estimators.  Batch mode computes the exact weighted gradient and
    # passes these checks.
    if estimator.mode == "batch":
        return {}
    reason = "stochastic steps: a weight of 2 differs from a repeated row"
    return {name: reason for name in SAMPLE_WEIGHT_CHECKS}


@parametrize_with_checks(list(_instances()), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
