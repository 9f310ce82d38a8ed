"""The documentation of the parameters and attributes every sk_cnn CNN estimator shares.

:func:`sk_cnn.parameters.shared_parameters` puts these numpydoc entries into each estimator's
docstring, in place of its ``{shared_parameters}`` and ``{shared_attributes}`` lines.
"""

import textwrap

SHARED_PARAMETERS_DOC = textwrap.dedent("""\
    architecture : {"plain", "airbench"}, default="plain"
        The network built when ``module`` and ``backbone`` are None. "plain" is the lesson's
        CNN described by the parameters below. "airbench" is the fast CIFAR-10 network of
        :mod:`sk_cnn.fastnet` (a frozen patch-whitening 2x2 convolution initialized from the
        training images, then per entry of ``conv_filters`` a conv-pool-BatchNorm-activation-
        conv-BatchNorm-activation block, global max pool, bias-free linear layer); it uses
        ``conv_filters`` and ``activation`` and ignores the other architecture parameters.
        Its whole training recipe is ``CNNClassifier(**sk_cnn.fastnet.airbench_params())``.
    conv_filters : tuple of int, default=(32, 64, 128, 256)
        Output channels of each convolution block; one block per entry. Four blocks by
        measurement (benchmarks/defaults.py): on a 5,000-image CIFAR-10 subset (10 epochs) the
        fourth block gained 9.5 points of test accuracy over 32-64-128 (0.625 against 0.530,
        without dropout) for 1.3x the fit time, and matched it on digits.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    stride : int, default=1
        Stride of the convolutions (2 or more when ``pooling=None``).
    padding : {"same", "valid"} or int, default="same"
        Convolution padding; "same" keeps the spatial size before pooling (``ceil(size /
        stride)`` with a stride), for even kernel sizes too: as in Keras, their extra zero
        goes at the bottom/right (a layer ``pad`` before the convolution). "valid" pads
        nothing; an int pads that many on every side.
    pooling : {"max", "avg"} or None, default="max"
        2x2 pooling after every block; None downsamples with stride-2 convolutions instead.
    activation : {"relu", "gelu", "leaky_relu", "elu", "tanh"}, default="relu"
        Activation after every convolution and hidden dense layer.
    batch_norm : bool, default=True
        Batch normalization after every convolution (measured in benchmarks/defaults.py:
        5-7 points more accurate at the same number of epochs; set False for the lesson's
        plain CNN).
    global_pool : {"avg", "max", "flatten"}, default="avg"
        How the last feature map becomes one vector: global average or max pooling, or
        flattening (the classic dense head; depends on the image size).
    dense_units : tuple of int, default=()
        Hidden dense layers of the head, before the output layer.
    dropout : float in [0, 1), default=0.0
        Dropout before each dense layer of the head. Off by default, by measurement
        (benchmarks/defaults.py): after batch-normalized convolutions and global average
        pooling, dropout 0.5 cost 4.2 points of test accuracy on a 5,000-image CIFAR-10
        subset (10 epochs) and 0.15 on digits (20 epochs); 0.2 cost 1.5 and 0.2 (measured
        with conv_filters=(32, 64, 128)).
    conv_dropout : float in [0, 1), default=0.0
        Channel dropout after every convolution block's activation.
    backbone : str or None, default=None
        None trains the plain CNN above. The name of a torchvision classification model
        among :func:`sk_cnn.backbones.available_backbones` ("resnet18", "resnet50",
        "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", ...) builds
        that network instead, with a new output layer
        (``dropout`` before it). Inputs with 1 or more than 3 channels are
        adapted at the first convolution (pretrained RGB kernels summed, or repeated and
        rescaled). Needs images, not 1-D signals.
    weights : None, str or path, default=None
        Initial weights: None (random), a torchvision weights name ("DEFAULT",
        "IMAGENET1K_V1", ...) found in the local torch hub cache (never downloaded: a missing
        file raises an error naming it and where to put it), or a state-dict file (read with
        ``weights_only=True``), e.g. written by :func:`sk_cnn.save_weights`. Entries whose
        name or shape does not fit (an old head) are left at their initialization; a
        backbone's output layer, under torchvision's name, is restored when it has as many
        classes. Also works for the plain CNN.
    freeze : None, "backbone" or int, default=None
        With a backbone: train everything (None), only the head ("backbone"), or freeze the
        first k stages. Frozen parameters do not change, and frozen batch norm layers keep
        their running statistics.
    unfreeze_at_epoch : int or None, default=None
        Unfreeze the whole backbone when this epoch (1-based) begins.
    backbone_lr_factor : float, default=1.0
        The backbone's learning rate is ``lr * backbone_lr_factor`` (discriminative
        fine-tuning); the head keeps ``lr``. Fine-tuning a pretrained ResNet-18 with the
        defaults (every layer at ``lr``) beat 0.1, lower rates and freezing in
        benchmarks/backbone_defaults.py.
    input_size : int, (int, int) or None, default=None
        With a backbone, images are resized to this size on the fly (one batched bilinear
        interpolation); None keeps their size, upsampling images smaller than 32 pixels.
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "muon"} or torch optimizer class, \
default="adam"
        The optimizer; a class is used as in skorch (its options through ``optimizer__``).
        "muon" (:class:`sk_cnn.optim.Muon`) gives the convolution filters Muon steps
        (orthogonalized momentum; their own learning rate 0.05 and momentum 0.6, set with
        ``optimizer__muon_lr`` and ``optimizer__muon_momentum``) and the other parameters
        SGD steps with ``lr``, ``momentum``, ``nesterov`` and ``weight_decay``.
    lr : float or None, default=None
        Learning rate; None takes the measured default of the optimizer (adam, adamw: 2e-3;
        sgd: 5e-2; rmsprop: 1e-3; classes: skorch's 0.01). "muon" takes sgd's 5e-2 for its
        SGD part (not measured separately).
    momentum : float, default=0.9
        Momentum of SGD (also the SGD part of "muon") and RMSprop.
    nesterov : bool, default=False
        Nesterov momentum for SGD (also the SGD part of "muon").
    weight_decay : float, default=0.0
        L2 penalty on every parameter (biases and BatchNorm scales included), passed to the
        optimizer (decoupled for "adamw"; 0.0 too, where AdamW's own default is 0.01).
    batch_size : int, default=64
        Samples per training batch (-1: the whole training set). 64 by measurement
        (benchmarks/defaults.py, with the default network): 2.1 points above 128 on a
        5,000-image CIFAR-10 subset (0.646 against 0.625, 10 epochs) and 0.3 on digits (20
        epochs), in no more fit time. A last batch of less than half a batch joins the batch
        before it (see :class:`sk_cnn.data.BatchIterator`).
    max_epochs : int, default=20
        Passes over the training data.
    lr_schedule : {"cosine", "onecycle", "step", "warmup_linear"} or None, default="cosine"
        Learning-rate schedule over ``max_epochs``: cosine annealing to 0 (measured against
        a constant rate in benchmarks/defaults.py), one-cycle (warm-up then annealing,
        stepped every batch), a step decay by 10 after a third and after two thirds of
        ``max_epochs``, airbench's linear warm-up from 0.2 ``lr`` over 23% of the steps then
        linear decay to 0.07 ``lr`` (stepped every batch), or None for a constant learning
        rate. Each ``partial_fit`` call (and each ``warm_start`` fit) runs the whole schedule
        again over its own epochs.
    weight_averaging : {"lookahead"} or None, default=None
        "lookahead": every 5 steps move an average of the weights toward the network's and
        continue from the average, with a decay rising to 0.77 over training; the fitted
        network is the average (:class:`sk_cnn.callbacks.Lookahead`). The average is in the
        ``checkpoint_dir`` backup, so a resumed fit goes on with it.
    validation_fraction : float in [0, 1) or None, default=0.1
        Fraction of the training data held out (stratified for classifiers) to record the
        validation loss and score per epoch in ``history``; 0 or None disables it. Ignored
        when ``train_split`` is given. The held-out part is never augmented.
    early_stopping : int or None, default=None
        Stop when the validation loss has not improved for this many epochs and restore the
        best weights. Needs a validation split.
    checkpoint_dir : str, path or None, default=None
        Back up the training state (weights, optimizer, history, schedule, early stopping,
        weight averaging, random generators) there after every epoch but the last. A fit that
        was interrupted (crash, kill) resumes from the last backed-up epoch when it is run
        again with the same directory; the backup is deleted when training completes. Each
        fit has its own file, named by a digest of its data, classes, parameters and
        augmentation, so the fits of a grid search or cross-validation can share the folder.
        ``partial_fit`` on a fitted estimator is not backed up (it is not resumed). Exact
        resumption needs an int ``random_state``.
    tta : {"flip", "flip_translate"} or None, default=None
        Test-time augmentation in ``predict``/``predict_proba``/``score``: "flip" averages the
        network's outputs for each image and its left-right mirror image; "flip_translate" also
        averages in the flip averages of the image shifted by one pixel up-left and down-right
        (6 forward passes; not supported by ``export_onnx``/``export_program``). For a
        regressor, only right when the target does not change under these. Not used for the
        internal validation split.
    channels : {"auto", "first", "last"}, default="auto"
        Where the channel axis is. Images (4-D): "last" for ``(N, H, W, C)`` (Keras, PIL),
        "first" for ``(N, C, H, W)``; "auto" picks the axis of size 1, 3 or 4 and raises when
        unclear. Signals with channels (3-D, ``input_type="signal"``): "auto" and "first" mean
        ``(N, C, L)`` (aeon, PyTorch), "last" means ``(N, L, C)`` (Keras, tslearn).
    input_type : {"auto", "image", "signal"}, default="auto"
        What a sample is. "auto": 2-D X holds 1-D signals ``(N, L)``, 3-D X grayscale images
        ``(N, H, W)``, 4-D X images with channels. "signal" reads 3-D X as signals with
        channels (trained with ``Conv1d``); "image" refuses 2-D X (reshape flat rows of pixels
        with :class:`~sk_cnn.ImageReshaper`).
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialization, shuffling, dropout, the validation split and
        augmentation (unless the augmenter has its own). Two fits with the same int give
        identical predictions on the CPU. torch's global random state is left untouched.
    device : {"auto", "cpu", "cuda", ...} or torch.device, default="auto"
        Where to train and predict; "auto" means CUDA when available. A model trained on a GPU
        predicts on a CPU-only machine after loading. On a CUDA device the training data
        (kept in its own dtype, e.g. uint8) is copied to the GPU once per fit when it takes at
        most half of the free GPU memory; batches are then sliced and augmented there.
    mixed_precision : {"auto", "bfloat16"} or None, default=None
        "bfloat16" runs the network's forward passes (training and prediction) under
        ``torch.autocast`` in bfloat16; weights, gradients, the optimizer and the loss stay
        float32. "auto" does so where the device computes bfloat16 natively (NVIDIA Ampere or
        newer, CPUs with AVX512_BF16 or AMX: :func:`sk_cnn.precision.has_fast_bfloat16`) and
        stays float32 elsewhere, where bfloat16 is emulated and can be slower than float32.
        On the team's 2-core AMD EPYC machines (AVX512_BF16) bfloat16 makes a bare training
        step 1.78x (airbench network) and 1.45x (the default plain CNN) faster
        (``benchmarks/cpu_checks.py bfloat16``). The network's outputs are then rounded to
        bfloat16 (about three significant digits) before the float32 loss: regression targets
        that need more precision want None. Exports compute in float32.
    verbose : int, default=1
        1 prints skorch's table of losses and scores per epoch; 2 also shows a tqdm
        progress bar over the batches of each epoch (skorch's ``ProgressBar``, on stderr);
        0 is silent.
    train_split : callable or None, default=None
        skorch's splitter of internal validation data; None lets ``validation_fraction`` decide.
    iterator_train, iterator_valid : class, default=BatchIterator
        Batch iterators; :class:`sk_cnn.data.BatchIterator` slices whole batches from memory.
        Use ``torch.utils.data.DataLoader`` for per-sample datasets.
    dataset : class, default=ImageDataset
        Dataset wrapping the image tensor and the encoded targets.
""")

SHARED_ATTRIBUTES_DOC = textwrap.dedent("""\
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
""")
