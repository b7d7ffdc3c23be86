"""Export skgd models to ONNX with skl2onnx.

Importing this module registers :class:`~skgd.GDClassifier` and
:class:`~skgd.GDRegressor` with skl2onnx, so that ``skl2onnx.to_onnx``
converts them, bare or inside a :class:`~sklearn.pipeline.Pipeline` (or any
other container skl2onnx knows).  It needs the ``onnx`` extra
(``pip install ".[onnx]"``: skl2onnx, onnx and onnxruntime).

The fitted attributes of skgd's estimators are those of scikit-learn's
``SGDClassifier`` and ``SGDRegressor`` (``coef_``, ``intercept_``,
``classes_``, ``loss``), and their predictions are computed the same way, so
the graphs are built from the pieces of skl2onnx's converters of those two
models:

* :class:`~skgd.GDClassifier`: the decision function ``X @ coef_.T +
  intercept_``; the probabilities ``1 / (1 + exp(-d))`` for
  ``loss='log_loss'`` and ``(clip(d, -1, 1) + 1) / 2`` for
  ``loss='modified_huber'``, normalised over the classes for one-vs-rest
  (a row whose probabilities are all zero gets uniform ones), as
  :meth:`~skgd.GDClassifier.predict_proba`; for the other losses the
  second output holds the decision function (``[-d, d]`` when binary), as
  skl2onnx does for ``SGDClassifier``.  The labels are the argmax of the
  decision function, as :meth:`~skgd.GDClassifier.predict`: unlike
  skl2onnx's ``SGDClassifier`` converter, which takes the argmax of the
  probabilities, they stay right where ``modified_huber`` clips several
  probabilities to the same value.  The converter options are
  skl2onnx's: ``zipmap``, ``nocl``, ``output_class_labels`` and
  ``raw_scores``.
* :class:`~skgd.GDRegressor`: ``X @ coef_ + intercept_``.

The models are computed in the precision of the graph's input (float32 by
default, as skl2onnx does), so their outputs agree with ``predict`` and
``predict_proba`` to float32 rounding.

Examples
--------
>>> import numpy as np
>>> import onnxruntime as ort
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import make_classification
>>> import skgd.onnx  # registers the converters
>>> from skgd import GDClassifier
>>> X, y = make_classification(n_samples=100, random_state=0)
>>> X = X.astype(np.float32)
>>> clf = GDClassifier(loss="log_loss", mode="batch").fit(X, y)
>>> onx = to_onnx(clf, X[:1], options={"zipmap": False})
>>> sess = ort.InferenceSession(onx.SerializeToString(),
...                             providers=["CPUExecutionProvider"])
>>> labels, proba = sess.run(None, {"X": X})
>>> bool((labels == clf.predict(X)).all())
True
>>> bool(np.allclose(proba, clf.predict_proba(X), atol=1e-5))
True
"""

import numpy as np
import scipy.sparse as sp

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.common._apply_operation import (
        apply_concat,
        apply_identity,
        apply_mul,
        apply_reshape,
    )
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from skl2onnx.common.utils_classifier import get_label_classes
    from skl2onnx.operator_converters.linear_regressor import (
        convert_sklearn_linear_regressor,
    )
    from skl2onnx.operator_converters.sgd_classifier import (
        _decision_function,
        _predict_proba_log,
        _predict_proba_modified_huber,
    )
    from skl2onnx.proto import onnx_proto
except ImportError as exc:  # pragma: no cover - exercised without skl2onnx only
    raise ImportError(
        "skgd.onnx needs skl2onnx, onnx and onnxruntime: install them with "
        'pip install ".[onnx]" from the root of a clone of skgd (or '
        "pip install skl2onnx onnxruntime)."
    ) from exc

from ._classifier import GDClassifier
from ._regressor import GDRegressor

__all__ = ["register"]

# the options of skl2onnx's SGDClassifier converter, which the classifier takes
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
    "raw_scores": [True, False],
}
PROBA_BUILDERS = {
    "log_loss": _predict_proba_log,
    "modified_huber": _predict_proba_modified_huber,
}


def _check_dense_coef(model):
    if sp.issparse(model.coef_):
        raise ValueError(
            f"{type(model).__name__}.coef_ is a sparse matrix (after sparsify()); "
            "the ONNX converter needs dense weights. Call densify() on the model "
            "before converting it."
        )


def _label_table(classes):
    """The class labels as an ONNX initializer: (proto type, values).

    Numeric labels are integers (scikit-learn refuses non-integral float
    targets for a classifier), output as int64 like skl2onnx's classifiers.
    """
    if classes.dtype.kind in "OUS":
        return onnx_proto.TensorProto.STRING, np.array(
            [str(c).encode("utf-8") for c in classes]
        )
    return onnx_proto.TensorProto.INT64, classes.astype(np.int64)


def _two_columns(scope, container, scores, proto_type, output=None):
    """``[-d, d]``: the binary decision function as one column per class."""
    minus_one = scope.get_unique_variable_name("minus_one")
    container.add_initializer(minus_one, proto_type, [], [-1])
    negated = scope.get_unique_variable_name("negated_scores")
    apply_mul(scope, [scores, minus_one], negated, container, broadcast=1)
    output = output or scope.get_unique_variable_name("two_column_scores")
    apply_concat(scope, [negated, scores], output, container, axis=1)
    return output


def convert_gd_classifier(scope, operator, container):
    """skl2onnx converter of a fitted :class:`~skgd.GDClassifier`.

    The labels are the argmax of the decision function, as
    :meth:`~skgd.GDClassifier.predict` (not of the probabilities, which tie
    where ``modified_huber`` clips them).

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
        Where the graph's names are made unique.
    operator : skl2onnx.common._topology.Operator
        The operator to convert; ``operator.raw_operator`` is the model.
    container : skl2onnx.common._container.ModelComponentContainer
        The graph the nodes are added to.
    """
    model = operator.raw_operator
    _check_dense_coef(model)
    classes = np.asarray(get_label_classes(scope, model))
    n_classes = len(classes)
    proto_type = guess_proto_type(operator.inputs[0].type)
    if proto_type != onnx_proto.TensorProto.DOUBLE:
        proto_type = onnx_proto.TensorProto.FLOAT
    label_type, labels = _label_table(classes)

    scores = _decision_function(scope, operator, container, model, proto_type)
    proba_output = operator.outputs[1].full_name
    raw_scores = container.get_options(model, dict(raw_scores=False))["raw_scores"]
    builder = None if raw_scores else PROBA_BUILDERS.get(model.loss)
    if model._multinomial and not raw_scores:
        # multi_class='multinomial': the softmax of the decision function
        container.add_node("Softmax", scores, proba_output, axis=1,
                           name=scope.get_unique_operator_name("Softmax"))
        per_class = scores
    elif builder is not None:
        builder(scope, operator, container, scores, n_classes, proto_type)
        per_class = (_two_columns(scope, container, scores, proto_type)
                     if n_classes == 2 else scores)
    elif n_classes == 2:
        per_class = _two_columns(scope, container, scores, proto_type, proba_output)
    else:
        apply_identity(scope, scores, proba_output, container)
        per_class = scores

    # as predict: the class of the largest decision value, the first on a tie
    # (binary: class 1 only where d > 0)
    index = scope.get_unique_variable_name("label_index")
    container.add_node("ArgMax", per_class, index, axis=1, keepdims=1,
                       name=scope.get_unique_operator_name("ArgMax"))
    table = scope.get_unique_variable_name("classes")
    container.add_initializer(table, label_type, labels.shape, labels)
    picked = scope.get_unique_variable_name("picked_label")
    container.add_node("ArrayFeatureExtractor", [table, index], picked,
                       op_domain="ai.onnx.ml",
                       name=scope.get_unique_operator_name("ArrayFeatureExtractor"))
    apply_reshape(scope, picked, operator.outputs[0].full_name, container,
                  desired_shape=(-1,))


def convert_gd_regressor(scope, operator, container):
    """skl2onnx converter of a fitted :class:`~skgd.GDRegressor`.

    The arguments are those of :func:`convert_gd_classifier`.
    """
    _check_dense_coef(operator.raw_operator)
    convert_sklearn_linear_regressor(scope, operator, container)


def register():
    """Register the converters of GDClassifier and GDRegressor with skl2onnx.

    Importing :mod:`skgd.onnx` already does it; calling it again is harmless.
    """
    update_registered_converter(
        GDClassifier, "SkgdGDClassifier", calculate_linear_classifier_output_shapes,
        convert_gd_classifier, options=CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        GDRegressor, "SkgdGDRegressor", calculate_linear_regressor_output_shapes,
        convert_gd_regressor,
    )


register()
