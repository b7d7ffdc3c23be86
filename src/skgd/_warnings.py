"""Warnings that point at the user's line, not at skgd's or scikit-learn's."""

import os
import sys
import sysconfig

import sklearn


def _folder(module):
    return os.path.dirname(os.path.abspath(module.__file__)) + os.sep


# frames in these folders are library code: a warning skips them
_LIBRARY_DIRS = tuple(_folder(m) for m in (sklearn, sys.modules[__package__]))
try:  # a search with n_jobs=None calls fit through joblib, in the same thread
    import joblib

    _RUNNER_DIRS = (_folder(joblib),)
except ImportError:  # pragma: no cover - scikit-learn requires joblib
    _RUNNER_DIRS = ()
_PATHS = sysconfig.get_paths()
_STDLIB_DIR = os.path.abspath(_PATHS["stdlib"]) + os.sep
_SITE_DIRS = tuple(os.path.abspath(_PATHS[k]) + os.sep for k in ("purelib", "platlib"))


def _in_stdlib(frame):
    path = os.path.abspath(frame.f_code.co_filename)
    return path.startswith(_STDLIB_DIR) and not path.startswith(_SITE_DIRS)


def _level_of_first_frame_outside(dirs):
    """(level, frame): the first frame, from the caller's caller up, not in dirs."""
    frame = sys._getframe(2)
    level = 1
    while frame is not None and os.path.abspath(
        frame.f_code.co_filename
    ).startswith(dirs):
        frame = frame.f_back
        level += 1
    return level, frame


def user_stacklevel():
    """The ``stacklevel`` of the first frame outside skgd and scikit-learn.

    Counted for a ``warnings.warn`` call made by the caller of this function:
    ``fit`` is wrapped by scikit-learn's ``_fit_context`` and may be called by
    a ``Pipeline`` or a search, so a fixed level would point at
    ``sklearn/base.py`` or at one of skgd's own modules.  joblib's frames are
    skipped too, so that the fits of a search with ``n_jobs=None`` (run one
    after the other, in the caller's thread) point at the line that called the
    search's ``fit``.  In a joblib worker (a thread or a process of a search
    with ``n_jobs > 1``), the stack holds no line of the user: the warning
    then points at joblib's frame that called ``fit``.
    """
    level, frame = _level_of_first_frame_outside(_LIBRARY_DIRS + _RUNNER_DIRS)
    if frame is None or _in_stdlib(frame):
        # no caller of the user's: a worker thread or process of joblib
        level, frame = _level_of_first_frame_outside(_LIBRARY_DIRS)
    return level
