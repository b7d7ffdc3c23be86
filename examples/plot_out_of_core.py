"""
==========================================================
Out-of-core learning: streaming a file through partial_fit
==========================================================

When the training data do not fit in memory, read them chunk by chunk and
call ``partial_fit`` on each chunk.  Each call runs one epoch over the chunk
and carries the state over to the next one: the weights, the update counter
``t_`` (so the learning-rate schedule keeps decaying) and the averaging
state.  Memory use is set by the chunk size, not by the size of the file.
"""

# %%
# A data file on disk, written chunk by chunk
# -------------------------------------------
# The file is generated here: 100,000 rows of 100 float32 features and a
# binary label drawn from a noisy logistic model.  It is a ``.npy`` file
# written through a memory map, one block of rows at a time, so it is never
# held in memory in full, not even while it is written.  A separate test set
# of 5,000 rows stays in memory to track progress.
import os
import tempfile
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

from skgd import GDClassifier

n_rows, n_features = 100_000, 100
true_coef = np.random.default_rng(42).normal(size=n_features) * 5 / np.sqrt(n_features)


def make_rows(n, rng):
    """Features, and labels from a logistic model: last column is the label."""
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(X @ true_coef + 0.5)))
    y = (rng.random(n) < p).astype(np.float32)
    return np.column_stack([X, y])


tmpdir = tempfile.TemporaryDirectory()
path = os.path.join(tmpdir.name, "train.npy")
out = np.lib.format.open_memmap(
    path, mode="w+", dtype=np.float32, shape=(n_rows, n_features + 1)
)
rng = np.random.default_rng(0)
for start in range(0, n_rows, 10_000):
    out[start:start + 10_000] = make_rows(10_000, rng)
out.flush()
del out

test = make_rows(5_000, np.random.default_rng(1))
X_test, y_test = test[:, :-1], test[:, -1]
print(f"train.npy: {os.path.getsize(path) / 1e6:.1f} MB on disk")

# %%
# Streaming the file through partial_fit
# --------------------------------------
# ``np.load(..., mmap_mode="r")`` maps the file without reading it; slicing
# 2,000 rows and copying them with :func:`numpy.array` reads one chunk from
# disk.  All the labels of the stream must be given as ``classes`` on the
# first call.  Averaging (``average=True``) smooths the noise of the
# per-sample steps; its state is carried between calls like the weights.
# The chunks stay float32: nothing is copied to float64.
#
# :mod:`tracemalloc` records the peak of the memory allocated while
# streaming (the pages of the memory map are managed by the operating
# system, which evicts them as needed).
clf = GDClassifier(loss="log_loss", alpha=1e-5, average=True, random_state=0)
chunksize = 2_000
data = np.load(path, mmap_mode="r")
rows_seen, accuracy = [], []
tracemalloc.start()
for start in range(0, data.shape[0], chunksize):
    chunk = np.array(data[start:start + chunksize])
    clf.partial_fit(chunk[:, :-1], chunk[:, -1], classes=[0.0, 1.0])
    rows_seen.append(start + len(chunk))
    accuracy.append(clf.score(X_test, y_test))
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
del data
tmpdir.cleanup()

print(f"{rows_seen[-1]} rows streamed, {clf.t_ - 1:.0f} updates, coef_ {clf.coef_.dtype}")
print(f"peak memory allocated while streaming: {peak / 1e6:.1f} MB "
      f"(one chunk is {chunk.nbytes / 1e6:.1f} MB)")
print(f"final test accuracy: {accuracy[-1]:.4f}")

# %%
# Test accuracy against rows seen
# -------------------------------
# The accuracy climbs over the first tens of thousands of rows and levels
# off near the accuracy of the model that generated the data (dashed line),
# the best any classifier can do on this test set.
best = np.mean((X_test @ true_coef + 0.5 > 0) == y_test)
fig, ax = plt.subplots(figsize=(7, 4))
ax.semilogx(rows_seen, accuracy, marker=".")
ax.axhline(best, color="gray", linestyle="--", label="generating model")
ax.set(xlabel="training rows seen", ylabel="test accuracy",
       title="partial_fit on a file streamed in chunks of 2,000 rows")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
