"""Component configurations: YAML files (or mappings) describing one component.

A configuration names the component and its rules, and says which states its machine
uses::

    name: orders
    rules:
      - {max_items: 10}
    initial_state: InitialState        # a registered name, a key of states:, or pkg.mod:Class
    states:                            # each class is registered under ITS KEY
      Packing: "shop.states:PackingState"
    packs:                             # state packs, like state-pack plugins
      - "shop.states:ShopPack"

Two steps, so that :func:`floe.explain` can run them without touching a kernel:

* :func:`load_config` checks everything that needs no kernel: the file, the YAML, the
  type of every field, every dotted path (imported, and checked to be a ``State``
  subclass or a pack). Each problem is a :class:`~floe.ConfigError` naming the file,
  the field and the fix.
* :func:`config_registry` builds the states a component made from the config uses: a
  namespace over the kernel's :class:`~floe.StateRegistry` where the config's own states
  come first, then its packs, then the kernel's states, so that two configs may each
  define ``Processing`` (or their own ``InitialState``) in one kernel. Two packs of one
  config claiming a name is a :class:`~floe.StateError` naming both classes.
  :func:`register_config_states` puts the states into a registry itself instead (all
  or nothing, and a name already there is an error).

A *pack* is any object with a ``floe_register_states(register)`` method, the same shape
as a state-pack plugin: a module, an instance, or a class (instantiated without
arguments). So one pack can be installed as a plugin or named in a config.
"""

from __future__ import annotations

import difflib
import math
import os
import reprlib
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

import attrs

from ..kernel._errors import ConfigError, FloeError, StateError
from ..kernel._plugins import import_object
from ..kernel._states import State, StateRegistry, qualified_name
from ._yaml import read_yaml

__all__ = [
    "FIELDS",
    "ComponentConfig",
    "check_config",
    "config_names",
    "config_registry",
    "copy_registry",
    "load_config",
    "load_rules",
    "pack_object",
    "read_yaml",
    "register_config_states",
]

FIELDS: Final = ("name", "rules", "initial_state", "states", "packs")
"""The fields of a component config, in the order they are checked."""

_JSON_TYPES: Final = (
    "strings, numbers (integers of up to 64 bits), true/false, null, lists and mappings "
    "with string keys"
)
# the integers JSON documents hold in floe's stores (64 bits)
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
_NAME_WHY: Final = (
    "A component is found by its name (text) in the engine, on the bus and in the store."
)
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


@attrs.frozen
class ComponentConfig:
    """One component's configuration, as :func:`load_config` returns it (validated).

    Building one directly skips validation; :func:`load_config` accepts a
    ``ComponentConfig`` too and checks it like a file.
    """

    name: str
    """The component's name (its run id in the store is ``component:<name>``)."""
    rules: Sequence[Any] = ()
    """The component's initial rules: JSON values, readable by its states."""
    initial_state: str = "InitialState"
    """A registered state name, a key of :attr:`states`, or a dotted path ``pkg.mod:Class``."""
    states: Mapping[str, str | type] = attrs.field(factory=dict)
    """State classes by the name they are registered under: dotted paths (or classes)."""
    packs: Sequence[str] = ()
    """Dotted paths of state packs (objects with ``floe_register_states(register)``)."""
    source: str | None = None
    """The file the config came from (``None``: built from a mapping)."""

    @property
    def where(self) -> str:
        """How errors name this config: its file, or "the component config"."""
        return _where(self.source)


def _where(source: str | None) -> str:
    return str(source) if source else "the component config"


# -- checking --------------------------------------------------------------------------


def load_config(
    config: str | os.PathLike[str] | Mapping[str, Any] | ComponentConfig,
) -> ComponentConfig:
    """Load and check a component config: a YAML file path, a mapping or a ComponentConfig.

    Dotted paths are imported and checked here; registering the states into a kernel is
    :func:`register_config_states` (``Engine.create_component`` does both).
    Raises :class:`~floe.ConfigError` for the first problem found;
    :func:`floe.explain` lists all of them.
    """
    loaded, errors = check_config(config)
    if errors:
        raise errors[0]
    assert loaded is not None
    return loaded


def check_config(
    config: object,
) -> tuple[ComponentConfig | None, list[ConfigError]]:
    """Every problem of *config* (not only the first); the config when there is none."""
    if isinstance(config, ComponentConfig):
        data: Any = {
            "name": config.name,
            "rules": config.rules,
            "initial_state": config.initial_state,
            "states": config.states,
            "packs": config.packs,
        }
        source = config.source
    elif isinstance(config, Mapping):
        data, source = config, None
    elif isinstance(config, str | os.PathLike):
        source = str(config)
        try:
            data = read_yaml(config)
        except ConfigError as error:
            return None, [error]
    else:
        return None, [
            ConfigError(
                f"Cannot load a component config from {_short.repr(config)}",
                why=f"It is a {type(config).__name__}.",
                fix="Pass the path of a YAML file, a mapping or a ComponentConfig.",
            )
        ]
    checker = _Checker(source)
    loaded = checker.check(data)
    return (loaded if not checker.errors else None), checker.errors


def load_rules(path: str | os.PathLike[str]) -> list[Any]:
    """Read a rules file: a YAML list of rules, or a mapping whose only key is ``rules``.

    Each rule is checked as in a config (JSON values only); problems are
    :class:`~floe.ConfigError` naming the file and the rule.
    """
    source = str(path)
    data = read_yaml(path, what="rules file")
    if isinstance(data, Mapping) and list(data) == ["rules"]:
        data = data["rules"]
    checker = _Checker(source)
    checker.where = source
    if data is None:
        return []
    if isinstance(data, str | bytes | Mapping) or not isinstance(data, Sequence):
        checker.error(
            "rules",
            f"The rules file {source} must hold a list, got {_describe(data)}",
            why="Its rules replace the component's whole list of rules.",
            fix="Write one '- rule' line per rule, or 'rules:' followed by that list.",
        )
        raise checker.errors[0]
    rules = checker.rules(data)
    if rules is None:
        raise checker.errors[0]
    return list(rules)


class _Checker:
    """Checks one config's fields, collecting every problem."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.where = _where(source)
        self.subject = f"The component config {source}" if source else "The component config"
        self.errors: list[ConfigError] = []

    def error(self, field: str | None, what: str, *, fix: str, why: str | None = None) -> None:
        context: dict[str, Any] = {"source": self.source or "<mapping>"}
        if field is not None:
            context["field"] = field
        self.errors.append(ConfigError(what, why=why, fix=fix, context=context))

    def check(self, data: Any) -> ComponentConfig | None:
        if data is None:
            self.error(
                None,
                f"{self.subject} is empty",
                why="YAML read no value from it (only blank lines or comments).",
                fix="Write at least 'name: my_component' in it.",
            )
            return None
        if not isinstance(data, Mapping):
            self.error(
                None,
                f"{self.subject} must be a mapping, got {_describe(data)}",
                why=f"A config is a set of 'key: value' lines with the keys {', '.join(FIELDS)}.",
                fix="Write the fields at the top level, e.g. 'name: my_component'.",
            )
            return None
        for key in data:
            if key not in FIELDS:
                self._unknown_field(key)
        name = self.name(data)
        rules = self.rules(data.get("rules"))
        initial = self.initial_state(data.get("initial_state", "InitialState"))
        states = self.states(data.get("states"))
        packs = self.packs(data.get("packs"))
        if self.errors or name is None or rules is None or initial is None:
            return None
        if states is None or packs is None:
            return None
        return ComponentConfig(
            name=name,
            rules=rules,
            initial_state=initial,
            states=states,
            packs=packs,
            source=self.source,
        )

    def _unknown_field(self, key: object) -> None:
        guess = difflib.get_close_matches(str(key), FIELDS, n=1)
        self.error(
            str(key),
            f"Unknown field {_short.repr(key)} in {self.where}",
            why=f"A component config has the fields {', '.join(FIELDS)}.",
            fix=f"Did you mean {guess[0]!r}? Correct the spelling."
            if guess
            else "Remove the field or correct its spelling.",
        )

    def name(self, data: Mapping[Any, Any]) -> str | None:
        if "name" not in data:
            self.error(
                "name",
                f"{self.subject} has no 'name'",
                why="Every component has a name: it is how messages, snapshots and the "
                "store find it.",
                fix="Add a line 'name: my_component'.",
            )
            return None
        name = data["name"]
        if not isinstance(name, str):
            self.error(
                "name",
                f"Field 'name' in {self.where} must be a string, got {_describe(name)}",
                why=_NAME_WHY,
                fix=f'Quote it: name: "{name}".'
                if isinstance(name, int | float | bool)
                else "Write the name as text, e.g. name: my_component.",
            )
            return None
        if not name.strip():
            self.error(
                "name",
                f"Field 'name' in {self.where} is empty",
                why=_NAME_WHY,
                fix="Give the component a name, e.g. name: my_component.",
            )
            return None
        if name != name.strip():
            self.error(
                "name",
                f"Field 'name' in {self.where} starts or ends with white space: {name!r}",
                why="Names are compared exactly; stray spaces make a second component.",
                fix=f"Write name: {name.strip()}.",
            )
            return None
        return name

    def rules(self, rules: Any) -> tuple[Any, ...] | None:
        if rules is None:
            return ()
        if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Sequence):
            self.error(
                "rules",
                f"Field 'rules' in {self.where} must be a list, got {_describe(rules)}",
                why="A component's rules are a list that its states read; "
                "'floe update-rules' replaces the whole list.",
                fix="Write the rules as a YAML list: 'rules: []', or one '- rule' line each.",
            )
            return None
        ok = True
        for index, rule in enumerate(rules):
            for path, culprit in _non_json(rule, f"rules[{index}]"):
                ok = False
                self.error(
                    path,
                    f"Field '{path}' in {self.where} holds {culprit}, which a rule cannot hold",
                    why=f"Rules are journaled and snapshotted as JSON: {_JSON_TYPES}.",
                    fix="Quote the value to make it a string, or use a JSON type.",
                )
        return tuple(rules) if ok else None

    def initial_state(self, initial: Any) -> str | None:
        if not isinstance(initial, str) or not initial.strip():
            self.error(
                "initial_state",
                f"Field 'initial_state' in {self.where} must be a state name or a dotted "
                f"path, got {_describe(initial)}",
                why="The component's machine starts in this state: a registered state name, "
                "or a dotted path package.module:Class.",
                fix="Write e.g. initial_state: InitialState, a key of states:, or "
                "initial_state: mypkg.states:MyState.",
            )
            return None
        if ":" in initial:
            self.state_class(initial, "initial_state")
        return initial

    def states(self, states: Any) -> dict[str, str | type] | None:
        if states is None:
            return {}
        if not isinstance(states, Mapping):
            self.error(
                "states",
                f"Field 'states' in {self.where} must be a mapping, got {_describe(states)}",
                why="Each entry registers a class under its key: 'Key: package.module:Class'.",
                fix="Write one 'Name: package.module:Class' line per state under states:.",
            )
            return None
        checked: dict[str, str | type] = {}
        for key, value in states.items():
            field = f"states.{key}"
            if not isinstance(key, str) or not key.strip() or ":" in key:
                self.error(
                    field,
                    f"Key {_short.repr(key)} under 'states' in {self.where} is not a state name",
                    why="Keys are the names states are registered and found under: non-empty "
                    "text without ':' (a ':' marks a dotted path).",
                    fix="Use a name such as Processing, quoted if YAML reads it as another type.",
                )
                continue
            if isinstance(value, type):
                if self.is_state(value, field, qualified_name(value)):
                    checked[key] = value
                continue
            if not isinstance(value, str) or ":" not in value:
                self.error(
                    field,
                    f"Field '{field}' in {self.where} must be a dotted path "
                    f"'package.module:Class', got {_describe(value)}",
                    why="Each entry registers the class at its dotted path under its key.",
                    fix=f"Write e.g. {key}: mypkg.states:{key}.",
                )
                continue
            if self.state_class(value, field) is not None:
                checked[key] = value
        return checked

    def packs(self, packs: Any) -> tuple[str, ...] | None:
        if packs is None:
            return ()
        if isinstance(packs, str | bytes | Mapping) or not isinstance(packs, Sequence):
            self.error(
                "packs",
                f"Field 'packs' in {self.where} must be a list of dotted paths, "
                f"got {_describe(packs)}",
                why="packs lists state packs by dotted path; each registers its states.",
                fix='Write e.g. packs: ["mypkg.states:Pack"] (a list, even for one pack).',
            )
            return None
        checked: list[str] = []
        for index, path in enumerate(packs):
            field = f"packs[{index}]"
            if not isinstance(path, str) or not path.strip():
                self.error(
                    field,
                    f"Field '{field}' in {self.where} must be a dotted path, got {_describe(path)}",
                    why="Each entry of packs names a state pack by its dotted path.",
                    fix="Write 'package.module' or 'package.module:Pack'.",
                )
                continue
            if self.pack(path, field) is not None:
                checked.append(path)
        return tuple(checked)

    # -- dotted paths --------------------------------------------------------------------

    def import_path(self, path: str, field: str, what: str) -> Any:
        try:
            return import_object(path, what=what)
        except FloeError as error:
            why = f"{error.what}: {error.why}" if error.why else error.what
        except Exception as error:  # the module itself failed while importing
            why = f"Importing it raised {type(error).__name__}: {error}"
        self.error(
            field,
            f"Cannot import the {what} {path!r} for field '{field}' in {self.where}",
            why=why,
            fix="Check the module path and the name after ':', and that the package is "
            "installed in this environment (python -m pip show PACKAGE).",
        )
        return None

    def state_class(self, path: str, field: str) -> type | None:
        target = self.import_path(path, field, "state class")
        if target is None or not self.is_state(target, field, path):
            return None
        state: type = target
        return state

    def is_state(self, target: object, field: str, path: str) -> bool:
        if isinstance(target, type) and issubclass(target, State):
            return True
        self.error(
            field,
            f"{path!r} for field '{field}' in {self.where} is not a State subclass",
            why=f"It is {_describe(target)}.",
            fix="Point it at a class that subclasses floe.State (and implements handle_message).",
        )
        return False

    def pack(self, path: str, field: str) -> object | None:
        target = self.import_path(path, field, "state pack")
        if target is None:
            return None
        try:
            pack: object = pack_object(target)
        except TypeError as error:
            self.error(
                field,
                f"{path!r} for field '{field}' in {self.where} is not a state pack",
                why=str(error),
                fix="A pack is a module, class or object with a floe_register_states(register) "
                "method that calls register(name, StateClass) for each state.",
            )
            return None
        return pack


def pack_object(target: object) -> Any:
    """The object whose ``floe_register_states`` to call (a class is instantiated)."""
    if isinstance(target, type):
        if not callable(getattr(target, "floe_register_states", None)):
            raise TypeError(
                f"The class {qualified_name(target)} has no floe_register_states method."
            )
        try:
            target = target()
        except Exception as error:
            raise TypeError(f"Creating it raised {type(error).__name__}: {error}") from error
    if not callable(getattr(target, "floe_register_states", None)):
        raise TypeError(f"It is {_describe(target)}, without a floe_register_states method.")
    return target


def _non_json(
    value: Any, path: str, ancestors: frozenset[int] = frozenset()
) -> Iterator[tuple[str, str]]:
    """Each part of *value* that is not a plain JSON value: its path and what it is."""
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            yield path, _describe(value)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path, _describe(value)
        return
    if isinstance(value, Mapping | list | tuple):
        if id(value) in ancestors:
            # a YAML alias inside its own anchor ("&a [*a]") makes a value that holds itself
            yield path, "a reference to itself"
            return
        inside = ancestors | {id(value)}
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    yield f"{path}.{key!r}", _describe(key)
                else:
                    yield from _non_json(item, f"{path}.{key}", inside)
        else:
            for index, item in enumerate(value):
                yield from _non_json(item, f"{path}[{index}]", inside)
        return
    yield path, _describe(value)


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, type):
        return f"the class {qualified_name(value)}"
    if isinstance(value, types.ModuleType):
        return f"the module {value.__name__}"
    if isinstance(value, types.FunctionType | types.BuiltinFunctionType):
        return f"the function {value.__module__}:{value.__qualname__}"
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind} ({_short.repr(value)})"


# -- registering -----------------------------------------------------------------------


class _Registration(NamedTuple):
    name: str
    state: type
    provider: str
    replace: bool = False


def config_registry(
    config: str | os.PathLike[str] | Mapping[str, Any] | ComponentConfig, base: StateRegistry
) -> tuple[StateRegistry, str]:
    """The states of a component made from *config*: a namespace over *base*, and the
    name of the initial state.

    A name resolves in the config's own states first (its ``states:`` entries and a
    dotted ``initial_state``), then in its packs (in the order listed), then in *base*;
    so a config may use a name *base* also has (``InitialState``, or a ``Processing``
    another config defines) without touching *base*. Two packs of the config claiming
    one name is a :class:`~floe.StateError` naming both classes. *base* is not changed.

    Give the namespace to a machine (``StateMachine(initial, registry=namespace)``), or
    to a running one with :meth:`~floe.StateMachine.use_registry`, to apply a new
    version of the config, as ``floe watch`` does.
    """
    if not isinstance(base, StateRegistry):
        raise StateError(
            f"config_registry(config, base) needs a floe.StateRegistry as base, got {base!r}",
            why="The config's states are layered over base: names it lacks are looked up there.",
            fix="Pass the kernel's registry: floe.config_registry(config, kernel.states).",
        )
    loaded = load_config(config)
    packs = StateRegistry(parent=base)
    own = StateRegistry(parent=packs)
    initial, _ = _fill(loaded, packs=packs, own=own)
    return own, initial


def register_config_states(config: ComponentConfig, registry: StateRegistry) -> str:
    """Register the config's states into *registry* itself; return the initial state's name.

    For states shared by every component of a kernel (``kernel.states``); a component
    made with ``Engine.create_component`` uses :func:`config_registry` instead, which
    changes no shared registry. The order is: packs (in the order listed), then the
    ``states:`` mapping (each class under its key), then a dotted ``initial_state``
    (under its key in ``states:`` if the class is there, else under its class name). It
    is all or nothing: a :class:`~floe.StateError` for a name two providers claim (two
    packs; a pack or a key and a state already in *registry*, such as a built-in one)
    or a :class:`~floe.ConfigError` leaves *registry* untouched. Registering the same
    config again is a no-op.
    """
    config = load_config(config)
    scratch = copy_registry(registry)
    initial, done = _fill(config, packs=scratch, own=scratch)
    # nothing failed: the same registrations cannot fail on the real registry
    for registration in done:
        registry.register(
            registration.name,
            registration.state,
            replace=registration.replace,
            provider=registration.provider,
        )
    return initial


def _fill(
    config: ComponentConfig, *, packs: StateRegistry, own: StateRegistry
) -> tuple[str, list[_Registration]]:
    """Register the config's packs into *packs* and its own states into *own* (whose
    lookups see *packs*); return the initial state's name and what was registered."""
    where = config.where
    done: list[_Registration] = []

    def into(target: StateRegistry) -> Callable[[_Registration], None]:
        def add(registration: _Registration) -> None:
            name, state = registration.name, registration.state
            if name in target and target.get(name) is state:
                return  # already known (the same pack installed as a plugin): keep its provider
            target.register(
                name, state, replace=registration.replace, provider=registration.provider
            )
            done.append(registration)

        return add

    for index, path in enumerate(config.packs):
        _register_pack(config, index, path, into(packs))
    add = into(own)
    for key, value in config.states.items():
        state = value if isinstance(value, type) else import_object(value, what="state class")
        add(_Registration(key, state, f"config {where} (states.{key})"))
    initial = config.initial_state
    if ":" in initial:
        # a dotted initial state goes by the name it already has (a key of states:, or
        # a pack's name for it), else by its class name
        state = import_object(initial, what="state class")
        keys = [key for key, value in config.states.items() if _same_class(value, state)]
        known = keys[0] if keys else own.name_of(state)
        initial = known or state.__name__
        if known is None:
            add(_Registration(initial, state, f"config {where} (initial_state)"))
    if initial not in own:
        raise ConfigError(
            f"Field 'initial_state' in {where} names an unknown state {initial!r}",
            why=f"Known states: {', '.join(own.names()) or 'none'}.",
            fix="Use one of the known names, add the state under states:, list the pack that "
            "provides it under packs:, or write a dotted path package.module:Class.",
            context={"source": config.source or "<mapping>", "field": "initial_state"},
        )
    return initial, done


def config_names(registry: StateRegistry, base: StateRegistry) -> list[str]:
    """The names *registry* (a config's namespace over *base*) resolves otherwise than
    *base*: the states the config adds or replaces, sorted."""
    return [
        name
        for name in registry.names()
        if name not in base or registry.get(name) is not base.get(name)
    ]


def _register_pack(
    config: ComponentConfig, index: int, path: str, add: Callable[[_Registration], None]
) -> None:
    provider = f"pack {path!r} (config {config.where})"
    field = f"packs[{index}]"
    context = {"source": config.source or "<mapping>", "field": field}
    pack = pack_object(import_object(path, what="state pack"))

    def register(name: str, state: type, *, replace: bool = False) -> None:
        if not isinstance(state, type) or not issubclass(state, State):
            raise ConfigError(
                f"The state pack {path!r} ({field} in {config.where}) registered "
                f"{_short.repr(name)} as {_describe(state)}, not a State subclass",
                why="A machine asks its states handle_message(message, component), which "
                "floe.State defines.",
                fix="Register State subclasses only: register('Name', MyState).",
                context=context,
            )
        add(_Registration(name, state, provider, replace))

    try:
        pack.floe_register_states(register=register)
    except FloeError:
        raise
    except Exception as error:
        raise ConfigError(
            f"The state pack {path!r} ({field} in {config.where}) failed to register its states",
            why=f"{type(error).__name__}: {error}",
            fix="Fix the pack's floe_register_states(register) method.",
            context=context,
        ) from error


def _same_class(value: str | type, state: type) -> bool:
    if isinstance(value, type):
        return value is state
    try:
        return import_object(value, what="state class") is state
    except Exception:  # checked by load_config; a failure here only means "not the same"
        return False


def copy_registry(registry: StateRegistry) -> StateRegistry:
    """A new registry holding the same names, classes and providers as *registry*."""
    copy = StateRegistry()
    for name in registry.names():
        copy.register(name, registry.get(name), provider=registry.provider(name))
    return copy
