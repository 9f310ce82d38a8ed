"""
Grid search over dropout and optimizer
======================================

The whole pipeline is an ordinary scikit-learn estimator, so GridSearchCV tunes the CNN's
parameters (``cnn__dropout``, ``cnn__optimizer``) with cross-validation, two fits at a time.
joblib's worker processes limit torch to ``cores // n_jobs`` threads each, so the two jobs do not
fight over the cores. The mean cross-validated accuracy of each candidate is saved as a
picture under ``output`` (``SK_CNN_EXAMPLE_OUTPUT`` changes the folder).
"""

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, ImageReshaper

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

pipe = Pipeline([
    ("reshape", ImageReshaper(image_shape=(8, 8))),
    ("norm", ImageNormalizer()),
    ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
    ("cnn", CNNClassifier(max_epochs=5, random_state=0, verbose=0)),
])
grid = GridSearchCV(pipe, {"cnn__dropout": [0.0, 0.5], "cnn__optimizer": ["adam", "sgd"]},
                    cv=3, n_jobs=2)

# %%
start = time.perf_counter()
grid.fit(X_train, y_train)
print(f"grid search of 12 fits + refit in {time.perf_counter() - start:.1f} s")
results = grid.cv_results_
print("dropout  optimizer  mean accuracy  std")
for i in results["rank_test_score"].argsort():
    print(f"{results['param_cnn__dropout'][i]:>7}  {results['param_cnn__optimizer'][i]:>9}  "
          f"{results['mean_test_score'][i]:>13.4f}  {results['std_test_score'][i]:.4f}")
print(f"best: {grid.best_params_}, test accuracy {grid.score(X_test, y_test):.4f}")

# %%
# Mean accuracy over the three validation folds of each candidate; the bars span one
# standard deviation either side.
names = [f"dropout {params['cnn__dropout']}\n{params['cnn__optimizer']}"
         for params in results["params"]]
fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
ax.errorbar(names, results["mean_test_score"], yerr=results["std_test_score"], fmt="o",
            capsize=4)
ax.set(ylabel="mean cross-validated accuracy",
       title="Grid search: cross-validated accuracy per candidate")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the picture goes
out.mkdir(parents=True, exist_ok=True)
fig.savefig(out / "grid_search_scores.png")
print(f"picture saved in {out.resolve()}")
