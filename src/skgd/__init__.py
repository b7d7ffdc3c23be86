"""skgd: scikit-learn compatible linear models trained by gradient descent."""

from ._classifier import GDClassifier
from ._plot import LossCurveDisplay
from ._regressor import GDRegressor

__version__ = "0.1.0"

__all__ = ["GDClassifier", "GDRegressor", "LossCurveDisplay", "__version__"]
