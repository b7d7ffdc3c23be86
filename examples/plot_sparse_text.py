"""
=============================================
Text classification on sparse hashed features
=============================================

Text vectorisers produce very wide, very sparse matrices.
:class:`~skgd.GDClassifier` trains on SciPy CSR matrices directly: an update
costs time proportional to the number of nonzeros of its rows, never to the
number of features, the matrix is never densified, and float32 data stay
float32.  This example classifies generated documents hashed into
:math:`2^{18}` features with :class:`~sklearn.feature_extraction.text.HashingVectorizer`.
"""

# %%
# Generated documents
# -------------------
# Nothing is downloaded: each of four topics has its own small vocabulary of
# made-up words, and every document mixes words of its topic with words drawn
# from a shared background vocabulary.  Only 12% of the words carry the
# topic, so a short document can be ambiguous and the task is not trivial.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

from skgd import GDClassifier

rng = np.random.default_rng(0)
letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def make_words(n):
    """``n`` distinct made-up words of 4 to 8 letters."""
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters, size=rng.integers(4, 9))))
    return np.array(sorted(words))


topics = ["sport", "finance", "science", "travel"]
background = make_words(2_000)
topic_words = {topic: make_words(300) for topic in topics}


def make_document(topic):
    n_words = rng.integers(15, 50)
    from_topic = rng.random(n_words) < 0.12
    words = np.where(
        from_topic,
        rng.choice(topic_words[topic], size=n_words),
        rng.choice(background, size=n_words),
    )
    return " ".join(words)


labels = rng.choice(topics, size=8_000)
documents = [make_document(topic) for topic in labels]
print(documents[0][:120], "...")

# %%
# Hashed, sparse, float32 features
# --------------------------------
# :class:`~sklearn.feature_extraction.text.HashingVectorizer` needs no
# vocabulary and no fit, so it also suits streams.  Its rows are normalised
# to unit L2 norm, which suits gradient descent without further scaling.
vectorizer = HashingVectorizer(n_features=2**18, alternate_sign=False, dtype=np.float32)
X = vectorizer.transform(documents)
X_train, X_test, y_train, y_test = train_test_split(
    X, labels, test_size=0.25, random_state=0, stratify=labels
)
density = X.nnz / (X.shape[0] * X.shape[1])
print(f"X: {X.shape[0]} x {X.shape[1]} {X.format.upper()}, {X.dtype}, "
      f"{X.nnz} nonzeros (density {density:.1e})")
print(f"as a dense float32 array it would take {X.shape[0] * X.shape[1] * 4 / 1e9:.1f} GB")

# %%
# Training on the sparse matrix
# -----------------------------
# The four classes are fitted one-vs-rest.  With sparse rows the L2 penalty
# is applied through a scalar scale of the weights and the weights are
# updated only on the coordinates a row touches.  Minibatch mode averages 32
# rows per update; the coefficients keep the data's float32 precision.
clf = GDClassifier(
    loss="log_loss", alpha=1e-5, mode="minibatch", batch_size=32, random_state=0
)
clf.fit(X_train, y_train)
print(f"{clf.n_iter_} epochs, coef_ {clf.coef_.shape} {clf.coef_.dtype}")
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# Confusion matrix on the held-out documents
# ------------------------------------------
ConfusionMatrixDisplay.from_estimator(clf, X_test, y_test, cmap="Blues", colorbar=False)
plt.title("GDClassifier on hashed text")
plt.tight_layout()
plt.show()
