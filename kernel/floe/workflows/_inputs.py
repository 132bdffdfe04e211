"""A workflow's input: checked and stored as JSON when a run starts, rebuilt with the
body's annotations when it executes, and compared when a run is started again by its id.

The stored form is ``{"args": [...], "kwargs": {...}}``. A body that takes a
``ctx: floe.Context[T]`` has one input (positional, or ``input=``), rebuilt as ``T``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..kernel._errors import ConfigError
from ..kernel._serialize import converter, encode_value
from ._execution import Context

__all__ = ["BUILT_IN_INJECTABLES", "Inputs", "typing_name"]

BUILT_IN_INJECTABLES = frozenset(
    {"this_flow", "this_task", "flow_data", "task_data", "secrets", "metadata"}
)
"""Parameter names a body may leave without a default: the floe_inject plugin fills them."""


@attrs.frozen
class Inputs:
    """How the workflow *workflow* takes its input, read from its signature once."""

    workflow: str
    signature: inspect.Signature
    hints: dict[str, Any]
    context_type: Any
    """The T of a ``Context[T]`` body (``Any`` for a bare Context), None for parameters."""

    @classmethod
    def of(cls, function: Callable[..., Any], workflow: str) -> Inputs:
        signature = inspect.signature(function)
        hints = _type_hints(function)
        return cls(workflow, signature, hints, _context_parameter(signature, hints))

    def encode(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The stored form of a call's arguments; a call the body cannot take is refused."""
        signature = self.signature
        try:
            if self.context_type is None:
                bound = signature.bind_partial(*args, **kwargs)
                missing = [
                    name
                    for name, parameter in signature.parameters.items()
                    if name not in bound.arguments
                    and parameter.default is parameter.empty
                    and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
                    and name not in BUILT_IN_INJECTABLES
                ]
                if missing:
                    raise TypeError(f"missing a required argument: {missing[0]!r}")
            elif len(args) + len(kwargs) > 1 or (kwargs and "input" not in kwargs):
                raise TypeError("a Context workflow takes one input, positional or input=")
        except TypeError as error:
            raise ConfigError(
                f"Workflow {self.workflow!r} cannot take these arguments: {error}",
                fix=f"Call it as {self.workflow}{signature}.",
            ) from None
        return encode_value(
            {"args": list(args), "kwargs": kwargs}, where=f"the input of workflow {self.workflow!r}"
        )

    def arguments(self, document: Any) -> dict[str, Any]:
        """A stored input as the body's arguments by name, defaults filled in: the same
        call however it was spelled (positional or by keyword)."""
        raw_args, raw_kwargs = _raw(document)
        if self.context_type is not None:
            return {"input": raw_args[0] if raw_args else raw_kwargs.get("input")}
        try:
            bound = self.signature.bind_partial(*raw_args, **raw_kwargs)
        except TypeError:  # an input stored by other code: compared as it is
            return {"args": raw_args, "kwargs": raw_kwargs}
        bound.apply_defaults()
        return dict(bound.arguments)

    def structured(self, document: Any) -> tuple[list[Any], dict[str, Any]]:
        """The stored input as the body's arguments, rebuilt with their annotated types."""
        raw_args, raw_kwargs = _raw(document)
        if self.context_type is not None:
            value = raw_args[0] if raw_args else raw_kwargs.get("input")
            return [_structure(value, self.context_type, self.workflow)], {}
        bound = self.signature.bind_partial(*raw_args, **raw_kwargs)
        for name, value in list(bound.arguments.items()):
            annotation = self.hints.get(name)
            if annotation is not None:
                bound.arguments[name] = _structure(value, annotation, self.workflow)
        return list(bound.args), dict(bound.kwargs)


def _raw(document: Any) -> tuple[list[Any], dict[str, Any]]:
    if not isinstance(document, Mapping):
        return [], {}
    return list(document.get("args", [])), dict(document.get("kwargs", {}))


def typing_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: inputs stay plain JSON values
        return {}


def _context_parameter(signature: inspect.Signature, hints: dict[str, Any]) -> Any:
    """The T of a first parameter annotated ``Context[T]``, ``Any`` for a bare Context."""
    parameters = list(signature.parameters.values())
    if not parameters:
        return None
    annotation = hints.get(parameters[0].name)
    if annotation is Context:
        return Any
    if typing.get_origin(annotation) is Context:
        return typing.get_args(annotation)[0]
    return None


def _structure(value: Any, annotation: Any, workflow: str) -> Any:
    if annotation is Any or annotation is object:
        return value  # anything goes: the JSON value as it is
    if annotation is type(None) and value is None:
        return None  # cattrs has no structure hook for NoneType itself
    try:
        return converter.structure(value, annotation)
    except Exception as error:
        raise ConfigError(
            f"The input {value!r} of workflow {workflow!r} does not fit its annotation "
            f"{typing_name(annotation)}",
            why=str(error),
            fix="Pass an input matching the parameter's type.",
        ) from None
