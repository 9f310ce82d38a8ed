"""What sk_cnn knows about an estimator parameter, and what it derives from its table.

Each estimator's ``__init__`` lists its parameters and their defaults (an editor and a type
checker see them); its table (:mod:`._parameter_table`) holds, per parameter, the values it
takes (scikit-learn's declarative constraints), its documentation and what a change on a
fitted estimator rebuilds. From the table come the ``_parameter_constraints`` that ``fit``
checks, the ``Parameters`` section of the docstring, and the groups below; a test checks that
signature, table, constraints and docstring agree.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

#: What a change of the parameter on a fitted estimator rebuilds. NETWORK: what ``fit``
#: builds from the data (network, loss, target encoding); ``partial_fit`` and a ``warm_start``
#: fit keep it and warn. OPTIMIZER and CALLBACKS: rebuilt by ``set_params``.
NETWORK, OPTIMIZER, CALLBACKS = "network", "optimizer", "callbacks"


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter of an sk_cnn estimator.

    Parameters
    ----------
    type : str
        Its type in numpydoc's words (``'int'``, ``'{"max", "avg"} or None'``).
    constraints : list or "no_validation"
        scikit-learn's parameter constraints, checked at the start of ``fit``;
        "no_validation" for skorch's parameters that skorch checks itself.
    doc : str
        What it does (numpydoc's description, unindented).
    rebuilds : {"network", "optimizer", "callbacks"} or None, default=None
        What a change on a fitted estimator rebuilds; None: the value is read whenever it
        is used.
    """

    type: str
    constraints: list | str
    doc: str
    rebuilds: str | None = None


def parameter_constraints(table: dict[str, Parameter]) -> dict:
    """scikit-learn's ``_parameter_constraints`` of an estimator with this table."""
    return {name: parameter.constraints for name, parameter in table.items()}


def parameters_rebuilding(table: dict[str, Parameter], what: str) -> frozenset[str]:
    """The names of the parameters whose change rebuilds ``what`` (see :data:`NETWORK`)."""
    return frozenset(name for name, p in table.items() if p.rebuilds == what)


def keyword_parameters(function: Callable) -> tuple[str, ...]:
    """The keyword-only parameters of a builder: the estimator parameters it takes."""
    return tuple(name for name, p in inspect.signature(function).parameters.items()
                 if p.kind is p.KEYWORD_ONLY)


def default_text(value) -> str:
    """How the docstring shows a default value (classes by name)."""
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def document_parameters(table: dict[str, Parameter], attributes: str):
    """Class decorator: put the table's entries into the class docstring.

    The ``{parameters}`` line of the docstring becomes one numpydoc entry per parameter of
    ``__init__`` (in the signature's order, with the signature's default; ``**kwargs`` says
    where skorch's prefixed parameters go), the ``{attributes}`` line ``attributes``.
    """
    def decorate(cls):
        signature = inspect.signature(cls.__init__).parameters
        entries = []
        for name, parameter in signature.items():
            if name == "self":
                continue
            if parameter.kind is parameter.VAR_KEYWORD:
                entries.append(f"**{name} : dict\n" + textwrap.indent(
                    "skorch's prefixed parameters (``optimizer__``, ``module__``, "
                    "``iterator_train__``, ``callbacks__``, ...).", "    "))
                continue
            entry = table[name]
            text = textwrap.fill(" ".join(entry.doc.split()), width=88)
            entries.append(f"{name} : {entry.type}, default={default_text(parameter.default)}\n"
                           + textwrap.indent(text, "    "))
        doc = _fill(cls.__doc__, "parameters", "\n".join(entries), cls.__name__)
        cls.__doc__ = _fill(doc, "attributes", attributes.strip(), cls.__name__)
        return cls

    return decorate


def _fill(doc: str, placeholder: str, text: str, owner: str) -> str:
    """Replace the line ``{placeholder}`` of a docstring by text, at that line's indent (any
    indent: Python 3.13 dedents docstrings)."""
    match = re.search(r"^([ \t]*)\{" + placeholder + r"\}\n", doc or "", re.MULTILINE)
    if match is None:
        raise TypeError(f"{owner}'s docstring needs a {{{placeholder}}} line.")
    return doc[:match.start()] + textwrap.indent(text + "\n", match.group(1)) + doc[match.end():]
