"""
Training curves: a small CNN with dropout 0.5 and without
==========================================================

The lesson's first practice steps: train a small CNN, track the training and validation
curves, and compare dropout 0.5 with no dropout. The network is the lesson's plain CNN
(two Conv -> ReLU -> max-pool blocks, flattened into a dense layer of 128 units) without batch
normalization or augmentation, trained on a small subset so that overfitting shows quickly.

The data is a class-balanced subset of CIFAR-10 when the CIFAR-10 JPEG archive
``../shared/datasets/cifar10-jpeg.tar.gz`` is there, otherwise sklearn's digits (the script
says which). ``SK_CNN_EXAMPLE_DATA=digits`` forces digits: the documentation build does, so
the pictures in the online gallery are of digits.
"""

# %%
# The data
# --------
import time

from example_data import load_example_data, output_dir
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer
from sk_cnn.plotting import compare_histories, plot_history

data = load_example_data(n_train=1500, n_test=1000)
print(data.description)

# %%
# Two runs that differ only in dropout
# ------------------------------------
# ``validation_fraction=0.2`` holds out a stratified fifth of the training images; the
# classifier's ``history`` records the loss and accuracy on both parts after every epoch.


def plain_cnn(dropout):
    return Pipeline([
        ("norm", ImageNormalizer()),
        ("cnn", CNNClassifier(conv_filters=(16, 32), batch_norm=False, global_pool="flatten",
                              dense_units=(128,), dropout=dropout, lr_schedule=None,
                              max_epochs=12, validation_fraction=0.2, random_state=0,
                              verbose=0)),
    ])


runs = {}
for name, dropout in [("dropout 0.5", 0.5), ("no dropout", 0.0)]:
    start = time.perf_counter()
    runs[name] = plain_cnn(dropout).fit(data.X_train, data.y_train)
    history = runs[name][-1].history
    print(f"{name}: fit in {time.perf_counter() - start:.1f} s, "
          f"final train loss {history[-1, 'train_loss']:.3f}, "
          f"validation loss {history[-1, 'valid_loss']:.3f} "
          f"(best {min(history[:, 'valid_loss']):.3f}), "
          f"test accuracy {runs[name].score(data.X_test, data.y_test):.3f}")

# %%
# Training and validation curves of one run
# -----------------------------------------
# The gap between the solid (training) and dashed (validation) curves is the overfitting.
# Dropout is active only while training, so the training loss is measured on a handicapped
# network and can sit above the validation loss.
out = output_dir()
fig = plot_history(runs["no dropout"])
fig.suptitle("no dropout")
fig.savefig(out / "training_curves_no_dropout.png")

# %%
# Dropout 0.5 versus none
# -----------------------
# On the CIFAR-10 subset, without dropout the training loss keeps falling while the
# validation loss turns up after a few epochs: the network memorizes the small training set.
# With dropout the validation loss stays near its best. Digits are much easier, and there the
# two runs end close together.
fig = compare_histories(runs)
fig.savefig(out / "dropout_comparison.png")
print(f"pictures saved in {out.resolve()}")
