"""Sphinx configuration of the skgd documentation.

Build (from the repository root, with the ``docs`` extra installed and skgd
importable, e.g. ``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

or ``make -C docs html``.  The build needs no network access and neither do
the pages it makes:

* math is rendered by a copy of MathJax 3 shipped with the site (from the
  ``sphinx-mathjax-offline`` package of the ``docs`` extra), not by a CDN;
* links to scikit-learn, NumPy, SciPy, matplotlib, dask and Python come from
  intersphinx inventories kept in ``docs/_inventories`` (regenerate them with
  ``python docs/_inventories/make_inventories.py``);
* the gallery examples generate their own data or use data sets bundled
  with scikit-learn.

The build runs every ``examples/plot_*.py`` script (sphinx-gallery);
``make -C docs html-noplot`` skips them.  Generated files go to
``docs/_build``, ``docs/auto_examples`` and ``docs/gen_modules`` (all ignored
by git).
"""

import re
import shutil
from datetime import date
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

# import the installed skgd (the compiled extensions are not in the tree)
import skgd

# -- Project information -------------------------------------------------------
project = "skgd"
author = "skgd developers"
copyright = f"{date.today().year}, {author}"
version = skgd.__version__
release = skgd.__version__


# The supported versions, as pyproject.toml declares them (install.rst)
def _declared_requirements():
    try:
        import tomllib
    except ImportError:  # Python 3.10: the metadata of the installed skgd
        from importlib.metadata import metadata

        meta = metadata("skgd")
        return meta["Requires-Python"], [
            r for r in meta.get_all("Requires-Dist") if "extra ==" not in r
        ]
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return project["requires-python"], project["dependencies"]


def _version_text(requirement):
    name, bound = re.match(r"([A-Za-z0-9_.-]+)\s*([<>=!~].*)?", requirement).groups()
    return f"{name} {bound.replace('>=', '>= ')}" if bound else name


_python, _deps = _declared_requirements()
rst_prolog = f"""
.. |requires_python| replace:: {_python.replace(">=", ">= ")}
.. |requires_deps| replace:: {", ".join(_version_text(d) for d in _deps)}
"""

# -- General configuration -----------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# autodoc / autosummary: one page per public class, generated at build time
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"

# numpydoc renders the docstrings; autodoc (``:members:`` in the class
# template) documents the methods, so numpydoc adds no member tables
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Links to other projects (offline) -----------------------------------------
# The inventories are files in the repository (see
# _inventories/make_inventories.py): the build fetches nothing, the pages
# link to the projects' sites.
intersphinx_mapping = {
    name: (url, f"_inventories/{name}-objects.inv")
    for name, url in {
        "sklearn": "https://scikit-learn.org/stable/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "matplotlib": "https://matplotlib.org/stable/",
        "dask": "https://docs.dask.org/en/stable/",
        "dask-ml": "https://ml.dask.org/",
        "python": "https://docs.python.org/3/",
    }.items()
}
intersphinx_timeout = 1

# -- Math without a CDN --------------------------------------------------------
# MathJax 3 (tex-chtml: TeX input, HTML output, fonts and the extensions it
# loads on demand) is copied from the sphinx-mathjax-offline package into the
# site's _static/mathjax; the pages load it from there.
_MATHJAX_KEEP = ("tex-chtml.js", "input", "output", "ui", "a11y", "sre", "adaptors")
mathjax_path = "mathjax/tex-chtml.js"


def _mathjax_source():
    try:
        dist = distribution("sphinx-mathjax-offline")
    except PackageNotFoundError:
        raise RuntimeError(
            "the docs render math with a local MathJax: install the docs extra "
            '(pip install ".[docs]", which brings sphinx-mathjax-offline)'
        ) from None
    return Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))


def _copy_mathjax(app):
    if app.builder.format != "html":
        return
    source, target = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for name in _MATHJAX_KEEP:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skgd",),
    "backreferences_dir": "gen_modules/backreferences",
    "inspect_global_variables": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 0,
    "show_memory": False,
    "matplotlib_animations": False,
}

def setup(app):
    app.connect("builder-inited", _copy_mathjax)


# -- HTML output ---------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skgd {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "navbar_end": ["theme-switcher"],
}
# the pages with no sub-pages have nothing for the left sidebar ("Section
# Navigation"): drop it there; the right one lists the page's sections
html_sidebars = {page: [] for page in ["index", "install", "user_guide", "changes"]}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
