"""LossCurveDisplay: plot the training objective (and validation score) per epoch.

matplotlib is an optional dependency (the ``plots`` extra): it is imported
only when something is drawn, so that ``import skgd`` works without it.
"""

from collections.abc import Mapping

import numpy as np
from sklearn.utils.validation import check_is_fitted

_MPL_INSTALL_HINT = (
    "You can install matplotlib with `pip install matplotlib`, or the plotting "
    "extra of skgd: `pip install \".[plots]\"` at the root of its clone."
)


def _check_matplotlib_support(caller_name):
    """Raise an ImportError with an installation hint if matplotlib is missing.

    Parameters
    ----------
    caller_name : str
        Name of the function or method that needs matplotlib.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"{caller_name} requires matplotlib. {_MPL_INSTALL_HINT}"
        ) from e


def _as_curves(loss_curve):
    """Validate ``loss_curve``: return a list of 1-D float arrays (one per curve)."""
    if loss_curve is None:
        raise ValueError("loss_curve must not be None.")
    curves = list(loss_curve)
    if not curves:
        raise ValueError("loss_curve is empty: there is nothing to plot.")
    if np.ndim(curves[0]) == 0:
        curves = [curves]  # a single curve given as a flat sequence
    out = []
    for k, curve in enumerate(curves):
        arr = np.asarray(curve, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(
                "loss_curve must be a non-empty sequence of numbers (one value per "
                "epoch) or a list of such sequences; curve "
                f"{k} has shape {arr.shape}."
            )
        out.append(arr)
    return out


def _line_kwargs(default, user, n_curves, param_name):
    """Merge matplotlib ``Line2D`` keyword arguments for each of ``n_curves`` lines.

    ``user`` is None, a dict applied to every line, or a list of dicts (one
    per line).  Aliases (``c``, ``ls``, ``lw``, ...) are normalised so that a
    user value overrides the default of the same property.
    """
    from matplotlib.cbook import normalize_kwargs
    from matplotlib.lines import Line2D

    if user is None or isinstance(user, Mapping):
        user = [user] * n_curves
    else:
        user = list(user)
        if len(user) != n_curves:
            raise ValueError(
                f"{param_name} is a list of {len(user)} dicts but there are "
                f"{n_curves} curves to plot; pass one dict per curve or a single "
                "dict for all of them."
            )
    merged = []
    for k in range(n_curves):
        kw = normalize_kwargs(dict(default[k]), Line2D)
        kw.update(normalize_kwargs(dict(user[k] or {}), Line2D))
        merged.append(kw)
    return merged


class LossCurveDisplay:
    """Training-objective curve visualization.

    Plots the training objective of a gradient-descent fit per epoch and,
    when they were recorded (``early_stopping=True``), the validation scores
    on a secondary y axis.

    It is recommended to use :meth:`LossCurveDisplay.from_estimator` to create
    a :class:`LossCurveDisplay`. All parameters are stored as attributes.

    This display needs matplotlib (``pip install matplotlib``, or the
    ``plots`` extra: ``pip install ".[plots]"`` in a clone of skgd).

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,) or list of array-like
        Training objective per epoch, e.g. the ``loss_curve_`` attribute of a
        fitted :class:`~skgd.GDClassifier` or :class:`~skgd.GDRegressor`.
        A list of such sequences (possibly of different lengths, e.g. the
        ``loss_curves_`` of a multiclass one-vs-rest fit) plots one line per
        curve.

    validation_scores : array-like of shape (n_epochs,), default=None
        Validation score per epoch, e.g. the ``validation_scores_`` attribute
        of an estimator fitted with ``early_stopping=True``. If None, only the
        training objective is plotted.

    estimator_name : str, default=None
        Name of the estimator, used to label the training-objective line (or,
        with several curves, as the legend title). If None, the line is
        labelled ``"Training objective"``.

    curve_labels : list of str, default=None
        Legend labels of the lines when ``loss_curve`` holds several curves.
        If None, the lines are labelled ``"curve 0"``, ``"curve 1"``, ...
        :meth:`from_estimator` labels them ``"class <label>"``. Ignored for a
        single curve.

    Attributes
    ----------
    line_ : matplotlib Line2D or list of matplotlib Line2D
        The training-objective line; a list of lines (the same as `lines_`)
        when several curves are plotted.

    lines_ : list of matplotlib Line2D
        The training-objective lines, one per curve.

    validation_line_ : matplotlib Line2D or None
        The validation-score line, or None when it is not plotted.

    ax_ : matplotlib Axes
        Axes with the training-objective curve(s).

    validation_ax_ : matplotlib Axes or None
        Secondary axes (sharing the x axis of `ax_`) with the validation
        scores, or None when they are not plotted.

    figure_ : matplotlib Figure
        Figure containing the curves.

    See Also
    --------
    LossCurveDisplay.from_estimator : Plot the curves of a fitted estimator.
    sklearn.model_selection.LearningCurveDisplay : Score as a function of the
        number of training samples.

    Examples
    --------
    >>> import pytest
    >>> matplotlib = pytest.importorskip("matplotlib")  # the example needs it
    >>> matplotlib.use("Agg")  # draw off-screen; drop this line to see a window
    >>> import matplotlib.pyplot as plt
    >>> from skgd import LossCurveDisplay
    >>> display = LossCurveDisplay([0.9, 0.6, 0.5, 0.45],
    ...                            validation_scores=[0.7, 0.8, 0.85, 0.84],
    ...                            estimator_name="my model")
    >>> _ = display.plot()
    >>> display.line_.get_label()
    'my model'
    >>> display.validation_line_.get_label()
    'Validation score'
    >>> plt.close(display.figure_)
    """

    def __init__(self, loss_curve, *, validation_scores=None, estimator_name=None,
                 curve_labels=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name
        self.curve_labels = curve_labels

    def plot(self, ax=None, *, name=None, validation=True, loss_kw=None,
             validation_kw=None):
        """Plot visualization.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes object to plot on. If None, a new figure and axes is created.

        name : str, default=None
            Name used to label the training-objective line (or the legend
            title with several curves). If None, `estimator_name` is used.

        validation : bool, default=True
            Whether to plot the validation scores (when there are any) on a
            secondary y axis.

        loss_kw : dict or list of dict, default=None
            Keyword arguments passed to :meth:`matplotlib.axes.Axes.plot` for
            the training-objective line(s); a list gives one dict per curve.

        validation_kw : dict, default=None
            Keyword arguments passed to :meth:`matplotlib.axes.Axes.plot` for
            the validation-score line.

        Returns
        -------
        display : :class:`~skgd.LossCurveDisplay`
            Object that stores the computed values.
        """
        _check_matplotlib_support(f"{self.__class__.__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        curves = _as_curves(self.loss_curve)
        n_curves = len(curves)
        name = self.estimator_name if name is None else name

        if ax is None:
            _, ax = plt.subplots()

        if n_curves == 1:
            labels = ["Training objective" if name is None else str(name)]
        elif self.curve_labels is not None:
            labels = [str(label) for label in self.curve_labels]
            if len(labels) != n_curves:
                raise ValueError(
                    f"curve_labels has {len(labels)} entries but loss_curve holds "
                    f"{n_curves} curves."
                )
        else:
            labels = [f"curve {k}" for k in range(n_curves)]

        line_kws = _line_kwargs(
            [{"label": label} for label in labels], loss_kw, n_curves, "loss_kw"
        )
        lines = []
        for curve, kw in zip(curves, line_kws):
            (line,) = ax.plot(np.arange(1, curve.size + 1), curve, **kw)
            lines.append(line)
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Training objective")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

        validation_line, validation_ax = None, None
        if validation and self.validation_scores is not None:
            scores = np.asarray(self.validation_scores, dtype=np.float64)
            if scores.ndim != 1:
                raise ValueError(
                    "validation_scores must be a 1-D sequence (one value per "
                    f"epoch); got shape {scores.shape}."
                )
            if scores.size:
                (val_kw,) = _line_kwargs(
                    [{"label": "Validation score", "color": "black",
                      "linestyle": "--"}],
                    validation_kw, 1, "validation_kw",
                )
                validation_ax = ax.twinx()
                (validation_line,) = validation_ax.plot(
                    np.arange(1, scores.size + 1), scores, **val_kw
                )
                validation_ax.set_ylabel("Validation score")

        # one legend for both y axes, drawn on the top-most axes
        handles = [h for h in [*lines, validation_line]
                   if h is not None and not h.get_label().startswith("_")]
        if handles:
            legend_ax = ax if validation_ax is None else validation_ax
            legend_ax.legend(
                handles=handles, loc="best",
                title=str(name) if n_curves > 1 and name is not None else None,
            )

        self.ax_ = ax
        self.validation_ax_ = validation_ax
        self.figure_ = ax.figure
        self.lines_ = lines
        self.line_ = lines[0] if n_curves == 1 else lines
        self.validation_line_ = validation_line
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, validation=True,
                       loss_kw=None, validation_kw=None):
        """Plot the training objective per epoch of a fitted estimator.

        Works with any fitted estimator that records its training objective
        per epoch in ``loss_curve_`` (e.g. :class:`~skgd.GDClassifier`,
        :class:`~skgd.GDRegressor`), and its validation scores in
        ``validation_scores_`` when fitted with ``early_stopping=True``.
        For a multiclass classifier whose ``loss_curves_`` holds one curve
        per one-vs-rest problem, one line per class is drawn, labelled
        ``"class <label>"``.

        Parameters
        ----------
        estimator : estimator instance
            Fitted estimator with a ``loss_curve_`` attribute.

        ax : matplotlib Axes, default=None
            Axes object to plot on. If None, a new figure and axes is created.

        name : str, default=None
            Name used to label the curve(s). If None, the class name of the
            estimator followed by its ``mode``, e.g.
            ``"GDClassifier (minibatch)"``.

        validation : bool, default=True
            Whether to plot the validation scores (when the estimator recorded
            any) on a secondary y axis. For a multiclass one-vs-rest fit they
            are the scores of the last binary problem, as in
            ``validation_scores_``.

        loss_kw : dict or list of dict, default=None
            Keyword arguments passed to :meth:`matplotlib.axes.Axes.plot` for
            the training-objective line(s); a list gives one dict per curve.

        validation_kw : dict, default=None
            Keyword arguments passed to :meth:`matplotlib.axes.Axes.plot` for
            the validation-score line.

        Returns
        -------
        display : :class:`~skgd.LossCurveDisplay`
            Object that stores the computed values.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If the estimator has no ``loss_curve_`` attribute.

        Examples
        --------
        >>> import pytest
        >>> matplotlib = pytest.importorskip("matplotlib")  # the example needs it
        >>> matplotlib.use("Agg")  # draw off-screen; drop this line to see a window
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import make_classification
        >>> from skgd import GDClassifier, LossCurveDisplay
        >>> X, y = make_classification(random_state=0)
        >>> clf = GDClassifier(mode="minibatch", early_stopping=True,
        ...                    random_state=0).fit(X, y)
        >>> display = LossCurveDisplay.from_estimator(clf)
        >>> display.line_.get_label()
        'GDClassifier (minibatch)'
        >>> len(display.line_.get_ydata()) == clf.n_iter_
        True
        >>> plt.close(display.figure_)
        """
        _check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        if getattr(estimator, "loss_curve_", None) is None:
            raise TypeError(
                f"{estimator.__class__.__name__} has no loss_curve_ attribute: "
                f"{cls.__name__}.from_estimator needs a fitted estimator that "
                "records its training objective per epoch, such as GDClassifier "
                "or GDRegressor."
            )

        if name is None:
            name = estimator.__class__.__name__
            mode = getattr(estimator, "mode", None)
            if isinstance(mode, str):
                name = f"{name} ({mode})"

        loss_curve, curve_labels = estimator.loss_curve_, None
        curves = getattr(estimator, "loss_curves_", None)
        if curves is not None and len(curves) > 1:
            loss_curve = curves
            classes = getattr(estimator, "classes_", None)
            if classes is not None and len(classes) == len(curves):
                curve_labels = [f"class {label}" for label in classes]

        display = cls(
            loss_curve,
            validation_scores=getattr(estimator, "validation_scores_", None),
            estimator_name=name,
            curve_labels=curve_labels,
        )
        return display.plot(
            ax=ax, name=name, validation=validation, loss_kw=loss_kw,
            validation_kw=validation_kw,
        )
