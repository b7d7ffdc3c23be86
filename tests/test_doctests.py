"""Run the docstring examples of every skgd module.

The modules are imported as installed (not from the source tree), so the
examples run against the compiled package whatever the install mode.
"""

import doctest
import importlib
import pkgutil

import pytest

import skgd

MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(skgd.__path__, "skgd.")
    if not name.endswith("_fast")
)
NEEDS = {"skgd._plot": "matplotlib", "skgd._dask": "dask", "skgd.onnx": "skl2onnx"}


@pytest.mark.parametrize("name", MODULES + ["skgd"])
def test_docstring_examples(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
