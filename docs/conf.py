"""Sphinx configuration of the skgd documentation.

Build (from the repository root, with the ``docs`` extra installed and skgd
importable, e.g. ``pip install -e . sphinx numpydoc sphinx-gallery
pydata-sphinx-theme matplotlib``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

or ``make -C docs html``.  The build needs no network access: intersphinx is
not used, and the gallery examples generate their own data.  It runs every
``examples/plot_*.py`` script (sphinx-gallery); ``make -C docs html-noplot``
skips them.  Generated files go to ``docs/_build``, ``docs/auto_examples``
and ``docs/gen_modules`` (all ignored by git).
"""

import re
from datetime import date

# import the installed skgd (the compiled extensions are not in the tree)
import skgd

# -- Project information -------------------------------------------------------
project = "skgd"
author = "skgd developers"
copyright = f"{date.today().year}, {author}"
version = skgd.__version__
release = skgd.__version__

# -- General configuration -----------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
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

# Offline build: no intersphinx inventories are fetched.  References to
# scikit-learn, NumPy or pandas objects are rendered as plain code.

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

# -- Docstring fix-ups ---------------------------------------------------------
# Methods inherited from scikit-learn (score, get_params, set_*_request, ...)
# carry :ref: / :term: roles that point into scikit-learn's own documentation.
# Without intersphinx (offline build) they cannot resolve: render their text.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")
# In reST ``name_`` is a reference: skgd's docstrings write the shape
# ``(n_features_in_,)`` without backticks (scikit-learn quotes the name), which
# would be an unknown target.  Quote it (a no-op once the docstrings do).
_BARE_ATTRIBUTE = re.compile(r"(?<![`\w])(n_features_in_)(?![`\w])")


def _fix_docstring(app, what, name, obj, options, lines):
    from_sklearn = getattr(obj, "__module__", "") or ""
    for i, line in enumerate(lines):
        if from_sklearn.startswith("sklearn."):
            line = _SKLEARN_ROLE.sub(r"\1", line)
        lines[i] = _BARE_ATTRIBUTE.sub(r"`\1`", line)


def setup(app):
    app.connect("autodoc-process-docstring", _fix_docstring)


# -- HTML output ---------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skgd {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "navbar_end": ["theme-switcher"],
}
html_static_path = []
html_show_sourcelink = False
