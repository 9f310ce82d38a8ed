"""Lookahead weight averaging (``weight_averaging="lookahead"``), as in airbench94."""

from __future__ import annotations

import torch
from skorch.callbacks import Callback


class Lookahead(Callback):
    """Lookahead weight averaging with a rising decay, as in airbench94.

    Every ``every`` training steps the averaged weights move toward the network's,
    ``avg = decay * avg + (1 - decay) * weights``, and the network continues from the average
    (``weights = avg``). ``decay`` grows as ``decay_max * (step / total_steps) ** 3``, so early
    training is not slowed down. When training ends the network keeps the averaged weights.
    All floating-point entries of the state dict are averaged (BatchNorm statistics included).

    Parameters
    ----------
    every : int, default=5
        Steps between two updates.
    decay_max : float, default=0.95**5
        Decay at the last step.

    Attributes
    ----------
    average_ : dict of str to torch.Tensor
        The averaged state.
    step_ : int
        Training steps seen in this fit.
    total_steps_ : int
        Steps of the whole fit (``max_epochs`` times batches per epoch).
    """

    def __init__(self, every=5, decay_max=0.95**5):
        self.every = every
        self.decay_max = decay_max

    def on_train_begin(self, net, **kwargs):
        """Start the average at the current weights."""
        self.average_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()
                         if v.is_floating_point()}
        self.step_ = 0
        self.total_steps_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """Count the steps of the fit once the training split is known."""
        if self.total_steps_ is None:
            self.total_steps_ = net.max_epochs * len(net.get_iterator(dataset_train,
                                                                      training=True))

    @torch.no_grad()
    def update(self, net, decay):
        """Move the average toward the weights by ``1 - decay``, then copy it into the net."""
        state = net.module_.state_dict()
        for name, average in self.average_.items():
            average.lerp_(state[name], 1 - decay)
            state[name].copy_(average)

    def on_batch_end(self, net, training=False, **kwargs):
        """Update every ``every`` training steps."""
        if not training:
            return
        self.step_ += 1
        if self.step_ % self.every == 0:
            frac = min(1.0, self.step_ / max(1, self.total_steps_ or 1))
            self.update(net, self.decay_max * frac**3)

    def on_train_end(self, net, **kwargs):
        """Leave the network at the averaged weights."""
        self.update(net, 1.0)

