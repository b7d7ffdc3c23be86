"""Warnings under a live ProgressBar (user guide, "Warnings under a live
progress bar").

Each case runs a grid search in a child process on a pseudo-terminal, so that
rich draws its live display as it does in a terminal, and replays the bytes
on a small terminal model.  With joblib's worker processes, a worker writes
its warnings under the display, which then leaves stale copies of the
progress tree: scikit-learn's behaviour, with any estimator.  The remedy that
the user guide gives first, filtering the warning for the search (scikit-learn
passes the filters on to its workers), leaves the tree once on the screen.

(Worker threads and ``n_jobs=1`` print the warnings through rich's console,
which keeps the tree whole, but rich's monitor thread may still leave a stray
line of it when a print and a redraw coincide: not tested here, it is timing.)
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sklearn.callback")
pytest.importorskip("rich")
pty = pytest.importorskip("pty")  # POSIX only

WIDTH, HEIGHT = 300, 100
SCRIPT = """
import warnings
from joblib import parallel_config
from sklearn.callback import ProgressBar
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from skgd import GDClassifier

X, y = make_classification(n_samples=200, n_features=8, random_state=0)
grid = {{"mode": ["sgd", "minibatch", "batch"]}}
search = GridSearchCV(GDClassifier(max_iter=2, tol=1e-12, random_state=0), grid,
                      n_jobs={n_jobs}, cv=2)
search.set_callbacks(ProgressBar())
with parallel_config(backend="{backend}"), warnings.catch_warnings():
    warnings.simplefilter("{action}", ConvergenceWarning)
    search.fit(X, y)  # the fit line
print("DONE", search.best_estimator_.n_iter_)
"""
_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
MESSAGE = ("ConvergenceWarning: Maximum number of iteration reached before "
           "convergence. Consider increasing max_iter to improve the fit.")


def _screen(data, width=WIDTH):
    """The lines a terminal shows after ``data`` (scrollback included).

    Enough of a VT100 for rich's live display: printable text with
    auto-wrap, CR, LF, cursor up (``ESC [ n A``) and erase line
    (``ESC [ 2 K``); colours and other sequences are dropped.
    """
    chars = data.decode("utf-8", "replace")
    lines, row, col, i = [[]], 0, 0, 0
    while i < len(chars):
        ch = chars[i]
        if ch == "\x1b":
            m = _CSI.match(chars, i)
            if m is None:
                i += 1
                continue
            arg, cmd = m.groups()
            if cmd == "A":
                row = max(0, row - int(arg or 1))
            elif cmd == "K" and arg == "2":
                lines[row] = []
            i = m.end()
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
        elif ch >= " ":
            if col >= width:
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = ch
            col += 1
        while len(lines) <= row:
            lines.append([])
        i += 1
    return ["".join(line).rstrip() for line in lines]


def _run(tmp_path, n_jobs, backend="loky", action="default"):
    script = tmp_path / "search.py"
    script.write_text(textwrap.dedent(SCRIPT.format(n_jobs=n_jobs, backend=backend,
                                                    action=action)))
    env = dict(os.environ, COLUMNS=str(WIDTH), LINES=str(HEIGHT), TERM="xterm")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    controller, terminal = pty.openpty()
    try:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        proc = subprocess.Popen([sys.executable, str(script)], stdin=terminal,
                                stdout=terminal, stderr=terminal, env=env,
                                cwd=tmp_path, close_fds=True)
        os.close(terminal)
        terminal = None
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        os.close(controller)
        if terminal is not None:
            os.close(terminal)
    raw = b"".join(chunks)
    assert b"\x1b[" in raw, "rich did not draw a live display"
    return _screen(raw), str(script)


def _tree_once(screen):
    """Whether the final screen holds the progress tree once, finished."""
    text = "\n".join(screen)
    assert "DONE 2" in text, text
    roots = [line for line in screen if line.startswith("GridSearchCV - fit")]
    fits = [line for line in screen if "candidate-split-evaluation" in line]
    return len(roots) == 1 and len(fits) == 3 * 2 and "100%" in roots[0]


def test_filtered_warnings_keep_the_display_intact(tmp_path):
    screen, _ = _run(tmp_path, n_jobs=2, action="ignore")
    assert _tree_once(screen), "\n".join(screen)
    assert not any("ConvergenceWarning" in line for line in screen)


def test_worker_process_warnings_break_the_display(tmp_path):
    # scikit-learn's ProgressBar with loky workers: the reason for the user
    # guide's remedies; if a scikit-learn release fixes it, this test fails
    # and the user guide's paragraph can go
    screen, _ = _run(tmp_path, n_jobs=2)
    assert any(MESSAGE in line for line in screen), "\n".join(screen)
    assert not _tree_once(screen), "\n".join(screen)
