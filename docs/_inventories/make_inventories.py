"""Write the intersphinx inventories that the documentation build reads.

The docs link to scikit-learn, NumPy, SciPy, matplotlib, dask, dask-ml and
Python through intersphinx, from the ``*-objects.inv`` files beside this
script, so that ``sphinx-build`` needs no network access.  Each file is a
Sphinx inventory (version 2: four header lines, then zlib-compressed lines
``name domain:role priority uri dispname``), as ``objects.inv`` of the
project's own site would be, but holding only what skgd's pages point at:

* scikit-learn: every public class, function, method and module of the
  installed version (the API reference has one page per object at a
  predictable address, ``modules/generated/<name>.html``), plus the
  user-guide labels and glossary terms that skgd's pages and the docstrings
  it inherits from scikit-learn use (listed below);
* the other projects: the objects listed below (the names that the user
  guide, the docstrings and the gallery examples use), each checked to exist
  in the installed package.

Regenerate after adding a reference that does not link (``sphinx-build -n``
lists them), or after upgrading scikit-learn::

    python docs/_inventories/make_inventories.py

When the projects' sites are reachable, their real inventories can replace
these files (``curl -o docs/_inventories/sklearn-objects.inv
https://scikit-learn.org/stable/objects.inv``, and so on); the file names and
``intersphinx_mapping`` in ``docs/conf.py`` stay as they are.
"""

import importlib
import inspect
import pkgutil
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# scikit-learn's user-guide labels: label -> (page#anchor, section title)
SKLEARN_LABELS = {
    "metadata_routing": ("metadata_routing.html#metadata-routing", "Metadata Routing"),
    "visualizing_composite_estimators": (
        "modules/compose.html#visualizing-composite-estimators",
        "Visualizing Composite Estimators",
    ),
    "sgd": ("modules/sgd.html#sgd", "Stochastic Gradient Descent"),
    "grid_search": (
        "modules/grid_search.html#grid-search",
        "Tuning the hyper-parameters of an estimator",
    ),
    "scaling_strategies": (
        "computing/scaling_strategies.html#scaling-strategies",
        "Strategies to scale computationally: bigger data",
    ),
    "glossary": ("glossary.html#glossary", "Glossary of Common Terms and API Elements"),
}

# scikit-learn's glossary terms (anchors ``term-<term>``, as Sphinx makes them)
SKLEARN_TERMS = [
    "classifier",
    "consumer",
    "cross-validation",
    "decision_function",
    "early stopping",
    "estimator",
    "estimators",
    "fit",
    "meta-estimator",
    "meta-estimators",
    "metadata",
    "n_jobs",
    "partial_fit",
    "predict",
    "predict_proba",
    "random_state",
    "regressor",
    "router",
    "sample_weight",
    "score",
    "warm_start",
]

# other projects: (inventory file, project name, package to check against,
# {name: (domain:role, uri relative to the base in docs/conf.py)})
_NP = "reference/generated/numpy.{}.html#numpy.{}"
_NUMPY_FUNCTIONS = [
    "arange",
    "array",
    "asarray",
    "column_stack",
    "exp",
    "isnan",
    "linspace",
    "load",
    "logaddexp",
    "maximum",
    "mean",
    "nanmin",
    "ones",
    "ravel",
    "sqrt",
    "sum",
    "where",
    "zeros",
    "allclose",
    "dot",
    "abs",
    "log",
    "median",
]
NUMPY = {
    **{f"numpy.{f}": ("py:function", _NP.format(f, f)) for f in _NUMPY_FUNCTIONS},
    "numpy.ndarray": ("py:class", _NP.format("ndarray", "ndarray")),
    "numpy.float32": ("py:attribute", "reference/arrays.scalars.html#numpy.float32"),
    "numpy.float64": ("py:attribute", "reference/arrays.scalars.html#numpy.float64"),
    "numpy.nan": ("py:data", "reference/constants.html#numpy.nan"),
    "numpy.random": ("py:module", "reference/random/index.html#module-numpy.random"),
    "numpy.random.RandomState": (
        "py:class",
        "reference/random/legacy.html#numpy.random.RandomState",
    ),
    "numpy.random.default_rng": (
        "py:function",
        "reference/random/generator.html#numpy.random.default_rng",
    ),
    "numpy.random.Generator": (
        "py:class",
        "reference/random/generator.html#numpy.random.Generator",
    ),
}

_SP = "reference/generated/scipy.sparse.{}.html#scipy.sparse.{}"
SCIPY = {
    "scipy.sparse": ("py:module", "reference/sparse.html#module-scipy.sparse"),
    **{
        f"scipy.sparse.{c}": ("py:class", _SP.format(c, c))
        for c in ["csr_matrix", "csr_array", "csc_matrix", "coo_matrix"]
    },
    "scipy.sparse.random": ("py:function", _SP.format("random", "random")),
    "scipy.optimize.minimize": (
        "py:function",
        "reference/generated/scipy.optimize.minimize.html#scipy.optimize.minimize",
    ),
}

_MPL = "api/_as_gen/{}.html#{}"
MATPLOTLIB = {
    **{
        f"matplotlib.pyplot.{f}": (
            "py:function",
            _MPL.format(*[f"matplotlib.pyplot.{f}"] * 2),
        )
        for f in ["subplots", "show", "tight_layout", "title", "figure"]
    },
    "matplotlib.pyplot": (
        "py:module",
        "api/pyplot_summary.html#module-matplotlib.pyplot",
    ),
    "matplotlib.axes.Axes": (
        "py:class",
        "api/_as_gen/matplotlib.axes.Axes.html#matplotlib.axes.Axes",
    ),
    "matplotlib.axes.Axes.plot": (
        "py:method",
        _MPL.format(*["matplotlib.axes.Axes.plot"] * 2),
    ),
    "matplotlib.figure.Figure": (
        "py:class",
        "api/_as_gen/matplotlib.figure.Figure.html#matplotlib.figure.Figure",
    ),
    "matplotlib.ticker.FormatStrFormatter": (
        "py:class",
        "api/ticker_api.html#matplotlib.ticker.FormatStrFormatter",
    ),
}

DASK = {
    "dask.array": ("py:module", "array.html#module-dask.array"),
    "dask.array.Array": (
        "py:class",
        "generated/dask.array.Array.html#dask.array.Array",
    ),
    "dask.array.from_array": (
        "py:function",
        "generated/dask.array.from_array.html#dask.array.from_array",
    ),
    "dask.array.random.random": (
        "py:function",
        "generated/dask.array.random.random.html#dask.array.random.random",
    ),
}

DASK_ML = {
    "dask_ml.wrappers.Incremental": (
        "py:class",
        "modules/generated/dask_ml.wrappers.Incremental.html#dask_ml.wrappers.Incremental",
    ),
}

_LIB = "library/{}.html#{}"
PYTHON = {
    **{
        b: ("py:class", _LIB.format("functions", b))
        for b in ["int", "float", "bool", "object"]
    },
    **{
        b: ("py:class", _LIB.format("stdtypes", b))
        for b in ["str", "dict", "list", "tuple"]
    },
    "callable": ("py:function", _LIB.format("functions", "callable")),
    "None": ("py:data", _LIB.format("constants", "None")),
    **{
        e: ("py:exception", _LIB.format("exceptions", e))
        for e in [
            "ValueError",
            "TypeError",
            "RuntimeError",
            "UserWarning",
            "RuntimeWarning",
        ]
    },
    **{
        f"warnings.{f}": (role, _LIB.format("warnings", f"warnings.{f}"))
        for f, role in [
            ("warn", "py:function"),
            ("catch_warnings", "py:class"),
            ("simplefilter", "py:function"),
            ("showwarning", "py:function"),
        ]
    },
    **{
        m: ("py:module", f"library/{m}.html#module-{m}")
        for m in ["os.path", "warnings", "time", "tempfile", "tracemalloc"]
    },
    "pickle": ("py:module", "library/pickle.html#module-pickle"),
    "tempfile.TemporaryDirectory": (
        "py:class",
        _LIB.format("tempfile", "tempfile.TemporaryDirectory"),
    ),
    "time.perf_counter": ("py:function", _LIB.format("time", "time.perf_counter")),
    **{
        f"tracemalloc.{f}": (
            "py:function",
            _LIB.format("tracemalloc", f"tracemalloc.{f}"),
        )
        for f in ["start", "stop", "get_traced_memory"]
    },
}


def _resolve(name):
    """The object called ``name`` in the installed packages (builtins too)."""
    if name in {"None"}:
        return None
    import builtins

    if hasattr(builtins, name):
        return getattr(builtins, name)
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def _public_names(module):
    """``__all__``, or else the public classes and functions defined there."""
    if hasattr(module, "__all__"):
        return module.__all__
    names = []
    for name, obj in vars(module).items():
        home = getattr(obj, "__module__", None) or ""
        private_home = any(p.startswith("_") for p in home.split("."))
        if (
            not name.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and (
                home == module.__name__
                or (home.startswith("sklearn.") and private_home)
            )
        ):
            names.append(name)
    return names


def _sklearn_entries():
    import sklearn

    # the experimental estimators are documented at their final place
    from sklearn.experimental import (  # noqa: F401
        enable_halving_search_cv,
        enable_iterative_imputer,
    )

    gen = "modules/generated/{0}.html#{0}"
    entries = {}
    modules = ["sklearn"]
    for info in pkgutil.walk_packages(sklearn.__path__, "sklearn."):
        parts = info.name.split(".")
        if any(
            p.startswith("_") or p in {"tests", "externals", "experimental"}
            for p in parts
        ):
            continue
        if len(parts) <= 3:
            modules.append(info.name)
    for modname in modules:
        try:
            module = importlib.import_module(modname)
        except ImportError:  # an optional dependency is missing
            continue
        if modname != "sklearn":
            entries[modname] = ("py:module", f"api/{modname}.html#module-{modname}")
        for name in _public_names(module):
            obj = getattr(module, name, None)
            full = f"{modname}.{name}"
            if inspect.ismodule(obj) or obj is None:
                continue
            if inspect.isclass(obj):
                entries.setdefault(full, ("py:class", gen.format(full)))
                page = gen.format(full).split("#")[0]
                # the page documents the inherited methods too
                for attr in dir(obj):
                    member = inspect.getattr_static(obj, attr, None)
                    if not attr.startswith("_") and (
                        callable(member)
                        or isinstance(member, (classmethod, staticmethod))
                    ):
                        method = f"{full}.{attr}"
                        entries.setdefault(method, ("py:method", f"{page}#{method}"))
            elif callable(obj):
                entries.setdefault(full, ("py:function", gen.format(full)))
    lines = [(name, role, uri, "-") for name, (role, uri) in entries.items()]
    for label, (uri, title) in SKLEARN_LABELS.items():
        lines.append((label, "std:label", uri, title))
    for term in SKLEARN_TERMS:
        anchor = "term-" + term.replace(" ", "-")
        lines.append((term, "std:term", f"glossary.html#{anchor}", term))
    return sklearn.__version__, lines


def _checked(objects):
    lines = []
    for name, (role, uri) in objects.items():
        _resolve(name)  # fails loudly if the installed package lacks it
        lines.append((name, role, uri, "-"))
    return lines


def write_inventory(path, project, version, lines):
    """Write ``lines`` (name, domain:role, uri, dispname) as a v2 inventory."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(
        f"{name} {role} {-1 if role == 'std:label' else 1} {uri} {disp}\n"
        for name, role, uri, disp in sorted(lines)
    )
    path.write_bytes(header.encode() + zlib.compress(body.encode(), 9))
    print(f"{path.name}: {len(lines)} objects")


def main():
    version, lines = _sklearn_entries()
    write_inventory(HERE / "sklearn-objects.inv", "scikit-learn", version, lines)
    for stem, project, module, objects in [
        ("numpy", "NumPy", "numpy", NUMPY),
        ("scipy", "SciPy", "scipy", SCIPY),
        ("matplotlib", "Matplotlib", "matplotlib", MATPLOTLIB),
        ("dask", "Dask", "dask", DASK),
        ("dask-ml", "dask-ml", "dask_ml", DASK_ML),
        ("python", "Python", None, PYTHON),
    ]:
        if module is None:
            import platform

            version = ".".join(platform.python_version_tuple()[:2])
        else:
            version = importlib.import_module(module).__version__
        write_inventory(
            HERE / f"{stem}-objects.inv", project, version, _checked(objects)
        )


if __name__ == "__main__":
    main()
