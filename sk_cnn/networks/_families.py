"""What each torchvision classification family needs from sk_cnn: how it is built, the input
sizes it runs at, and where its output layer is.

Most families are convolutional networks with an ``nn.Linear`` output layer that run from
32-pixel inputs. The others differ in one of these ways, handled here:

- Vision transformers (``vit_*``) learn one position embedding per patch of one image size:
  the network is built for a square ``input_size`` that is a multiple of its patch size, and
  pretrained position embeddings of another grid are interpolated to it (torchvision's
  :func:`~torchvision.models.vision_transformer.interpolate_embeddings`).
- MaxViT (``maxvit_t``) partitions every stage's feature map into 7x7 windows and grids: it is
  built for one square size, a multiple of 224.
- Swin transformers run at any size (windows are padded), but were pretrained at the size of
  their weights (224; 256 for ``swin_v2_*``).
- GoogLeNet and Inception v3 return auxiliary outputs while training: they are built without
  the auxiliary classifiers, and with ``transform_input=True`` for 3-channel images, as
  torchvision builds them with pretrained weights (the layer maps ImageNet-normalized inputs
  to the scaling those weights were trained on).
- SqueezeNet's output layer is a 1x1 convolution; AlexNet, Inception v3 and SqueezeNet need
  inputs of 63, 75 and 24 (``squeezenet1_1``: 17) pixels or more.
"""

from __future__ import annotations

from numbers import Integral

from torch import nn
from torchvision.models import get_model, get_model_weights

#: The torchvision families sk_cnn adapts (checked one by one: a family a later torchvision
#: adds is not listed until it is added here).
FAMILIES = ("alexnet", "convnext", "densenet", "efficientnet", "googlenet", "inception",
            "maxvit", "mnasnet", "mobilenet", "regnet", "resnet", "resnext", "shufflenet",
            "squeezenet", "swin", "vgg", "vit", "wide")
# Inputs below this side are upsampled to it, unless the model needs more (``_MIN_SIDE``).
MIN_INPUT_SIZE = 32
# Models that need larger inputs than MIN_INPUT_SIZE: their smallest working side.
_MIN_SIDE = {"alexnet": 63, "inception_v3": 75, "squeezenet1_0": 24, "squeezenet1_1": 17}
#: Families built for, or pretrained at, one input size: images are resized to it.
TRANSFORMERS = ("maxvit", "swin", "vit")
# MaxViT's partitions: every side a multiple of this.
_MAXVIT_SIDE = 224
# Top-level sequences whose entries are the stages that freeze=k counts.
_STAGE_SEQUENCES = ("features", "blocks", "layers", "trunk_output")
# The families whose aux_logits and transform_input options are set here.
_AUXILIARY = ("googlenet", "inception_v3")


def family(name: str) -> str:
    """The torchvision family of model ``name`` ("vit", "swin", "resnet", ...)."""
    return name.split("_")[0].rstrip("0123456789")


def default_size(name: str) -> int:
    """The square size the DEFAULT torchvision weights of ``name`` were trained at."""
    return pretrained_transforms(name)[0]


def pretrained_transforms(name: str, weights=None) -> tuple[int, tuple, tuple]:
    """Input size, mean and std of the images torchvision's weights of ``name`` expect.

    From the weights ``weights`` names ("DEFAULT", "IMAGENET1K_V1", ...), else (None, a file,
    an address) from the DEFAULT weights: the crop size of their transforms and the per-channel
    mean and standard deviation they normalize with (ImageNet's for nearly all).
    """
    enum = get_model_weights(name)
    entry = enum.DEFAULT
    if isinstance(weights, str) and weights != "DEFAULT" and weights in enum.__members__:
        entry = enum[weights]
    transforms = entry.transforms()
    return (int(transforms.crop_size[0]), tuple(float(m) for m in transforms.mean),
            tuple(float(s) for s in transforms.std))


def _patch_size(name: str) -> int:
    return int(name.rsplit("_", 1)[1])  # vit_b_16 -> 16


def resolve_input_size(name: str, input_size, image_size) -> tuple[int, int]:
    """The ``(H, W)`` images are resized to inside the network of backbone ``name``.

    Parameters
    ----------
    name : str
        The backbone.
    input_size : int, tuple of int or None
        The estimator's ``input_size``. None: transformers take the size of their DEFAULT
        weights (:func:`default_size`), the others keep ``image_size``, upsampled to the
        model's smallest working size (32 pixels for most).
    image_size : tuple of int
        Size of the training images.

    Returns
    -------
    size : tuple of int
        ``(H, W)``.

    Raises
    ------
    ValueError
        When ``input_size`` is one the model cannot run at; the message gives one it can.
    """
    kind, smallest = family(name), _MIN_SIDE.get(name, MIN_INPUT_SIZE)
    if input_size is None:
        if kind in TRANSFORMERS:
            return (default_size(name),) * 2
        return tuple(max(int(s), smallest) for s in image_size)
    size = (int(input_size),) * 2 if isinstance(input_size, Integral) else tuple(
        int(s) for s in input_size)
    if kind == "vit" and (size[0] != size[1] or size[0] % _patch_size(name)):
        raise ValueError(
            f"backbone={name!r} needs a square input_size that is a multiple of its patch size "
            f"{_patch_size(name)} (its position embedding holds one entry per patch), got "
            f"{size}. Use e.g. input_size={default_size(name)}, the size of its pretrained "
            f"weights, or None for that size.")
    if kind == "maxvit" and (size[0] != size[1] or size[0] % _MAXVIT_SIDE):
        raise ValueError(
            f"backbone={name!r} needs a square input_size that is a multiple of {_MAXVIT_SIDE} "
            f"(its attention partitions every stage into 7x7 windows), got {size}. Use "
            f"input_size={_MAXVIT_SIDE} or None.")
    if name in _MIN_SIDE and min(size) < smallest:
        raise ValueError(
            f"backbone={name!r} needs inputs of at least {smallest}x{smallest} pixels (smaller "
            f"ones vanish before its last layer), got input_size={size}. Use "
            f"input_size={smallest} or more, or None.")
    return size


def torchvision_model(name: str, *, in_channels: int, input_size: tuple[int, int]) -> nn.Module:
    """torchvision's model ``name`` with random weights, built for ``input_size`` images.

    ViT and MaxViT are built for ``input_size``; GoogLeNet and Inception v3 without auxiliary
    classifiers and, for 3 channels, with ``transform_input=True``.
    """
    kind, options = family(name), {}
    if kind == "vit":
        options["image_size"] = input_size[0]
    elif kind == "maxvit":
        options["input_size"] = tuple(input_size)
    elif name in _AUXILIARY:
        # init_weights=True is torchvision's current initialization, said aloud (it warns
        # otherwise); transform_input reads exactly 3 channels.
        options.update(aux_logits=False, init_weights=True, transform_input=in_channels == 3)
    return get_model(name, weights=None, **options)


def output_layer_name(model: nn.Module) -> str:
    """Name of the output layer: the last ``nn.Linear``; SqueezeNet's 1x1 convolution."""
    for kind in (nn.Linear, nn.Conv2d):
        names = [name for name, module in model.named_modules() if isinstance(module, kind)]
        if names:
            return names[-1]
    raise ValueError(f"{type(model).__name__} has no output layer sk_cnn can replace.")


def replace_output_layer(model: nn.Module, n_outputs: int, dropout: float) -> None:
    """Give ``model`` a new output layer of ``n_outputs`` units with ``dropout`` before it.

    A Dropout already in front of the layer gets rate ``dropout`` (GoogLeNet's and Inception's
    ``model.dropout``, the one in ``classifier`` sequences); where there is none, the layer
    becomes ``Sequential(Dropout, layer)`` when it is an attribute (ResNet's ``fc``, Swin's
    ``head``, ViT's ``heads.head``), or a Dropout is inserted before it in its sequence
    (``dropout > 0`` only).
    """
    output = output_layer_name(model)
    parent_name, _, attr = output.rpartition(".")
    parent = model.get_submodule(parent_name)
    old = getattr(parent, attr)
    new = (nn.Conv2d(old.in_channels, n_outputs, 1) if isinstance(old, nn.Conv2d)
           else nn.Linear(old.in_features, n_outputs, bias=old.bias is not None))
    own_dropout = getattr(model, "dropout", None)
    if parent is model and isinstance(own_dropout, nn.Dropout):
        own_dropout.p = dropout
        setattr(model, attr, new)
    elif parent is model or not attr.isdigit():
        setattr(parent, attr, nn.Sequential(nn.Dropout(dropout), new))
    else:
        index = int(attr)
        parent[index] = new
        if index > 0 and isinstance(parent[index - 1], nn.Dropout):
            parent[index - 1].p = dropout
        elif dropout > 0:
            parent.insert(index, nn.Dropout(dropout))


def backbone_stages(model: nn.Module, head: str) -> list[tuple[str, nn.Module]]:
    """The parts of ``model`` in input-to-output order that ``freeze=k`` counts, head excluded.

    ViT: the patch embedding (``conv_proj``), each encoder block, the final norm. Otherwise
    each entry of a sequence of stages (``features`` of MobileNet, EfficientNet, ConvNeXt,
    Swin, ...; MaxViT's ``blocks``, MNASNet's ``layers``, RegNet's ``trunk_output``), and
    every other top-level child that holds parameters (ResNet's conv1, bn1, layer1, ...;
    Swin's final ``norm``; RegNet's ``stem``).
    """
    encoder = getattr(model, "encoder", None)
    if isinstance(getattr(encoder, "layers", None), nn.Sequential):  # VisionTransformer
        return [("conv_proj", model.conv_proj),
                *((f"encoder.layers.{name}", layer)
                  for name, layer in encoder.layers.named_children()),
                ("encoder.ln", encoder.ln)]
    parts = []
    for name, child in model.named_children():
        if name == head:
            continue
        if name in _STAGE_SEQUENCES and isinstance(child, (nn.Sequential, nn.ModuleList)):
            parts += [(f"{name}.{sub}", stage) for sub, stage in child.named_children()]
        elif any(True for _ in child.parameters()):
            parts.append((name, child))
    return parts
