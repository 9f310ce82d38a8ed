"""Pickle-free persistence: ``save`` and ``load`` fitted sk_cnn estimators and pipelines.

One safetensors file holds every array and tensor (network weights, normalization statistics,
fitted attributes); its JSON metadata holds the configuration (:mod:`._codec` says how values
are written). Loading reads data only: classes come from a fixed allowlist, nothing is
unpickled, no code from the file runs. A SHA-256 digest of configuration and tensors refuses
corrupted files.
"""

from __future__ import annotations

import hmac
import json
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from skorch.exceptions import DeviceWarning
from skorch.history import History

from .._version import __version__
from ..estimators import CNNClassifier, CNNRegressor
from ..networks._backbones import BackboneNet, torchvision_state_dict
from ..preprocessing import ImageAugmenter, ImageLoader, ImageNormalizer, ImageReshaper
from ..training._distributed import is_rank_0
from ._allowlist import (
    Refused,
    check_cnn_params,
    check_input_shape,
    check_state_names,
    check_step_params,
    check_weights_fit,
)
from ._codec import SIGNATURE, decode, digest, encode, signature

FORMAT = "sk_cnn"
FORMAT_VERSION = 1

_ESTIMATORS = {cls.__name__: cls for cls in (
    ImageLoader, ImageReshaper, ImageNormalizer, ImageAugmenter,
    StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, PCA)}
# The CNN estimators; each names its fitted attributes (``_fitted_attributes``).
_CNN_ESTIMATORS = {cls.__name__: cls for cls in (CNNClassifier, CNNRegressor)}
# Saved when present: the column names of a DataFrame X, and the alternating flips' first
# epoch (ImageAugmenter(horizontal_flip="alternate")), which a continued fit goes on from.
_OPTIONAL_STATE = ("feature_names_in_", "_first_epoch_flips", "multilabel_")


def save(estimator, path, *, include_optimizer: bool = True, key: bytes | str | None = None
         ) -> Path | None:
    """Write a fitted sk_cnn estimator or pipeline to a pickle-free file.

    The file holds data only; :func:`load` runs no code from it. Its SHA-256 digest detects
    accidental damage. Signed with a ``key``, it also proves who wrote it: only a holder of
    the key can write a file that ``load(path, key=key)`` accepts.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted :class:`CNNClassifier`, :class:`CNNRegressor`, sk_cnn transformer, or a
        Pipeline of those and of scikit-learn's StandardScaler, MinMaxScaler, MaxAbsScaler,
        RobustScaler or PCA (steps left out as "passthrough" or None included).
    path : str or Path
        Destination, conventionally ``*.safetensors``.
    include_optimizer : bool, default=True
        Also write the optimizer's state (Adam's moment estimates, SGD's momentum buffers), so
        that ``partial_fit`` or a ``warm_start`` fit of the loaded estimator trains exactly as
        the saved one would have. False writes a smaller file (Adam's state is twice the
        weights' size) whose estimator predicts the same but continues training with a fresh
        optimizer state.
    key : bytes, str or None, default=None
        A secret to sign the file with (HMAC-SHA256 over its whole content); None writes an
        unsigned file.

    Returns
    -------
    path : Path or None
        The file written; None in a process of rank other than 0 of a ``strategy="ddp"``
        fit, which writes nothing (only rank 0 writes files).

    Raises
    ------
    TypeError
        For a step or a value that cannot be stored without pickle (the message names it).
    """
    if not writes_files(estimator):
        return None
    tensors: dict[str, torch.Tensor] = {}
    config = _describe(estimator, "model", tensors, include_optimizer)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "sk_cnn_version": __version__, "config": json.dumps(config)}
    metadata["sha256"] = digest(metadata["config"], tensors)
    if key is not None:
        metadata[SIGNATURE] = signature(key, metadata, tensors)
    path = Path(path)
    save_file(tensors, str(path), metadata=metadata)
    return path


def load(path, *, key: bytes | str | None = None):
    """Read an estimator written by :func:`save`, running no code from the file.

    Loading takes data only: each parameter and fitted attribute is checked against what the
    estimator accepts and nothing in the file can reach a code path (no module, callback,
    compiler option or class outside a fixed allowlist); the network must have exactly the
    weights the file holds, checked before it is allocated. The SHA-256 digest refuses damaged
    files; it proves nothing about who wrote the file, since anyone who edits it can write the
    edit's digest. With ``key``, the file must carry a signature made with that key (see
    :func:`save`), which proves it is unchanged since the key's holder saved it.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save`.
    key : bytes, str or None, default=None
        The secret the file was signed with; None does not check a signature.

    Returns
    -------
    estimator : estimator or Pipeline
        The fitted estimator, predicting exactly as the saved one (and, when saved with its
        optimizer state, continuing to train as the saved one would).

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        When the file is not an sk_cnn model file, is damaged, does not verify with ``key``,
        holds a value that load does not take (the message names it), or holds what this
        version of sk_cnn cannot rebuild (written by another version).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No sk_cnn model file at {path}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"{path} is not an sk_cnn model file (expected a safetensors file written by "
            f"sk_cnn.save): {exc}") from None
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise ValueError(f"{path} is a safetensors file, but not one written by sk_cnn.save.")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ValueError(f"{path} uses sk_cnn file format {metadata.get('format_version')}; "
                         f"this sk_cnn reads format {FORMAT_VERSION}.")
    if metadata.get("sha256") != digest(metadata["config"], tensors):
        raise ValueError(f"{path} is damaged: its content does not match the digest written by "
                         f"sk_cnn.save. Refusing to load it.")
    if key is not None:
        if SIGNATURE not in metadata:
            raise ValueError(f"{path} is not signed, so key= cannot verify it. Refusing to load "
                             f"it; load it without key= only if you trust where it came from.")
        if not hmac.compare_digest(metadata[SIGNATURE], signature(key, metadata, tensors)):
            raise ValueError(f"{path} does not verify with this key: it was changed after it "
                             f"was signed, or signed with another key. Refusing to load it.")
    try:
        return _build(json.loads(metadata["config"]), tensors)
    except Refused as exc:
        refused, cause = exc, None
        problem = f"does not take what it holds ({exc})"
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError,
            OverflowError) as exc:
        # A step class, parameter or layer this version does not know.
        refused, cause = None, exc
        problem = f"cannot rebuild it ({type(exc).__name__}: {exc})"
    written = metadata.get("sk_cnn_version")
    if written != __version__:
        raise ValueError(
            f"{path} was written by sk_cnn {written}; this sk_cnn {__version__} {problem}. Load "
            f"it with the sk_cnn version that wrote it, or fit and save the model again."
        ) from cause
    if refused is not None:
        raise ValueError(f"{path}: {refused} Refusing to load it.") from None
    raise ValueError(
        f"{path} was written by sk_cnn {__version__} (this version, or a development build of "
        f"it), which {problem}. Fit and save the model again (joblib.dump keeps any fitted "
        f"model).") from cause


def save_weights(estimator, path) -> Path | None:
    """Write the trained network's state dict, to reuse it as ``weights=path`` for another task.

    Parameters
    ----------
    estimator : CNNClassifier, CNNRegressor or Pipeline ending with one
        A fitted estimator (plain CNN or backbone).
    path : str or Path
        Destination (``*.pt``). A backbone's file is a plain torchvision state dict, under
        torchvision's names (the head's output layer included):
        ``torchvision.models.get_model(backbone, num_classes=n_classes)`` loads it with
        ``strict=True`` when the images have 3 channels (others change the first
        convolution's shape). As ``weights=`` it restores the head too when the new task
        has as many classes.

    Returns
    -------
    path : Path or None
        The file written; None in a process of rank other than 0 of a ``strategy="ddp"``
        fit, which writes nothing.
    """
    if not writes_files(estimator):
        return None
    clf = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(clf, (CNNClassifier, CNNRegressor)):
        raise TypeError(f"save_weights needs a CNNClassifier or CNNRegressor (or a Pipeline "
                        f"ending with one), "
                        f"got {type(clf).__name__}.")
    clf.check_is_fitted()
    if isinstance(clf.module_, BackboneNet):
        # sk_cnn's head may move the output layer behind a Dropout (ResNet's fc is fc.1).
        state = torchvision_state_dict(clf.module_)
    else:
        state = getattr(clf.module_, "model", clf.module_).state_dict()
    path = Path(path)
    cpu_state = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    # The modules' versions, as torch.save(module.state_dict()) keeps them: torchvision's
    # MNASNet refuses a state dict without its version.
    cpu_state._metadata = state._metadata
    torch.save(cpu_state, path)
    return path


# ------------------------------------------------------------------------------ describe
def writes_files(model) -> bool:
    """Whether this process writes ``model``'s files: False in a process of rank other than 0
    of a ``strategy="ddp"`` fit (every rank holds the same fitted model)."""
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]
    return all(is_rank_0(getattr(step, "strategy", None)) for step in steps)


def _describe(estimator, key, tensors, include_optimizer):
    if isinstance(estimator, Pipeline):
        if estimator.memory is not None:
            raise TypeError("Pipelines with memory= cannot be saved; set memory=None.")
        return {"pipeline": [[name, {"passthrough": step} if step in (None, "passthrough")
                              else _describe(step, f"{key}.{name}", tensors, include_optimizer)]
                             for name, step in estimator.steps],
                "verbose": bool(estimator.verbose)}
    if type(estimator).__name__ in _CNN_ESTIMATORS:
        return _describe_cnn(estimator, key, tensors, include_optimizer)
    cls = _ESTIMATORS.get(type(estimator).__name__)
    if cls is not type(estimator):
        raise TypeError(
            f"{type(estimator).__name__} cannot be saved without pickle (step {key!r}). "
            f"sk_cnn.save supports sk_cnn's estimators and {sorted(_ESTIMATORS)}; use "
            f"joblib.dump for other steps (and load such files from trusted sources only).")
    params = estimator.get_params(deep=False)
    state = {name: value for name, value in vars(estimator).items() if name not in params}
    return {"estimator": cls.__name__,
            "params": encode(params, f"{key}.params", tensors),
            "state": encode(state, f"{key}.state", tensors)}


def _describe_cnn(clf, key, tensors, include_optimizer):
    name = type(clf).__name__
    cls = _CNN_ESTIMATORS[name]
    if type(clf) is not cls:
        raise TypeError(f"{name} (step {key!r}) is not sk_cnn's {name}. Use joblib.dump.")
    params = clf.get_params(deep=False)
    try:  # what load would refuse is not written
        check_cnn_params(cls, params)
    except Refused as exc:
        raise TypeError(f"{name} (step {key!r}) cannot be saved without pickle: {exc} Use "
                        f"joblib.dump (and load such files from trusted sources only).") from None
    clf.check_is_fitted()
    for param, tensor in clf.module_.state_dict().items():
        tensors[f"{key}.module.{param}"] = tensor.detach().cpu().contiguous()
    state = {attribute: getattr(clf, attribute) for attribute in cls._fitted_attributes}
    state.update({attribute: getattr(clf, attribute) for attribute in _OPTIONAL_STATE
                  if hasattr(clf, attribute)})
    config = {"cnn": name,
              "params": encode(params, f"{key}.params", tensors),
              "state": encode(state, f"{key}.state", tensors),
              "history": json.dumps(clf.history.to_list(), default=float),
              "weights": f"{key}.module."}
    if include_optimizer:
        config["optimizer"] = encode(clf.optimizer_.state_dict(), f"{key}.optimizer", tensors)
    return config


# ------------------------------------------------------------------------------ build
def _build(config, tensors):
    if not isinstance(config, Mapping):
        raise Refused(f"a step of the file is a {type(config).__name__}, not a mapping.")
    if "pipeline" in config:
        steps = [(_step_name(name), _build(step, tensors)) for name, step in config["pipeline"]]
        return Pipeline(steps, verbose=bool(config["verbose"]))
    if "passthrough" in config:
        if config["passthrough"] not in (None, "passthrough"):
            raise Refused(f"a step left out is {config['passthrough']!r}, not None or "
                          f"'passthrough'.")
        return config["passthrough"]
    if "cnn" in config:
        return _build_cnn(config, tensors)
    cls = _ESTIMATORS[config["estimator"]]
    params = decode(config["params"], tensors)
    check_step_params(cls, params)
    estimator = cls(**params)
    state = decode(config["state"], tensors)
    check_state_names(cls, state)
    for name, value in state.items():
        setattr(estimator, name, value)
    return estimator


def _step_name(name):
    if not isinstance(name, str) or "__" in name or not name:
        raise Refused(f"a pipeline step is named {name!r}; step names are strings without "
                      f"'__'.")
    return name


def _build_cnn(config, tensors):
    cls = _CNN_ESTIMATORS[config["cnn"]]
    params = decode(config["params"], tensors)
    check_cnn_params(cls, params)
    # Built without its initial weights (the file has the trained ones; the original weights
    # file need not exist here), then given back the parameter.
    clf = cls(**{**params, "weights": None})
    state = decode(config["state"], tensors)
    check_state_names(cls, state, allowed=cls._fitted_attributes + _OPTIONAL_STATE)
    missing = sorted(set(cls._fitted_attributes) - set(state))
    if missing:
        raise Refused(f"the file lacks the fitted attributes {missing} of {cls.__name__}.")
    check_input_shape(state["input_shape_"], state["layout_"])
    for name, value in state.items():
        setattr(clf, name, value)
    if torch.device(clf.device).type == "cuda" and not torch.cuda.is_available():
        # As skorch does when unpickling: a model trained on a GPU predicts on the CPU.
        warnings.warn(f"{cls.__name__} was saved with device={clf.get_params()['device']!r}, but "
                      f"CUDA is not available here: it is loaded with device='cpu'.",
                      DeviceWarning, stacklevel=4)  # the caller of load
        clf.set_params(device="cpu")
    prefix = config["weights"]
    weights = OrderedDict((key[len(prefix):], tensor) for key, tensor in tensors.items()
                          if key.startswith(prefix))
    check_weights_fit(clf, weights)
    # The initial weights are drawn (then overwritten) without touching the caller's global
    # random generator.
    with torch.random.fork_rng(devices=[]):
        clf.initialize()
    clf.weights = params.get("weights")
    clf._record_built_values()  # as built from ``weights``: the file holds their trained values
    # The layers' state-dict versions, which some loaders read (torchvision's MNASNet).
    weights._metadata = getattr(clf.module_.state_dict(), "_metadata", None)
    clf.module_.load_state_dict(weights)
    if "optimizer" in config:
        clf.optimizer_.load_state_dict(decode(config["optimizer"], tensors))
    history = json.loads(config["history"])
    if not (isinstance(history, list) and all(isinstance(row, dict) for row in history)):
        raise Refused("the history is not a list of per-epoch records.")
    clf.history = History(history)
    return clf
