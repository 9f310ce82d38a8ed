"""Pictures of a CNNClassifier: training curves, first-layer filters, predictions, confusions,
Grad-CAM maps.

matplotlib is an optional extra: ``pip install "sk_cnn[plot]"``. Every function takes a fitted
:class:`~sk_cnn.CNNClassifier` or a fitted ``Pipeline`` ending in one (all but
:func:`plot_predictions` and :func:`plot_confusion_matrix` also take a
:class:`~sk_cnn.CNNRegressor`), and returns the ``matplotlib.figure.Figure`` it drew (made
with pyplot, so notebooks and sphinx-gallery show it; ``fig.savefig(path)`` saves it).
"""

try:
    import matplotlib.pyplot  # noqa: F401
except ImportError as exc:  # tests/plotting/test_plotting.py hides matplotlib to check the message
    raise ImportError(
        'sk_cnn.plotting needs matplotlib, an optional extra of sk_cnn: pip install '
        '"sk_cnn[plot]" (or pip install matplotlib).') from exc

from ._grad_cam import plot_grad_cam  # noqa: E402
from ._history import compare_histories, plot_history  # noqa: E402
from ._images import plot_confusion_matrix, plot_filters, plot_predictions  # noqa: E402
from ._lr_find import plot_lr_find  # noqa: E402

__all__ = ["compare_histories", "plot_confusion_matrix", "plot_filters", "plot_grad_cam",
           "plot_history", "plot_lr_find", "plot_predictions"]
