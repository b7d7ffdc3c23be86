"""numpydoc validation of the public API."""

import inspect

import pytest

import skgd

numpydoc_validation = pytest.importorskip("numpydoc.validate")

# GL08: no docstring (inherited scikit-learn helpers such as set_*_request);
# ES01 / SA01 / EX01: extended summary, See Also and Examples on every method
# would be noise; RT02: scikit-learn writes "self : object".
IGNORED = {"GL08", "ES01", "SA01", "EX01", "RT02", "SS05", "PR02"}


def _public_objects():
    for name in skgd.__all__:
        obj = getattr(skgd, name)
        if not inspect.isclass(obj):
            continue
        yield f"skgd.{name}"
        for meth, member in inspect.getmembers(obj):
            if meth.startswith("_") or not callable(member):
                continue
            # methods defined by skgd, not inherited from scikit-learn
            owner = next(k for k in obj.__mro__ if meth in vars(k))
            if owner.__module__.startswith("skgd"):
                yield f"skgd.{name}.{meth}"


@pytest.mark.parametrize("import_path", sorted(set(_public_objects())))
def test_docstring(import_path):
    result = numpydoc_validation.validate(import_path)
    errors = [(code, msg) for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, "\n".join(f"{code}: {msg}" for code, msg in errors)


@pytest.mark.parametrize("name", ["GDClassifier", "GDRegressor"])
def test_help_shows_no_annotations_line(name):
    """help() lists the class's data attributes; an annotated class attribute
    (``_parameter_constraints: dict``) put an ``__annotations__`` line there."""
    import pydoc

    text = pydoc.render_doc(getattr(skgd, name), renderer=pydoc.plaintext)
    assert "__annotations__" not in text


@pytest.mark.parametrize("name", ["GDClassifier", "GDRegressor"])
def test_docstrings_tell_dask_input_and_callbacks(name):
    est = getattr(skgd, name)

    def text(obj):
        return " ".join(obj.__doc__.split())

    assert "dask array" in text(est.fit) and 'mode="batch"' in text(est.fit)
    for words in ("dask_ml.wrappers.Incremental", "lazy dask arrays",
                  "sklearn.callback.ProgressBar", "outermost meta-estimator",
                  "sklearn.callback.ScoringMonitor"):
        assert words in text(est)
    for method in ("predict", "score"):
        assert "dask" in text(getattr(est, method))
