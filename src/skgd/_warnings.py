"""Warnings that point at the user's line, not at skgd's or scikit-learn's."""

import os
import sys

import sklearn

# frames in these folders are library code: a warning skips them
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (sklearn, sys.modules[__package__])
)


def user_stacklevel():
    """The ``stacklevel`` of the first frame outside skgd and scikit-learn.

    Counted for a ``warnings.warn`` call made by the caller of this function:
    ``fit`` is wrapped by scikit-learn's ``_fit_context`` and may be called by
    a ``Pipeline`` or a search, so a fixed level would point at
    ``sklearn/base.py`` or at one of skgd's own modules.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(
        frame.f_code.co_filename
    ).startswith(_LIBRARY_DIRS):
        frame = frame.f_back
        level += 1
    return level

