"""What :func:`sk_cnn.load` accepts from a file: values that cannot reach a code path.

A model file holds data only (numbers, strings, arrays, and classes named from a fixed
allowlist), but data can still steer code: compiler options, a module, callbacks, options that
skorch hands to ``torch.load``, or an attribute that shadows a method. Before anything is built,
every parameter and fitted attribute read from a file is checked here:

- parameters of sk_cnn's estimators follow their table's ``loads`` policy (a value, a class of
  the allowlist, or only the default) and their constraints; of skorch's prefixed parameters
  only the optimizer's, the loss's and the batch iterators' options are taken, as data;
- parameters of the other steps must be constructor parameters, as data, within their
  constraints;
- fitted attributes must be attributes the estimator fits, not its methods;
- the network the parameters describe must have exactly the weights the file holds (built on
  PyTorch's "meta" device first, which allocates nothing).
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Mapping
from numbers import Integral

import torch
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from .._skorch import init_context

# skorch's prefixed parameters whose values load takes (as data): options of the optimizer,
# the loss and the batch iterators. Others (module__, callbacks__, compile__, dataset__, ...)
# configure objects that could run code.
LOADABLE_PREFIXES = ("optimizer__", "criterion__", "iterator_train__", "iterator_valid__")


class Refused(ValueError):
    """What a model file holds that :func:`sk_cnn.load` does not take."""


def _validate(constraints, params, name):
    try:
        validate_parameter_constraints(constraints, params, caller_name=name)
    except InvalidParameterError as exc:
        raise Refused(str(exc)) from None


def _holds_class(value) -> bool:
    if isinstance(value, type):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_class(v) for v in value)
    if isinstance(value, Mapping):
        return any(_holds_class(k) or _holds_class(v) for k, v in value.items())
    return False


def check_cnn_params(cls, params: dict) -> None:
    """Refuse the parameters of an sk_cnn estimator that load must not take.

    Parameters
    ----------
    cls : type
        CNNClassifier or CNNRegressor.
    params : dict
        The parameters read from the file.

    Raises
    ------
    Refused
        Naming the first parameter refused and why.
    """
    table = cls._parameter_table
    defaults = inspect.signature(cls.__init__).parameters
    for name, value in params.items():
        if name in table:
            policy = table[name].loads
            default = defaults[name].default
            if policy == "default" and not (type(value) is type(default) and value == default):
                raise Refused(
                    f"parameter {name}={value!r}: sk_cnn.load takes only {name}={default!r} "
                    f"from a file, since another value can run code.")
            if policy != "class" and _holds_class(value):
                raise Refused(f"parameter {name}={value!r}: sk_cnn.load takes no class "
                                 f"there.")
        elif name.startswith(LOADABLE_PREFIXES) and "__" in name:
            if _holds_class(value):
                raise Refused(f"parameter {name}={value!r}: sk_cnn.load takes data there, "
                                 f"not a class.")
        else:
            raise Refused(
                f"parameter {name!r} is not one sk_cnn.load takes from a file (it takes "
                f"{cls.__name__}'s parameters and the options {', '.join(LOADABLE_PREFIXES)}"
                f"...).")
    _validate(cls._parameter_constraints, {k: v for k, v in params.items() if k in table},
              cls.__name__)


def check_step_params(cls, params: dict) -> None:
    """Refuse parameters of a transformer step that are not its constructor's, or not data.

    Raises
    ------
    Refused
        Naming the parameter refused.
    """
    names = set(cls._get_param_names())
    for name, value in params.items():
        if name not in names:
            raise Refused(f"parameter {name!r} is not one of {cls.__name__}'s.")
        if _holds_class(value):
            raise Refused(f"parameter {name}={value!r}: sk_cnn.load takes no class there.")
    _validate(getattr(cls, "_parameter_constraints", {}), params, cls.__name__)


def check_state_names(cls, state: Mapping, allowed=None) -> None:
    """Refuse fitted attributes that are not plain attribute names, that would shadow what the
    class defines (its methods), or that are not among ``allowed``; and classes as values.

    Raises
    ------
    Refused
        Naming the attribute refused.
    """
    if not isinstance(state, Mapping):
        raise Refused(f"the fitted state of {cls.__name__} is a {type(state).__name__}, "
                         f"not a mapping of attribute names to values.")
    for name, value in state.items():
        refused = (not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name)
                   or name.startswith("__") or hasattr(cls, name)
                   or (allowed is not None and name not in allowed))
        if refused:
            raise Refused(f"fitted attribute {name!r} is not one sk_cnn.load sets on "
                             f"{cls.__name__}.")
        if _holds_class(value):
            raise Refused(f"fitted attribute {name}: sk_cnn.load takes no class there.")


def check_input_shape(shape, layout) -> None:
    """Refuse a fitted ``input_shape_`` or ``layout_`` that no fit gives."""
    if not (isinstance(shape, tuple) and 1 <= len(shape) <= 3
            and all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1
                    for s in shape)):
        raise Refused(f"fitted attribute input_shape_={shape!r} is no sample shape.")
    if layout not in (None, "first", "last"):
        raise Refused(f"fitted attribute layout_={layout!r} is not None, 'first' or 'last'.")


def check_weights_fit(clf, weights: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights whose names or shapes are not those of the network ``clf`` builds.

    The network is built on the "meta" device: shapes only, no memory. So a file whose
    parameters describe a network larger than the weights it holds is refused before that
    network is allocated.

    Raises
    ------
    Refused
        Naming the first weight missing, unexpected or of another shape.
    """
    with torch.device("meta"), torch.random.fork_rng(devices=[]), init_context(clf, "module"):
        clf.initialize_module()
    expected = {name: tuple(t.shape) for name, t in clf.module_.state_dict().items()}
    del clf.module_
    found = {name: tuple(t.shape) for name, t in weights.items()}
    for name in sorted(expected.keys() | found.keys()):
        if expected.get(name) != found.get(name):
            raise Refused(
                f"the network its parameters describe does not fit the weights the file holds "
                f"({name}: {expected.get(name, 'no such weight')} in the network, "
                f"{found.get(name, 'none')} in the file).")
