"""The plain CNN: padding, pooling and the shapes it gives."""

import inspect
import warnings

import pytest
import torch

from sk_cnn import CNNClassifier
from sk_cnn.estimators._parameters import keyword_parameters
from sk_cnn.networks._plain import build_cnn


def _plain_cnn(**arguments):
    """build_cnn with the estimator's defaults for the arguments not given."""
    defaults = {name: p.default for name, p in inspect.signature(CNNClassifier).parameters.items()
                if name in keyword_parameters(build_cnn)}
    return build_cnn(**{**defaults, **arguments})


def _conv_output_shapes(module, x):
    """Output shapes of the network's convolutions for the input ``x``."""
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, out: shapes.append(tuple(out.shape[2:])))
             for m in module.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    with torch.no_grad():
        module.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("size", [(7, 10), (8, 9), (11,), (12,)])
def test_same_padding_outputs_ceil_of_size_over_stride(kernel_size, stride, size):
    # pooling=None: only the strided convolutions downsample, so every feature map is known.
    net = _plain_cnn(in_channels=2, n_outputs=3, input_size=size, conv_filters=(4, 4),
                    kernel_size=kernel_size, stride=stride, padding="same",
                    pooling=None if stride > 1 else "max")
    expected, current = [], list(size)
    for _ in range(2):
        current = [-(-s // stride) for s in current]
        expected.append(tuple(current))
        if stride == 1:  # the 2x2 pooling (ceil_mode) after each block
            current = [-(-s // 2) for s in current]
    assert _conv_output_shapes(net, torch.zeros((2, 2) + size)) == expected


@pytest.mark.parametrize("kernel_size", [2, 4])
def test_same_padding_of_even_kernels_computes_torchs_same_convolution(kernel_size):
    net = _plain_cnn(in_channels=3, n_outputs=2, input_size=(9, 8), conv_filters=(4,),
                    kernel_size=kernel_size, batch_norm=False)
    block = net.features.block1
    reference = torch.nn.Conv2d(3, 4, kernel_size, padding="same")
    reference.load_state_dict(block.conv.state_dict())
    x = torch.randn(2, 3, 9, 8)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: even kernels copy the input
        torch.testing.assert_close(block.conv(block.pad(x)), reference(x))


def test_same_padding_in_the_summary_keeps_the_size_for_even_kernels():
    clf = CNNClassifier(conv_filters=(4, 8), kernel_size=4, verbose=0)
    rows = {row.name: row for row in clf.summary(input_shape=(8, 8, 3), n_classes=2).layers}
    assert rows["features.block1.conv"].output_shape[2:] == (8, 8)
    assert rows["features.block2.conv"].output_shape[2:] == (4, 4)


@pytest.mark.parametrize("kernel_size", [1, 3, 5, 2, 4])
@pytest.mark.parametrize("size", [(8, 8), (16,)])
def test_same_padding_keeps_the_state_dict_keys(kernel_size, size):
    """Weight files and saved models of odd-kernel networks still load: the same layers, with
    the same keys; even kernels add only a weightless padding layer."""
    net = _plain_cnn(in_channels=1, n_outputs=2, input_size=size, conv_filters=(4, 8),
                    kernel_size=kernel_size, dense_units=(5,))
    keys = [f"features.block{i}.{layer}" for i in (1, 2) for layer in (
        "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked")] + [f"head.{layer}.{p}" for layer in ("dense1", "output")
                                      for p in ("weight", "bias")]
    assert list(net.state_dict()) == keys
    block = net.features.block1
    if kernel_size % 2:
        assert [name for name, _ in block.named_children()] == ["conv", "bn", "act", "pool"]
        assert block.conv.padding == (kernel_size // 2,) * len(size)
    else:
        assert [name for name, _ in block.named_children()] == ["pad", "conv", "bn", "act",
                                                                 "pool"]
        assert block.pad.padding == (kernel_size // 2 - 1, kernel_size // 2) * len(size)

