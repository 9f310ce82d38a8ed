"""CNNFeatureExtractor: images to the pooled features of a pretrained torchvision backbone,
without training, as a scikit-learn transformer."""

from __future__ import annotations

import copy
import os
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._skorch import resolve_device
from ..preprocessing._input import (
    CHANNEL_OPTIONS,
    canonical_view,
    resolve_channels,
    validate_images,
)
from ._backbones import BackboneNet, build_backbone, check_backbone_name
from ._families import output_layer_name, pretrained_transforms


class ImageEmbedding(nn.Module):
    """Float images in [0, 1], channels first, in; a backbone's pooled features out.

    Parameters
    ----------
    backbone : BackboneNet
        The network, its output layer replaced by ``nn.Identity``; it resizes the images to
        its ``input_size``.
    mean, std : sequence of float
        Per-channel normalization of the images the weights were trained on.
    repeat_gray : bool
        Repeat a single channel three times (a gray image as the RGB image it is), so that the
        pretrained RGB network runs unchanged.
    """

    def __init__(self, backbone: BackboneNet, mean, std, repeat_gray: bool):
        super().__init__()
        self.backbone = backbone
        self.repeat_gray = bool(repeat_gray)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        if self.repeat_gray:
            x = x.expand(-1, 3, -1, -1)
        return self.backbone((x - self.mean) / self.std).flatten(1)


def build_embedding(name: str, *, in_channels: int, weights, input_size,
                    image_size) -> tuple[ImageEmbedding, int]:
    """The :class:`ImageEmbedding` of backbone ``name``, and the length of its features.

    ``input_size=None`` takes the size of the pretrained weights (their transforms' crop size:
    224 for most, 299 for Inception v3, 518 for ``vit_h_14``'s DEFAULT), and so does the
    normalization. Images of one channel are repeated to RGB; other counts than 1 and 3 adapt
    the first convolution as :func:`~._backbones.build_backbone` does, with the RGB
    statistics repeated cyclically.
    """
    size, mean, std = pretrained_transforms(name, weights)
    channels = 3 if in_channels == 1 else in_channels
    backbone = build_backbone(name, n_outputs=1, in_channels=channels, dropout=0.0,
                              weights=weights, input_size=size if input_size is None
                              else input_size, image_size=image_size)
    output = output_layer_name(backbone.model)
    parent, _, attr = output.rpartition(".")
    layer = backbone.model.get_submodule(output)
    n_features = layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels
    setattr(backbone.model.get_submodule(parent), attr, nn.Identity())
    mean, std = ([values[c % 3] for c in range(channels)] for values in (mean, std))
    module = ImageEmbedding(backbone, mean, std, repeat_gray=in_channels == 1)
    module = module.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    return module, int(n_features)


def _check_input_size(input_size):
    if input_size is None or isinstance(input_size, Integral):
        return
    if not (len(input_size) == 2 and all(isinstance(v, Integral) and not isinstance(v, bool)
                                         and v >= 1 for v in input_size)):
        raise ValueError(f"input_size must be None, a positive int or a pair (height, width) of "
                         f"positive ints, got {input_size!r}.")


class CNNFeatureExtractor(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embed images with a pretrained torchvision backbone, without training.

    ``transform`` returns, for each image, the features the backbone computes just before its
    output layer (the output layer is replaced by ``nn.Identity``): 512 numbers for resnet18,
    768 for vit_b_16, ... They feed any scikit-learn estimator, e.g.
    ``Pipeline([ImageLoader(size=224), CNNFeatureExtractor("resnet18"),
    LogisticRegression()])``, the classic transfer-learning baseline. Inside the network each
    batch is scaled to [0, 1] (uint8), resized to the size the weights were trained at (one
    batched bilinear interpolation) and normalized with their statistics (ImageNet's), under
    ``torch.inference_mode``.

    Parameters
    ----------
    backbone : str, default="resnet18"
        A name of :func:`sk_cnn.networks.available_backbones`.
    weights : str, path or None, default="DEFAULT"
        torchvision's weights name ("DEFAULT", "IMAGENET1K_V1", ...; downloaded into the torch
        hub cache on first use, see :class:`sk_cnn.CNNClassifier`), an http(s) address or a
        state-dict file, or None for random weights (drawn from a fixed seed, so that every
        fit builds the same network; torch's global random state is left untouched).
    batch_size : int, default=64
        Images per forward pass.
    device : {"auto", "cpu", "cuda", ...} or torch.device, default="auto"
        Where the network runs; "auto" means CUDA when available.
    input_size : int, (int, int) or None, default=None
        Size images are resized to; None takes the size the weights were trained at (their
        transforms' crop size: 224 for most models). Vision transformers need a square size
        that is a multiple of their patch size; see :class:`sk_cnn.CNNClassifier`.
    channels : {"auto", "first", "last"}, default="auto"
        Where the channel axis of 4-D images is, as in :class:`sk_cnn.CNNClassifier`. Images of
        one channel (``(N, H, W)`` arrays among them) are repeated to RGB.

    Attributes
    ----------
    module_ : ImageEmbedding
        The network: float images in [0, 1], channels first, in; features out.
    n_features_out_ : int
        Length of each image's features.
    input_shape_ : tuple of int
        Shape of one image seen in fit.
    input_dtype_ : numpy.dtype
        dtype of the images seen in fit.
    layout_ : {"first", "last"} or None
        Where the channel axis of the images seen in fit was (None: no channel axis).
    n_features_in_ : int
        ``X.shape[1]`` of the images seen in fit.

    See Also
    --------
    sk_cnn.CNNClassifier : fine-tunes the same backbones (``backbone=``) on labels.

    Notes
    -----
    ``fit`` learns nothing from the data: it validates the images, reads their shape and builds
    the network with its weights (downloading them once). A fitted extractor pickles with its
    weights, so it then runs without the weights file. Pixel values: uint8 (0-255) or floats
    in [0, 1]. Images are 3-D or 4-D arrays, so scikit-learn's estimator checks, which feed
    2-D tables, do not apply (``input_tags.two_d_array=False``).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cnn import CNNFeatureExtractor
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    >>> features = CNNFeatureExtractor("resnet18", weights=None).fit_transform(X)
    >>> features.shape, features.dtype
    ((4, 512), dtype('float32'))
    """

    _parameter_constraints = {
        "backbone": [str],
        "weights": [str, os.PathLike, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [StrOptions({"auto"}), str, torch.device],
        "input_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "channels": [StrOptions(set(CHANNEL_OPTIONS))],
    }

    def __init__(self, backbone: str = "resnet18", weights: str | os.PathLike | None = "DEFAULT",
                 *, batch_size: int = 64, device: str | torch.device = "auto",
                 input_size: int | tuple[int, int] | None = None, channels: str = "auto"):
        self.backbone = backbone
        self.weights = weights
        self.batch_size = batch_size
        self.device = device
        self.input_size = input_size
        self.channels = channels

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the images and build the network with its weights (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (N, H, W), (N, H, W, C) or (N, C, H, W)
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : CNNFeatureExtractor
            The fitted transformer.
        """
        check_backbone_name(self.backbone)
        _check_input_size(self.input_size)
        X = validate_images(self, X, reset=True)
        view = self._view(X, reset=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module, self.n_features_out_ = build_embedding(
                self.backbone, in_channels=view.shape[1], weights=self.weights,
                input_size=self.input_size, image_size=view.shape[2:])
        self.module_ = module.to(resolve_device(self.device))
        return self

    def _view(self, X, reset):
        if X.ndim == 2:
            raise ValueError(
                f"CNNFeatureExtractor needs images, got a 2-D array of shape {X.shape}. Turn "
                f"flat rows of pixels into images with sk_cnn.ImageReshaper first.")
        if reset:
            self.layout_ = resolve_channels(X.shape, self.channels, "image")
            self.input_shape_, self.input_dtype_ = tuple(X.shape[1:]), X.dtype
        elif X.shape[1:] != self.input_shape_:
            raise ValueError(f"CNNFeatureExtractor was fitted on images of shape "
                             f"{self.input_shape_}, got {tuple(X.shape[1:])}.")
        return canonical_view(X, self.layout_)

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def get_feature_names_out(self, input_features=None):
        """Names of the features: ``cnnfeatureextractor0``, ``cnnfeatureextractor1``, ...

        Parameters
        ----------
        input_features : None
            Ignored (the features do not come from input columns).

        Returns
        -------
        names : ndarray of str objects
            ``n_features_out_`` names.
        """
        return super().get_feature_names_out()

    def transform(self, X):
        """The features of each image.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in fit: uint8 pixels (0-255) or floats in [0, 1].

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), float32
            The pooled features before the backbone's output layer.
        """
        check_is_fitted(self)
        X = validate_images(self, X, reset=False)
        view = self._view(X, reset=False)
        scale = X.dtype == np.uint8
        high = None if scale else X.max()
        if high is not None and high > 1:
            warnings.warn(
                f"CNNFeatureExtractor takes uint8 pixels (0-255) or floats in [0, 1], but X is "
                f"{X.dtype} with values up to {high:g}, which are used as they are. Give X as "
                f"uint8 or divide it by 255.", UserWarning, stacklevel=2)
        device = torch.device(resolve_device(self.device))
        module = self.module_.to(device)
        out = np.empty((len(view), self.n_features_out_), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(view), self.batch_size):
                # A copy: the caller's array may be read-only (a memmap) or a strided view.
                batch = torch.from_numpy(np.array(view[start:start + self.batch_size]))
                batch = batch.to(device).float()
                if scale:
                    batch = batch / 255.0
                batch = batch.contiguous(memory_format=torch.channels_last)
                out[start:start + self.batch_size] = module(batch).float().cpu().numpy()
        return out

    def __getstate__(self):
        # Pickled with the network on the CPU: it unpickles where no GPU is; transform moves
        # it to ``device``.
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            state["module_"] = copy.deepcopy(module).to("cpu")
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
