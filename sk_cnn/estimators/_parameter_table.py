"""The parameters of sk_cnn's estimators: the values each takes, what it does, what it rebuilds.

One :class:`~._parameters.Parameter` per name. ``CLASSIFIER_PARAMETERS`` and
``REGRESSOR_PARAMETERS`` are the tables of :class:`~sk_cnn.CNNClassifier` and
:class:`~sk_cnn.CNNRegressor`: the shared entries, each estimator's own, and skorch's
parameters that both pass on. Measurements behind the defaults are in benchmarks/README.md.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions

from ..networks._build import ARCHITECTURES
from ..networks._plain import ACTIVATIONS
from ..preprocessing._input import CHANNEL_OPTIONS, INPUT_TYPES
from ..training._distributed import STRATEGIES
from ..training._optimizers import OPTIMIZERS
from ..training._precision import MIXED_PRECISION_OPTIONS
from ..training._schedules import LR_SCHEDULES
from ._parameters import CALLBACKS, NETWORK, OPTIMIZER, Parameter
from ._targets import REGRESSION_LOSSES

_SHARED = {
    "architecture": Parameter(
        '{"plain", "airbench"}', [StrOptions(set(ARCHITECTURES))], """
The network built when ``module`` and ``backbone`` are None. "plain" is the CNN described
by the parameters below. "airbench" is the fast CIFAR-10 network of Keller Jordan's
airbench (a frozen patch-whitening 2x2 convolution initialized from the training images,
then per entry of ``conv_filters`` a conv-pool-BatchNorm-activation-conv-BatchNorm-activation
block, global max pool, bias-free linear layer); it uses ``conv_filters`` and ``activation``
and ignores the other architecture parameters. Its whole training recipe is
``CNNClassifier(**sk_cnn.recipes.airbench_params())``.""", NETWORK),
    "conv_filters": Parameter("tuple of int", ["array-like"], """
Output channels of each convolution block; one block per entry. The default's fourth block
was chosen by measurement (``benchmarks/defaults.py``).""", NETWORK),
    "kernel_size": Parameter("int", [Interval(Integral, 1, None, closed="left")], """
Side of the square convolution kernels.""", NETWORK),
    "stride": Parameter("int", [Interval(Integral, 1, None, closed="left")], """
Stride of the convolutions (2 or more when ``pooling=None``).""", NETWORK),
    "padding": Parameter(
        '{"same", "valid"} or int',
        [StrOptions({"same", "valid"}), Interval(Integral, 0, None, closed="left")], """
Convolution padding; "same" keeps the spatial size before pooling (``ceil(size / stride)``
with a stride), for even kernel sizes too: as in Keras, their extra zero goes at the
bottom/right (a layer ``pad`` before the convolution). "valid" pads nothing; an int pads
that many on every side.""", NETWORK),
    "pooling": Parameter('{"max", "avg"} or None', [StrOptions({"max", "avg"}), None], """
2x2 pooling after every block; None downsamples with stride-2 convolutions instead.""",
        NETWORK),
    "activation": Parameter(
        '{"relu", "gelu", "leaky_relu", "elu", "tanh"}', [StrOptions(set(ACTIVATIONS))], """
Activation after every convolution and hidden dense layer.""", NETWORK),
    "batch_norm": Parameter("bool", ["boolean"], """
Batch normalization after every convolution (chosen by measurement,
``benchmarks/defaults.py``; False gives the classic CNN without it).""", NETWORK),
    "global_pool": Parameter(
        '{"avg", "max", "flatten"}', [StrOptions({"avg", "max", "flatten"})], """
How the last feature map becomes one vector: global average or max pooling, or flattening
(the classic dense head; depends on the image size).""", NETWORK),
    "dense_units": Parameter("tuple of int", ["array-like"], """
Hidden dense layers of the head, before the output layer.""", NETWORK),
    "dropout": Parameter("float in [0, 1)", [Interval(Real, 0, 1, closed="left")], """
Dropout before each dense layer of the head. Off by default: after batch-normalized
convolutions and global average pooling it cost accuracy (``benchmarks/defaults.py``,
``benchmarks/regressor_defaults.py``).""", NETWORK),
    "conv_dropout": Parameter("float in [0, 1)", [Interval(Real, 0, 1, closed="left")], """
Channel dropout after every convolution block's activation.""", NETWORK),
    "backbone": Parameter("str or None", [str, None], """
None trains the plain CNN above. The name of a torchvision classification model among
:func:`sk_cnn.networks.available_backbones` ("resnet18", "resnet50", "mobilenet_v2",
"mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", ...) builds that network instead,
with a new output layer (``dropout`` before it). Inputs with 1 or more than 3 channels are
adapted at the first convolution (pretrained RGB kernels summed, or repeated and
rescaled). Needs images, not 1-D signals.""", NETWORK),
    "weights": Parameter("None, str or path", [str, os.PathLike, None], """
Initial weights: None (random), a torchvision weights name ("DEFAULT", "IMAGENET1K_V1",
...), an http(s) address of a state-dict file, or a state-dict file (read with
``weights_only=True``), e.g. written by :func:`sk_cnn.save_weights`. Names and addresses
are read from the torch hub cache (``$TORCH_HOME/hub/checkpoints``) and downloaded there
on first use, with a progress bar; a file whose name carries a hash
(``resnet18-f37072fd.pth``) is refused unless its SHA-256 starts with it. The environment
variable ``SK_CNN_OFFLINE=1`` forbids the download (an error names the file and where to
put it); ``SK_CNN_DOWNLOAD_MIRROR`` names a server holding the same file names. Entries
whose name or shape does not fit (an old head) are left at their initialization; a
backbone's output layer, under torchvision's name, is restored when it has as many
classes. Also works for the plain
CNN.""", NETWORK),
    "freeze": Parameter(
        'None, "backbone" or int',
        [StrOptions({"backbone"}), Interval(Integral, 0, None, closed="left"), None], """
With a backbone: train everything (None), only the head ("backbone"), or freeze the first
k stages. Frozen parameters do not change, and frozen batch norm layers keep their running
statistics.""", NETWORK),
    "unfreeze_at_epoch": Parameter(
        "int or None", [Interval(Integral, 1, None, closed="left"), None], """
Unfreeze the whole backbone when this epoch (1-based) begins.""", CALLBACKS),
    "backbone_lr_factor": Parameter(
        "float", [Interval(Real, 0, None, closed="left")], """
The backbone's learning rate is ``lr * backbone_lr_factor`` (discriminative fine-tuning);
the head keeps ``lr``. Fine-tuning every layer at ``lr`` (the default) did best in
``benchmarks/backbone_defaults.py``.""", OPTIMIZER),
    "input_size": Parameter(
        "int, (int, int) or None",
        [Interval(Integral, 1, None, closed="left"), tuple, list, None], """
With a backbone, images are resized to this size on the fly (one batched bilinear
interpolation); None keeps their size, upsampling images smaller than 32 pixels.""",
        NETWORK),
    "memory": Parameter("None, str or joblib.Memory", [None, str, HasMethods(["cache"])], """
Where a frozen backbone's features are kept between fits, as ``Pipeline(memory=...)``: a
directory or a ``joblib.Memory``. With ``freeze="backbone"`` (and no ``unfreeze_at_epoch``
or training augmentation) every fit runs the backbone once over the data and trains the
head on its features; with ``memory``, fits on the same images with the same backbone
weights (grid-search candidates that change only the head, ``lr``, ``optimizer``,
``dropout``, ...) read the features from there instead. None keeps them for one fit.""",
        loads="value"),
    "optimizer": Parameter(
        '{"adam", "adamw", "sgd", "rmsprop", "muon"} or torch optimizer class',
        [StrOptions(set(OPTIMIZERS)), type, callable], """
The optimizer; a class is used as in skorch (its options through ``optimizer__``). "muon"
(:class:`sk_cnn.training.Muon`) gives the convolution filters Muon steps (orthogonalized
momentum; their own learning rate 0.05 and momentum 0.6, set with ``optimizer__muon_lr``
and ``optimizer__muon_momentum``) and the other parameters SGD steps with ``lr``,
``momentum``, ``nesterov`` and ``weight_decay``.""", OPTIMIZER, loads="class"),
    "lr": Parameter("float or None", [Interval(Real, 0, None, closed="neither"), None], """
Learning rate; None takes the optimizer's default, chosen by measurement
(``benchmarks/defaults.py``): adam, adamw 2e-3; sgd and muon's SGD part 5e-2; rmsprop 1e-3;
an optimizer class skorch's 0.01.""", OPTIMIZER),
    "momentum": Parameter("float", [Interval(Real, 0, 1, closed="left")], """
Momentum of SGD (also the SGD part of "muon") and RMSprop.""", OPTIMIZER),
    "nesterov": Parameter("bool", ["boolean"], """
Nesterov momentum for SGD (also the SGD part of "muon").""", OPTIMIZER),
    "weight_decay": Parameter("float", [Interval(Real, 0, None, closed="left")], """
L2 penalty on every parameter (biases and BatchNorm scales included), passed to the
optimizer (decoupled for "adamw"; 0.0 too, where AdamW's own default is 0.01).""",
        OPTIMIZER),
    "batch_size": Parameter(
        "int", [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})], """
Samples per training batch (-1: the whole training set), chosen by measurement
(``benchmarks/defaults.py``). A last batch of less than half a batch joins the batch
before it (see :class:`sk_cnn.training.BatchIterator`).""", CALLBACKS),
    "max_epochs": Parameter("int", [Interval(Integral, 1, None, closed="left")], """
Passes over the training data.""", CALLBACKS),
    "lr_schedule": Parameter(
        '{"cosine", "onecycle", "step", "warmup_linear"} or None',
        [StrOptions(set(LR_SCHEDULES)), None], """
Learning-rate schedule over ``max_epochs``: cosine annealing to 0, one-cycle (warm-up then
annealing, stepped every batch), a step decay by 10 after a third and after two thirds of
``max_epochs``, airbench's linear warm-up from 0.2 ``lr`` over 23% of the steps then linear
decay to 0.07 ``lr`` (stepped every batch), or None for a constant learning rate. Each
``partial_fit`` call (and each ``warm_start`` fit) runs the whole schedule again over its
own epochs.""", CALLBACKS),
    "weight_averaging": Parameter('{"lookahead"} or None', [StrOptions({"lookahead"}), None], """
"lookahead": every 5 steps move an average of the weights toward the network's and
continue from the average, with a decay rising to 0.77 over training; the fitted network
is the average. The average is in the ``checkpoint_dir`` backup, so a resumed fit goes on
with it.""", CALLBACKS),
    "validation_fraction": Parameter(
        "float in [0, 1) or None", [Interval(Real, 0, 1, closed="left"), None], """
Fraction of the training data held out (stratified for classifiers) to record the
validation loss and score per epoch in ``history``; 0 or None disables it. Ignored when
``train_split`` is given. The held-out part is never augmented."""),
    "early_stopping": Parameter(
        "int or None", [Interval(Integral, 1, None, closed="left"), None], """
Stop when the validation loss has not improved for this many epochs and restore the best
weights. Needs a validation split.""", CALLBACKS),
    "checkpoint_dir": Parameter("str, path or None", [str, os.PathLike, None], """
Back up the training state (weights, optimizer, history, schedule, early stopping, weight
averaging, random generators) there after every epoch but the last. A fit that was
interrupted (crash, kill) resumes from the last backed-up epoch when it is run again with
the same directory; the backup is deleted when training completes. Each fit has its own
file, named by a digest of its data, classes, parameters and augmentation, so the fits of a
grid search or cross-validation can share the folder. ``partial_fit`` on a fitted estimator
is not backed up (it is not resumed). Exact resumption needs an int ``random_state``.""",
        CALLBACKS),
    "tta": Parameter('{"flip", "flip_translate"} or None',
                     [StrOptions({"flip", "flip_translate"}), None], """
Test-time augmentation in ``predict``/``predict_proba``/``score``: "flip" averages the
network's outputs for each image and its left-right mirror image; "flip_translate" also
averages in the flip averages of the image shifted by one pixel up-left and down-right (6
forward passes; not supported by ``export_onnx``/``export_program``). For a regressor, only
right when the target does not change under these. Not used for the internal validation
split."""),
    "channels": Parameter('{"auto", "first", "last"}', [StrOptions(set(CHANNEL_OPTIONS))], """
Where the channel axis is. Images (4-D): "last" for ``(N, H, W, C)`` (Keras, PIL), "first"
for ``(N, C, H, W)``; "auto" picks the axis of size 1, 3 or 4 and raises when unclear.
Signals with channels (3-D, ``input_type="signal"``): "auto" and "first" mean ``(N, C, L)``
(aeon, PyTorch), "last" means ``(N, L, C)`` (Keras, tslearn).""", NETWORK),
    "input_type": Parameter('{"auto", "image", "signal"}', [StrOptions(set(INPUT_TYPES))], """
What a sample is. "auto": 3-D X holds grayscale images ``(N, H, W)``, 4-D X images with
channels, and 2-D X 1-D signals ``(N, L)`` unless its rows could be flat square images
(64, 784, 3072, ... columns: 8x8 pixels or more), which are refused with the
:class:`~sk_cnn.ImageReshaper` that turns them into images. "signal" reads 2-D X as
signals and 3-D X as signals with channels (trained with ``Conv1d``); "image" refuses
2-D X.""", NETWORK),
    "random_state": Parameter("int, RandomState instance or None", ["random_state"], """
Seed of weight initialization, shuffling, dropout, the validation split and augmentation
(unless the augmenter has its own). Two fits with the same int give identical predictions
on the CPU. torch's global random state is left untouched."""),
    "device": Parameter(
        '{"auto", "cpu", "cuda", ...} or torch.device',
        [StrOptions({"auto"}), str, torch.device], """
Where to train and predict; "auto" means CUDA when available. A model trained on a GPU
predicts on a CPU-only machine after loading. On a CUDA device the training data (kept in
its own dtype, e.g. uint8) is copied to the GPU once per fit when it takes at most half of
the free GPU memory; batches are then sliced and augmented there."""),
    "mixed_precision": Parameter(
        '{"auto", "bfloat16"} or None', [StrOptions(set(MIXED_PRECISION_OPTIONS)), None], """
"bfloat16" runs the network's forward passes (training and prediction) under
``torch.autocast`` in bfloat16; weights, gradients, the optimizer and the loss stay
float32. "auto" does so where the device computes bfloat16 natively (NVIDIA Ampere or
newer, CPUs with AVX512_BF16 or AMX: :func:`sk_cnn.training.has_fast_bfloat16`) and stays
float32 elsewhere, where bfloat16 is emulated and can be slower than float32. The
network's outputs are then rounded to bfloat16 (about three significant digits) before the
float32 loss: regression targets that need more precision want None. Exports compute in
float32."""),
    "strategy": Parameter('{"ddp"} or None', [StrOptions(set(STRATEGIES)), None], """
None trains in this process. "ddp" trains data-parallel in the processes that ``torchrun``
starts (one per GPU, or one per group of CPU cores), through torch's
``DistributedDataParallel``: each process trains the same network on its part of every
batch and the gradients are averaged, so ``batch_size`` counts the samples of a batch over
all the processes, and the fit trains on the batches that one process would. Batch
normalization keeps per-process statistics (those of rank 0 are kept). Only the process of
rank 0 writes files (``checkpoint_dir``, :func:`sk_cnn.save`). Needs
``iterator_train=BatchIterator`` (the default). See the user guide's page "Training on
several GPUs or processes".""", CALLBACKS),
    "verbose": Parameter("int", ["verbose"], """
1 prints skorch's table of losses and scores per epoch; 2 also shows a tqdm progress bar
over the batches of each epoch (skorch's ``ProgressBar``, on stderr); 0 is silent.""",
        CALLBACKS),
    "train_split": Parameter("callable or None", "no_validation", """
skorch's splitter of internal validation data; None lets ``validation_fraction``
decide.""", loads="default"),
    "iterator_train": Parameter("class", "no_validation", """
Iterator of the training batches; :class:`sk_cnn.training.BatchIterator` slices whole
batches from memory. Use ``torch.utils.data.DataLoader`` for per-sample datasets.""",
        loads="class"),
    "iterator_valid": Parameter("class", "no_validation", """
Iterator of the validation and prediction batches, as ``iterator_train``.""",
        loads="class"),
    "dataset": Parameter("class", "no_validation", """
Dataset wrapping the image tensor and the encoded targets
(:class:`sk_cnn.training.ImageDataset`).""", loads="class"),
}

# skorch's own parameters, passed on to skorch as they are.
_SKORCH = {
    "callbacks": Parameter("list or None", "no_validation", """
More skorch callbacks (instances, or (name, callback) pairs), run after sk_cnn's own;
their parameters are set with ``callbacks__<name>__<parameter>``.""", loads="default"),
    "predict_nonlinearity": Parameter('"auto", callable or None', "no_validation", """
What ``predict_proba`` applies to the network's output: "auto" (skorch's choice: softmax
after cross-entropy, nothing after a regression loss), a callable, or None."""),
    "warm_start": Parameter("bool", "no_validation", """
``fit`` on a fitted estimator continues training its network (as ``partial_fit`` does)
instead of building a new one."""),
    "compile": Parameter("bool", "no_validation", """
Compile the network with ``torch.compile`` (skorch's option; ``compile__`` parameters go
to it).""", loads="default"),
    "use_caching": Parameter('"auto" or bool', "no_validation", """
Whether skorch's scoring callbacks reuse the predictions made during the epoch."""),
    "torch_load_kwargs": Parameter("dict or None", "no_validation", """
Arguments of ``torch.load`` where skorch loads parameters (skorch's default:
``weights_only=True``).""", loads="default"),
}

CLASSIFIER_PARAMETERS = {
    "module": Parameter("torch.nn.Module class or instance, or None", "no_validation", """
None builds sk_cnn's network from the parameters below; a module is used as in skorch
(configure it with ``module__`` parameters) and must output class logits.""", NETWORK,
        loads="default"),
    **_SHARED,
    "criterion": Parameter("torch loss class", "no_validation", """
The loss; it receives the network's logits.""", NETWORK, loads="class"),
    "class_weight": Parameter('dict, "balanced" or None',
                              [StrOptions({"balanced"}), dict, None], """
Weights of the classes in the loss, as in scikit-learn. "balanced" weighs each class of y
by ``n_samples / (n_classes_in_y * count)``, from the y of ``fit`` (or of the first
``partial_fit`` call); classes of ``classes`` absent from that y get weight 1.""", NETWORK),
    "label_smoothing": Parameter("float in [0, 1)", [Interval(Real, 0, 1, closed="left")], """
Label smoothing of the cross-entropy loss.""", NETWORK),
    "classes": Parameter("array-like of shape (n_classes,) or None", "no_validation", """
The class labels and their order (the columns of ``predict_proba``); every label of y must
be among them. None learns them from y in ``fit``, sorted.""", NETWORK),
    "threshold": Parameter("float in (0, 1)", [Interval(Real, 0, 1, closed="neither")], """
Multi-label targets only (y an ``(n_samples, n_labels)`` indicator matrix): ``predict``
sets a label where its probability is at least ``threshold``. Single-label predictions are
the most probable class.""", None),
    **_SKORCH,
}

REGRESSOR_PARAMETERS = {
    "module": Parameter("torch.nn.Module class or instance, or None", "no_validation", """
None builds sk_cnn's network from the parameters below; a module is used as in skorch
(configure it with ``module__`` parameters) and must output ``(n_samples, n_outputs)``
predictions (of the scaled targets when ``scale_target=True``).""", NETWORK,
        loads="default"),
    **_SHARED,
    "criterion": Parameter(
        '{"mse", "huber", "l1"} or torch loss class',
        [StrOptions(set(REGRESSION_LOSSES)), type, callable], """
The loss: mean squared error, Huber loss (quadratic below ``criterion__delta``, default 1,
linear above: robust to outliers) or mean absolute error. With ``scale_target=True`` it is
computed on the standardized targets.""", NETWORK, loads="class"),
    "scale_target": Parameter("bool", ["boolean"], """
Standardize each target with the mean and standard deviation of the training targets for
training, and undo it in ``predict``, so the learning rate fits targets of any scale
(chosen by measurement, ``benchmarks/regressor_defaults.py``).""", NETWORK),
    **_SKORCH,
}

#: The fitted attributes both estimators document.
SHARED_ATTRIBUTES_DOC = """
input_shape_ : tuple of int
    Shape of one training sample as given (e.g. ``(32, 32, 3)``); prediction needs the same.
input_dtype_ : numpy.dtype
    dtype of the training data as given (uint8 images are scaled to [0, 1]).
layout_ : {"first", "last"} or None
    Where the channel axis of the training data was (None: no channel axis).
n_features_in_ : int
    ``X.shape[1]`` of the training data.
module_ : torch.nn.Module
    The trained network.
"""
