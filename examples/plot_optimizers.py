"""
Optimizers: SGD with momentum versus Adam
=========================================

The lesson's practice step on optimizers: train the same CNN with SGD + momentum and with Adam
and compare how fast they converge. Both use sk_cnn's default learning rates (SGD: 0.05 with
momentum 0.9; Adam: 2e-3, chosen in ``benchmarks/defaults.py``) and a constant learning rate,
so that only the optimizer differs.

The data is a class-balanced subset of CIFAR-10 when the CIFAR-10 JPEG archive
``../shared/datasets/cifar10-jpeg.tar.gz`` is there, otherwise sklearn's digits (the script
says which). ``SK_CNN_EXAMPLE_DATA=digits`` forces digits: the documentation build does, so
the pictures in the online gallery are of digits.
"""

# %%
# The data and the network
# ------------------------
# sk_cnn's default CNN (Conv -> BatchNorm -> ReLU -> max-pool blocks, global average pooling),
# narrower (three blocks of 16-32-64) so the example runs in seconds on a CPU (14 s on
# CIFAR-10 on two cores, data loading included: benchmarks/example_times.py).
import time

from example_data import load_example_data, output_dir
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer
from sk_cnn.plotting import compare_histories

data = load_example_data(n_train=2500, n_test=1000)
print(data.description)


def cnn(**optimizer):
    return Pipeline([
        ("norm", ImageNormalizer()),
        ("cnn", CNNClassifier(conv_filters=(16, 32, 64), lr_schedule=None, max_epochs=10,
                              validation_fraction=0.2, random_state=0, verbose=0,
                              **optimizer)),
    ])


# %%
# Train with each optimizer
# -------------------------
runs = {}
for name, optimizer in [("SGD + momentum 0.9", {"optimizer": "sgd", "momentum": 0.9}),
                        ("Adam", {"optimizer": "adam"})]:
    start = time.perf_counter()
    runs[name] = cnn(**optimizer).fit(data.X_train, data.y_train)
    history = runs[name][-1].history
    print(f"{name}: fit in {time.perf_counter() - start:.1f} s, "
          f"validation accuracy after 3 epochs {history[2, 'valid_acc']:.3f}, "
          f"after {len(history)} {history[-1, 'valid_acc']:.3f}; "
          f"test accuracy {runs[name].score(data.X_test, data.y_test):.3f}")

# %%
# Convergence
# -----------
# Solid lines are the running training loss and accuracy (averaged over each epoch's batches
# while the weights change), dashed lines the held-out validation fifth after each epoch.
fig = compare_histories(runs)
out = output_dir()
fig.savefig(out / "optimizer_comparison.png")
print(f"picture saved in {out.resolve()}")
