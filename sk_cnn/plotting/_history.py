"""Training curves: one run's history, or several runs overlaid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.exceptions import NotFittedError
from skorch.history import History

from ._base import _last_step, plt

# Metric names accepted by plot_history -> suffix of the history keys (train_<s>, valid_<s>).
_METRIC_SUFFIX = {"loss": "loss", "accuracy": "acc", "acc": "acc"}
_SUBSET_LABEL = {"train": "train", "valid": "validation"}
_SUBSET_STYLE = {"train": "-", "valid": "--"}


def _history(source) -> History:
    """The skorch History of a fitted classifier or Pipeline, or the History itself."""
    if isinstance(source, History):
        history = source
    elif isinstance(source, list) and all(isinstance(row, Mapping) for row in source):
        history = History(source)
    else:
        net = _last_step(source)
        if not hasattr(net, "initialize_callbacks"):  # skorch nets only
            raise TypeError(
                f"Expected a fitted CNNClassifier (or skorch net), a Pipeline ending in one, or "
                f"a skorch History; got {type(source).__name__}.")
        history = getattr(net, "history_", None)
    if not history:
        raise NotFittedError("The history is empty: fit the classifier first.")
    return history


def _curves(history: History, metric: str, subsets=("train", "valid")):
    """[(subset or None, history key)] of one metric; raises when the history has none."""
    if not isinstance(metric, str):
        raise TypeError(f"Metric names are strings, got {metric!r}.")
    keys = set().union(*(row.keys() for row in history)) - {"batches"}
    suffix = _METRIC_SUFFIX.get(metric, metric)
    found = [(subset, f"{subset}_{suffix}") for subset in subsets
             if f"{subset}_{suffix}" in keys]
    # A key of its own, e.g. "dur", or "lr" (recorded as "event_lr", per epoch or, for the
    # schedules stepped every batch, per batch).
    keys |= {key for row in history for batch in row.get("batches", ()) for key in batch}
    if not found:
        found = [(None, key) for key in (metric, f"event_{metric}") if key in keys][:1]
    if not found:
        hint = (" The learning rate is recorded when lr_schedule is set." if metric == "lr"
                else "")
        raise ValueError(
            f"The history has no values for metric {metric!r}. Use 'loss', 'accuracy' or one "
            f"of the recorded keys: {sorted(keys)}.{hint}")
    return found


def _column(history: History, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and values of ``key``; a key recorded per batch gives one point per batch, at
    fractional epochs (the end of batch j of n in epoch e is at ``e - 1 + j / n``)."""
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
    if any(key in row for row in history):
        return epochs, np.array([row.get(key, np.nan) for row in history], dtype=float)
    points = []
    for epoch, row in zip(epochs, history):
        batches = [batch for batch in row.get("batches", ()) if key in batch]
        points += [(epoch - 1 + (j + 1) / len(batches), batch[key])
                   for j, batch in enumerate(batches)]
    steps, values = zip(*points)
    return np.array(steps), np.array(values, dtype=float)


def _default_metrics(histories: dict) -> tuple[str, ...]:
    """Loss and the estimator's score: accuracy for classifiers, R^2 for regressors."""
    keys = set().union(*(row.keys() for history in histories.values() for row in history))
    for score, key in (("accuracy", "acc"), ("r2", "r2")):
        if {f"train_{key}", f"valid_{key}"} & keys:
            return ("loss", score)
    return ("loss",)


def _draw_runs(histories: dict, metrics, subsets, figsize):
    """One panel per metric, one color per run (name None: a single run); raises first."""
    if metrics is None:
        metrics = _default_metrics(histories)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics is empty: name at least one, e.g. metrics=('loss',).")
    curves = {(name, metric): _curves(history, metric, subsets)
              for name, history in histories.items() for metric in metrics}
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize or (4.8 * len(metrics), 3.6),
                             squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        for i, (name, history) in enumerate(histories.items()):
            for subset, key in curves[name, metric]:
                epochs, values = _column(history, key)
                label = _SUBSET_LABEL.get(subset, key)
                if name is not None:
                    label = name if subset is None else f"{name} ({label})"
                ax.plot(epochs, values, _SUBSET_STYLE.get(subset, "-"), color=f"C{i % 10}",
                        marker="." if name is None else None, label=label)
        ax.set(title=metric, xlabel="epoch", ylabel=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_history(clf_or_history, metrics: Sequence[str] | str | None = None, *,
                 figsize: tuple[float, float] | None = None):
    """Plot training and validation curves per epoch, one panel per metric.

    Parameters
    ----------
    clf_or_history : CNNClassifier, CNNRegressor, Pipeline or skorch.History
        A fitted estimator (or Pipeline ending in one), or its ``history``.
    metrics : sequence of str, str or None, default=None
        None plots the loss and the estimator's score: ("loss", "accuracy") for a
        classifier, ("loss", "r2") for a :class:`~sk_cnn.CNNRegressor`. "loss" plots
        ``train_loss`` and ``valid_loss``, "accuracy" plots ``train_acc`` and
        ``valid_acc``; any other name plots ``train_<name>`` and ``valid_<name>``, or the
        history key of that name (e.g. "dur"; "lr" plots the learning rate, ``event_lr``,
        per batch for the schedules stepped every batch; it is recorded when
        ``lr_schedule`` is set, for the optimizer's first parameter group: the backbone's with
        ``backbone_lr_factor``, the BatchNorm shifts' (64 ``lr``) in the airbench recipe).
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 4.8 x 3.6 per panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per metric; solid lines for training, dashed for validation (absent when the
        classifier had no validation split).
    """
    return _draw_runs({None: _history(clf_or_history)}, metrics, ("train", "valid"), figsize)


def compare_histories(runs: Mapping, metrics: Sequence[str] | str | None = None, *,
                      subsets: Sequence[str] = ("train", "valid"),
                      figsize: tuple[float, float] | None = None, title: str | None = None):
    """Overlay the curves of several runs, e.g. ``{"adam": clf1, "sgd": clf2}``.

    Parameters
    ----------
    runs : mapping of str to CNNClassifier, Pipeline or skorch.History
        Name of each run and the fitted classifier (or history) it made.
    metrics : sequence of str, str or None, default=None
        As in :func:`plot_history`.
    subsets : sequence of {"train", "valid"}, default=("train", "valid")
        Which curves to draw for every run: training (solid) and validation (dashed).
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 4.8 x 3.6 per panel.
    title : str or None, default=None
        Title of the figure, above the panels (each panel is titled with its metric); None
        gives "Compared: " and the names of the runs. "" draws no title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per metric; one color per run.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError("runs must be a non-empty mapping of run names to fitted classifiers "
                        "or histories, e.g. {'adam': clf1, 'sgd': clf2}.")
    subsets = [subsets] if isinstance(subsets, str) else list(subsets)
    unknown = [s for s in subsets if s not in _SUBSET_LABEL]
    if unknown or not subsets:
        raise ValueError(f"subsets must be among ('train', 'valid'), got {subsets!r}.")
    histories = {name: _history(run) for name, run in runs.items()}
    fig = _draw_runs(histories, metrics, subsets, figsize)
    if title is None:
        title = "Compared: " + ", ".join(map(str, histories))
    if title:
        fig.suptitle(title)
    return fig
