"""Built-in routines, written the way users write theirs; all settings are config, so
flows using them serialize.

* :class:`ConditionalRouter` — emits each message on the event of the first route whose
  condition holds, else on ``unmatched``;
* :class:`Validator` — emits ``valid`` or ``invalid`` (with the reasons);
* :class:`Transformer` — renames, selects, fills in and computes keys, emits ``output``;
* :class:`Aggregator` — collects messages and emits ``output`` once *count* arrived.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..kernel._errors import ConfigError
from ..kernel._targets import import_target
from ._routine import Routine

__all__ = ["Aggregator", "ConditionalRouter", "Transformer", "Validator"]

_MISSING: Final = object()

_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "in": lambda value, expected: value in expected,
    "not_in": lambda value, expected: value not in expected,
    "contains": lambda value, expected: expected in value,
    "exists": lambda value, _expected: value is not _MISSING,
    "truthy": lambda value, _expected: bool(value) and value is not _MISSING,
}


class ConditionalRouter(Routine):
    """Routes each message on slot ``input`` to the event of the first matching route.

    ``router.add_route("big", key="amount", op="gt", value=100)`` defines the event
    ``big``; a message matching no route goes to the event ``unmatched``. Operators:
    eq, ne, gt, ge, lt, le, in, not_in, contains, exists, truthy.
    """

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.route)
        self.define_event("unmatched")
        self._config["routes"] = []

    def add_route(self, event: str, *, key: str, op: str = "eq", value: Any = None) -> None:
        """Emit on *event* the messages whose *key* satisfies ``op`` against *value*."""
        route = {"event": event, "key": key, "op": op, "value": value}
        self.set_config(routes=[*self.get_config("routes", []), route])

    def set_config(self, **config: Any) -> None:
        routes = config.get("routes")
        if routes is not None:
            for route in routes:
                self._check_route(route)
        super().set_config(**config)

    def _check_route(self, route: Any) -> None:
        if (
            not isinstance(route, Mapping)
            or not isinstance(route.get("key"), str)
            or not isinstance(route.get("event"), str)
        ):
            raise ConfigError(
                f"Invalid route {route!r}",
                fix="Describe a route as {'event': ..., 'key': ..., 'op': ..., 'value': ...}.",
            )
        if route.get("op", "eq") not in _OPERATORS:
            raise ConfigError(
                f"Unknown route operator {route.get('op')!r}",
                why=f"The operators are: {', '.join(_OPERATORS)}.",
                fix="Use one of them.",
            )
        event: str = route["event"]
        if self.get_event(event) is None:
            self.define_event(event)

    def route(self, **data: Any) -> None:
        for route in self.get_config("routes", []):
            value = data.get(route["key"], _MISSING)
            compare = _OPERATORS[route.get("op", "eq")]
            try:
                matched = value is not _MISSING or route.get("op") == "exists"
                matched = matched and compare(value, route.get("value"))
            except TypeError:
                matched = False
            if matched:
                self.increment_stat(f"routed_{route['event']}")
                self.emit(route["event"], **data)
                return
        self.increment_stat("unmatched")
        self.emit("unmatched", **data)


_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "str": (str,),
    "int": (int,),
    "float": (float,),
    "number": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


class Validator(Routine):
    """Checks each message on slot ``input``: the config's ``required`` keys are present
    and ``types`` (``{"age": "int"}``; str, int, float, number, bool, list, dict) hold.

    Valid messages are emitted unchanged on ``valid``; others on ``invalid`` as
    ``data`` and ``errors`` (a list of reasons).
    """

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.validate)
        self.define_event("valid")
        self.define_event("invalid", ["data", "errors"])

    def validate(self, **data: Any) -> None:
        errors: list[str] = []
        for key in self.get_config("required", []):
            if key not in data:
                errors.append(f"missing {key!r}")
        for key, name in (self.get_config("types") or {}).items():
            expected = _TYPES.get(name)
            if expected is None:
                raise ConfigError(
                    f"Validator type {name!r} for {key!r} is unknown",
                    fix=f"Use one of: {', '.join(_TYPES)}.",
                )
            if key in data:
                value = data[key]
                wrong_bool = isinstance(value, bool) and bool not in expected
                if not isinstance(value, expected) or wrong_bool:
                    errors.append(f"{key!r} is {type(value).__name__}, not {name}")
        if errors:
            self.increment_stat("invalid")
            self.emit("invalid", data=data, errors=errors)
        else:
            self.increment_stat("valid")
            self.emit("valid", **data)


class Transformer(Routine):
    """Reshapes each message on slot ``input`` and emits it on ``output``.

    Config, applied in this order: ``function`` (``"module:name"`` of a function that
    takes the message as a dict and returns a dict), ``rename`` (``{old: new}``),
    ``defaults`` (values for missing keys), ``include`` (keep only these keys) and
    ``exclude`` (drop these keys). A loaded flow document may name a ``function`` only
    when the caller allows it (``Flow.load(path, allow=[...])``).
    """

    config_imports = ("function",)

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.transform)
        self.define_event("output")

    def transform(self, **data: Any) -> None:
        result: dict[str, Any] = dict(data)
        target = self.get_config("function")
        if target:
            function = import_target(target)
            produced = function(result)
            if not isinstance(produced, Mapping):
                raise ConfigError(
                    f"The transform function {target!r} returned {type(produced).__name__}",
                    fix="Return the new message as a dict.",
                )
            result = dict(produced)
        for old, new in (self.get_config("rename") or {}).items():
            if old in result:
                result[new] = result.pop(old)
        for key, value in (self.get_config("defaults") or {}).items():
            result.setdefault(key, value)
        include = self.get_config("include")
        if include is not None:
            result = {key: value for key, value in result.items() if key in include}
        for key in self.get_config("exclude") or ():
            result.pop(key, None)
        self.increment_stat("transformed")
        self.emit("output", **result)


class Aggregator(Routine):
    """Collects the messages arriving on slot ``input``; once ``count`` (config, default
    2) have arrived, emits them on ``output`` as ``items`` (a list, in arrival order)
    and starts over. Fan-in: connect several routines' events to its ``input``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._config["count"] = 2
        self.input = self.define_slot("input", handler=self.collect, merge_strategy=_collect)
        self.define_event("output", ["items"])

    def set_config(self, **config: Any) -> None:
        count = config.get("count", self.get_config("count"))
        if type(count) is not int or count < 1:
            raise ConfigError(
                f"Invalid Aggregator count={count!r}",
                fix="Pass count as a whole number >= 1.",
            )
        super().set_config(**config)

    def collect(self, items: list[Any]) -> None:
        if len(items) >= self.get_config("count"):
            self.input.clear()
            self.increment_stat("batches")
            self.emit("output", items=items)


def _collect(held: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    return {"items": [*held.get("items", []), message]}
