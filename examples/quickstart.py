"""
Quickstart: a CNN on sklearn's digits in a scikit-learn Pipeline
=================================================================

Flat 8x8 digit rows are reshaped into images, normalized with statistics learned on the
training data, augmented (random 1-pixel shifts, training batches only) and classified by a
small CNN. The fitted pipeline, normalization statistics included, is saved with joblib, and
the confusion matrix of the test set beside it, under ``output`` (``SK_CNN_EXAMPLE_OUTPUT``
changes the folder; a path given as the first argument, the model's file). Runs offline in
seconds on a CPU.
"""

# %%
import os
import sys
import time
from pathlib import Path

import joblib
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, ImageReshaper
from sk_cnn.plotting import plot_confusion_matrix

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

pipe = Pipeline([
    ("reshape", ImageReshaper(image_shape=(8, 8))),      # flat rows -> images
    ("norm", ImageNormalizer()),                          # per-channel mean/std learned in fit
    ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),  # training batches only
    ("cnn", CNNClassifier(random_state=0)),
])

# %%
start = time.perf_counter()
pipe.fit(X_train, y_train)
print(f"fit in {time.perf_counter() - start:.1f} s")
print(f"test accuracy: {pipe.score(X_test, y_test):.4f}")

# %%
# Rows are the true digits, columns the predictions: the few mistakes lie off the diagonal.
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the picture goes
out.mkdir(parents=True, exist_ok=True)
fig = plot_confusion_matrix(pipe, X_test, y_test)
fig.savefig(out / "confusion_matrix.png")
print(f"picture saved in {out.resolve()}")

# %%
path = sys.argv[1] if len(sys.argv) > 1 else out / "model.joblib"
joblib.dump(pipe, path)
print(f"saved the fitted pipeline to {path}; "
      f"joblib.load({str(path)!r}).predict(X) reuses it (load pickles from trusted sources only)")
