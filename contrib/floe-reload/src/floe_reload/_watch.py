"""Hot reload of one component's configuration while it keeps running.

A :class:`Watcher` watches a component config, an optional rules file and the modules the
config names (its packs, its ``states:`` and a dotted ``initial_state``). When one of
them changes it:

1. re-imports the changed modules (``importlib.reload``);
2. checks the config with :func:`floe.explain`, exactly as creating the component would;
3. builds the config's namespace of states again (:func:`floe.config_registry`, the one
   ``Engine.create_component`` builds: the config's own states, then its packs, then the
   kernel's) and gives it to the component's machine
   (:meth:`floe.StateMachine.use_registry`), which stays in the state it is in (a new
   instance of that state's new class);
4. replaces the rules, journaled as ``component.rules.updated``, when the rules in the
   files changed (rules changed at run time are left alone otherwise).

A broken edit (a module that does not import, YAML that does not parse, a config that
``explain`` calls invalid, a change that drops the current state) is a
:class:`ReloadError` handed to ``on_error``; nothing of it is applied, so the last good
configuration stays active until a fixed version is saved.

File reads, YAML parsing and imports run in a worker thread; the swap itself happens on
the event loop inside :meth:`floe.Component.exclusive`, between two messages, never
during one. The kernel's registry (``kernel.states``) is never changed: a config may name
its own ``InitialState``, and other components keep the kernel's.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any, Final

import anyio
import attrs
from anyio.abc import TaskStatus

import floe

__all__ = ["ReloadError", "Reloaded", "Watcher", "watch"]

logger = logging.getLogger("floe.reload")

DEFAULT_DEBOUNCE_MS: Final = 1_600
"""Longest time, in milliseconds, over which changes are grouped into one reload."""
DEFAULT_STEP_MS: Final = 50
"""Quiet time, in milliseconds, after which the changes seen so far are reloaded."""
DEFAULT_POLL_MS: Final = 250
"""How often the file watcher's thread checks in; it bounds the start-up and stop delays."""

_KEEPS: Final = "The component keeps its last good configuration until a fixed version is saved."


class ReloadError(floe.ConfigError):
    """An edit that could not be applied; the last good configuration stays active."""


@attrs.frozen
class Reloaded:
    """What one successful reload did."""

    component: str
    state: str
    """The state the component is in after the reload (the one it was in)."""
    changed_files: tuple[str, ...]
    """The watched files whose content changed."""
    modules: tuple[str, ...]
    """The modules that were imported again."""
    rules_replaced: bool
    """Whether the rules in the files changed, and so replaced the component's."""
    rules_count: int
    """How many rules the component has now."""
    states: tuple[str, ...]
    """The state names the config contributes (its packs, ``states:``, dotted initial state)."""

    def __str__(self) -> str:
        changes = []
        if self.rules_replaced:
            plural = "s" * (self.rules_count != 1)
            changes.append(f"rules replaced ({self.rules_count} rule{plural})")
        if self.modules:
            changes.append(f"modules reloaded: {', '.join(self.modules)}")
        done = "; ".join(changes) or "nothing to change"
        return f"Reloaded component {self.component!r} (state {self.state} kept): {done}"


OnReload = Callable[[Reloaded], object]
OnError = Callable[[ReloadError], object]


def _log_reload(report: Reloaded) -> None:
    logger.info("%s", report)


def _log_error(error: ReloadError) -> None:
    logger.error("%s", error)


async def watch(
    config_path: str | os.PathLike[str],
    *,
    engine: floe.Engine,
    rules_path: str | os.PathLike[str] | None = None,
    on_reload: OnReload | None = None,
    on_error: OnError | None = None,
    debounce_ms: int = DEFAULT_DEBOUNCE_MS,
    step_ms: int = DEFAULT_STEP_MS,
    poll_ms: int = DEFAULT_POLL_MS,
    force_polling: bool | None = None,
    refresh: bool = False,
    task_status: TaskStatus[Watcher] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Keep the component *config_path* describes in step with its files until cancelled.

    Start it in a task group: ``watcher = await group.start(partial(watch, path,
    engine=engine))``; it reports ready (with the :class:`Watcher`) once the files are
    watched. The component is the one registered in *engine* under the config's name,
    else the one in the store (its state restored), else a new one, registered; its
    machine looks states up in the config's namespace (:func:`floe.config_registry`),
    as a component made with ``Engine.create_component`` does, and ``kernel.states``
    is left as it is.

    *rules_path* names a rules file (a YAML list) whose rules replace the config's.
    Each reload is handed to *on_reload* as a :class:`Reloaded`, each rejected edit to
    *on_error* as a :class:`ReloadError` (both default to the ``floe.reload`` logger);
    the callbacks run on the event loop and must not block. A config that is invalid
    when the watcher starts raises the error instead: there is no good version yet.

    With *refresh*, each reload first reads the component again from the store (a new
    :class:`floe.Component` each time), for a watcher that only reloads while other
    processes handle the messages, as ``floe watch`` does.
    """
    watcher = Watcher(
        config_path,
        engine=engine,
        rules_path=rules_path,
        on_reload=on_reload,
        on_error=on_error,
        debounce_ms=debounce_ms,
        step_ms=step_ms,
        poll_ms=poll_ms,
        force_polling=force_polling,
        refresh=refresh,
    )
    await watcher.run(task_status=task_status)


@attrs.frozen
class _Prepared:
    """A checked new configuration, ready to apply (built in a worker thread)."""

    config: floe.ComponentConfig
    rules: list[Any]
    registry: floe.StateRegistry
    """The config's namespace of states, over the kernel's registry."""
    provided: tuple[str, ...]
    """The names the namespace resolves otherwise than the kernel's registry."""
    reloaded: tuple[str, ...]
    modules: dict[str, Path | None]
    module_digests: dict[str, bytes | None]


class Watcher:
    """Watches one component's files and reloads it; see :func:`watch`.

    The attributes describe the last good configuration: :attr:`component`,
    :attr:`config`, :attr:`files` (what is watched now), :attr:`reloads` and
    :attr:`failures` (how many edits were applied and rejected).
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        *,
        engine: floe.Engine,
        rules_path: str | os.PathLike[str] | None = None,
        on_reload: OnReload | None = None,
        on_error: OnError | None = None,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        step_ms: int = DEFAULT_STEP_MS,
        poll_ms: int = DEFAULT_POLL_MS,
        force_polling: bool | None = None,
        refresh: bool = False,
    ) -> None:
        if not isinstance(engine, floe.Engine):
            raise floe.ConfigError(
                f"watch() needs a floe.Engine, got {engine!r}",
                fix="Pass engine=floe.Engine(kernel).",
            )
        _check_milliseconds("debounce_ms", debounce_ms)
        _check_milliseconds("step_ms", step_ms)
        _check_milliseconds("poll_ms", poll_ms)
        self.config_path = Path(config_path)
        self.rules_path = Path(rules_path) if rules_path is not None else None
        self.engine = engine
        self.on_reload: OnReload = on_reload or _log_reload
        self.on_error: OnError = on_error or _log_error
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.poll_ms = poll_ms
        self.force_polling = force_polling
        self.refresh = refresh
        self.reloads = 0
        self.failures = 0
        self._component: floe.Component | None = None
        self._config: floe.ComponentConfig | None = None
        self._file_rules: list[Any] = []
        self._modules: dict[str, Path | None] = {}
        self._module_digests: dict[str, bytes | None] = {}
        self._seen: dict[Path, bytes | None] = {}

    def __repr__(self) -> str:
        return f"<Watcher of {str(self.config_path)!r}>"

    @property
    def component(self) -> floe.Component:
        """The component being kept in step with the files."""
        if self._component is None:
            raise floe.StateError(
                "The watcher has not started",
                fix="Run it first: await group.start(watcher.run).",
            )
        return self._component

    @property
    def config(self) -> floe.ComponentConfig:
        """The last good configuration (the one in effect)."""
        if self._config is None:
            raise floe.StateError(
                "The watcher has not started", fix="Run it first: await group.start(watcher.run)."
            )
        return self._config

    @property
    def files(self) -> tuple[Path, ...]:
        """The files watched now: the config, the rules file, the modules the config names."""
        files = [_absolute(self.config_path)]
        if self.rules_path is not None:
            files.append(_absolute(self.rules_path))
        files.extend(path for path in self._modules.values() if path is not None)
        return tuple(dict.fromkeys(files))

    # -- running ------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[Watcher] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the component, then watch its files until cancelled (see :func:`watch`)."""
        await self.open()
        await self._watch_files(task_status)

    async def open(self) -> floe.Component:
        """Load the config and find (or create) the component; raise if the config is bad."""
        if self._component is not None:
            return self._component
        config, rules = await anyio.to_thread.run_sync(self._read_config)
        registry, initial = await anyio.to_thread.run_sync(
            floe.config_registry, config, self.engine.kernel.states
        )
        component = await self._find_component(config, rules, registry, initial)
        modules = _config_modules(config)
        files = {name: _module_file(name) for name in modules}
        self._config = config
        self._file_rules = rules
        self._modules = files
        self._component = component
        self._module_digests, self._seen = await anyio.to_thread.run_sync(self._read_digests, files)
        return component

    def _read_config(self) -> tuple[floe.ComponentConfig, list[Any]]:
        config = floe.load_config(self.config_path)
        if self.rules_path is not None:
            return config, floe.load_rules(self.rules_path)
        return config, list(config.rules)

    async def _find_component(
        self,
        config: floe.ComponentConfig,
        rules: list[Any],
        registry: floe.StateRegistry,
        initial: str,
    ) -> floe.Component:
        """The registered component (given the config's namespace), else the stored one
        (restored in it), else a new one."""
        engine = self.engine
        if config.name in engine:
            component = engine.get(config.name)
            async with component.exclusive():
                machine = component.state_machine
                _check_kept(registry, machine.current_state_name, self.config_path)
                machine.use_registry(registry)
            return component
        try:
            return await engine.restore(config.name, config=config)
        except floe.NotFoundError:
            pass
        machine = floe.StateMachine(initial, registry=registry)
        component = engine.register(floe.Component(config.name, rules, machine))
        await component.flush()
        return component

    def _read_digests(
        self, modules: Mapping[str, Path | None]
    ) -> tuple[dict[str, bytes | None], dict[Path, bytes | None]]:
        module_digests = {
            name: _digest(path) if path is not None else None for name, path in modules.items()
        }
        return module_digests, {path: _digest(path) for path in self.files}

    async def _watch_files(self, task_status: TaskStatus[Watcher]) -> None:
        import watchfiles  # loads on use: the plugin module stays light for every kernel

        started = False
        while True:
            files = self.files
            watched = {str(path) for path in files}
            directories = sorted({path.parent for path in files if path.parent.is_dir()})

            def relevant(change: watchfiles.Change, path: str, watched: set[str] = watched) -> bool:
                return os.path.normpath(path) in watched

            notifications = watchfiles.awatch(
                *directories,
                watch_filter=relevant,
                debounce=self.debounce_ms,
                step=self.step_ms,
                rust_timeout=self.poll_ms,
                # the first (empty) yield proves the notifier runs, so edits from then on
                # are seen; what changed before it is found by comparing contents
                yield_on_timeout=True,
                recursive=False,
                force_polling=self.force_polling,
            )
            first = True
            async with aclosing(notifications):
                async for changes in notifications:
                    if not started:
                        task_status.started(self)
                        started = True
                    if changes or first:
                        await self.check()
                    first = False
                    if self.files != files:
                        break  # the config names other modules now: watch those

    # -- reloading ------------------------------------------------------------------------

    async def check(self) -> Reloaded | None:
        """Reload if a watched file's content changed since it was last read.

        Returns the :class:`Reloaded` (also handed to ``on_reload``), or None when nothing
        changed or the edit was rejected (handed to ``on_error``).
        """
        component = self.component
        seen = await anyio.to_thread.run_sync(_digests, self.files)
        previous = self._seen
        changed = tuple(str(path) for path, digest in seen.items() if previous.get(path) != digest)
        self._seen = seen
        if not changed:
            return None
        try:
            report = await self._reload(component, changed)
        except Exception as error:  # an edit, however broken, must not stop the watcher
            self.failures += 1
            self.on_error(_reload_error(component.name, error))
            return None
        self.reloads += 1
        self.on_reload(report)
        return report

    async def _reload(self, component: floe.Component, changed: tuple[str, ...]) -> Reloaded:
        prepared = await anyio.to_thread.run_sync(self._prepare, self.engine.kernel.states)
        # the modules that imported again are current even if the rest is rejected
        self._module_digests.update(prepared.module_digests)
        config = prepared.config
        if config.name != component.name:
            raise floe.ConfigError(
                f"The config now names the component {config.name!r}",
                why=f"This watcher keeps {component.name!r} in step with {self.config_path}; "
                "a new name would be another component.",
                fix=f"Restore 'name: {component.name}', or stop the watcher and start one "
                "for the new component.",
                context={"source": str(self.config_path), "field": "name"},
            )
        registry = prepared.registry
        rules_replaced = prepared.rules != self._file_rules
        if self.refresh:
            component = await self._read_again(component, config)
        # swapped while no message is being handled, so that none decides with an old
        # state class and enters a new one, or the other way round
        async with component.exclusive():
            machine = component.state_machine
            _check_kept(registry, machine.current_state_name, self.config_path)
            machine.use_registry(registry)  # leaves the machine as it was if it raises
            if rules_replaced:
                component.update_rules(prepared.rules)
        self._config = config
        self._file_rules = prepared.rules
        self._modules = prepared.modules
        self._module_digests = dict(prepared.module_digests)
        if rules_replaced:
            await component.flush()
        return Reloaded(
            component=component.name,
            state=component.state,
            changed_files=changed,
            modules=prepared.reloaded,
            rules_replaced=rules_replaced,
            rules_count=len(component.rules),
            states=prepared.provided,
        )

    async def _read_again(
        self, component: floe.Component, config: floe.ComponentConfig
    ) -> floe.Component:
        """The component as the store has it now: another process may have moved it,
        maybe into a state only the new version of *config* has."""
        engine = self.engine
        if engine.components.get(component.name) is component:
            engine.unregister(component.name)
        # if this raises, the next reload tries again
        restored = await engine.restore(component.name, config=config)
        self._component = restored
        return restored

    def _prepare(self, base: floe.StateRegistry) -> _Prepared:
        """Re-import, check and build the new configuration (in a worker thread); *base*
        is the kernel's registry, which the new namespace looks names up in."""
        importlib.invalidate_caches()
        reloaded, digests = self._reload_modules()
        explanation = floe.explain(self.config_path, registry=base)
        if not explanation.is_valid:
            raise _explained_error(explanation, self.config_path)
        config, rules = self._read_config()
        registry, _ = floe.config_registry(config, base)
        modules = {name: _module_file(name) for name in _config_modules(config)}
        module_digests: dict[str, bytes | None] = {}
        for name, path in modules.items():
            if name in digests:
                module_digests[name] = digests[name]  # imported again just now
            elif name in self._module_digests:
                module_digests[name] = self._module_digests[name]
            else:  # newly named: imported as it is now
                module_digests[name] = _digest(path) if path is not None else None
        return _Prepared(
            config=config,
            rules=rules,
            registry=registry,
            provided=explanation.config_states,
            reloaded=reloaded,
            modules=modules,
            module_digests=module_digests,
        )

    def _reload_modules(self) -> tuple[tuple[str, ...], dict[str, bytes | None]]:
        """Import again each module named by the config whose file changed."""
        reloaded: list[str] = []
        digests: dict[str, bytes | None] = {}
        for name, path in self._modules.items():
            if path is None:
                continue
            digest = _digest(path)
            if digest == self._module_digests.get(name):
                continue
            module = sys.modules.get(name)
            if module is not None:
                _drop_byte_code(path)
                try:
                    importlib.reload(module)
                except Exception as error:
                    raise _import_error(name, path, error) from error
                reloaded.append(name)
            digests[name] = digest
        return tuple(reloaded), digests


# -- helpers ------------------------------------------------------------------------------


def _check_milliseconds(option: str, value: object) -> None:
    if type(value) is not int or value < 1:
        raise floe.ConfigError(
            f"Invalid {option}={value!r}",
            fix=f"Pass {option} as a whole number of milliseconds >= 1.",
        )


def _absolute(path: Path) -> Path:
    # resolved, as the notifier reports paths under the resolved directories
    return path.resolve()


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None  # gone (or not readable): a change like any other


def _digests(paths: Iterable[Path]) -> dict[Path, bytes | None]:
    return {path: _digest(path) for path in paths}


def _dotted_module(path: str) -> str:
    return path.partition(":")[0]


def _config_modules(config: floe.ComponentConfig) -> list[str]:
    """The modules a config names, in the order it names them."""
    paths = list(config.packs)
    paths += [value for value in config.states.values() if isinstance(value, str)]
    if ":" in config.initial_state:
        paths.append(config.initial_state)
    return list(dict.fromkeys(_dotted_module(path) for path in paths))


def _module_file(name: str) -> Path | None:
    """The source file of module *name* (None when it has none, or cannot be found)."""
    module = sys.modules.get(name)
    location = getattr(module, "__file__", None) if module is not None else None
    if location is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        location = spec.origin if spec is not None and spec.has_location else None
    if not location or not location.endswith(".py"):
        return None
    return _absolute(Path(location))


def _drop_byte_code(path: Path) -> None:
    # the cached byte code is checked against the source's size and its mtime in whole
    # seconds, so an edit of the same length within a second would run the old code
    try:
        Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
    except (OSError, NotImplementedError, ValueError):
        pass


def _import_error(name: str, path: Path, error: Exception) -> floe.ConfigError:
    if isinstance(error, SyntaxError):
        where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
        why = f"SyntaxError at {where}: {error.msg}"
    else:
        why = f"Importing it raised {type(error).__name__}: {error}"
    return floe.ConfigError(
        f"Cannot import the changed module {name!r} ({path})",
        why=why,
        fix=f"Correct {path.name} and save it again.",
        context={"module": name, "file": str(path)},
    )


def _explained_error(explanation: floe.Explanation, path: Path) -> floe.ConfigError:
    first = explanation.errors[0]
    fix = first.fix
    more = len(explanation.errors) - 1
    if more:
        count = f"{more} more problem{'s' * (more != 1)}"
        fix = f"{fix or ''} ({count}: 'floe explain {path}' lists them all.)".strip()
    return floe.ConfigError(first.what, why=first.why, fix=fix, context=dict(first.context))


def _check_kept(registry: floe.StateRegistry, current: str, source: Path) -> None:
    """The new configuration must still have the state the component is in."""
    if current not in registry:
        raise floe.StateError(
            f"The new configuration has no state {current!r}, the component's current state",
            why=f"It knows: {', '.join(registry.names())}.",
            fix=f"Keep {current!r} in the config (or its pack) until the component has left it.",
            context={"source": str(source), "state": current},
        )


def _reload_error(component: str, error: Exception) -> ReloadError:
    if not isinstance(error, floe.FloeError):
        error = floe.FloeError(
            f"Unexpected {type(error).__name__}: {error}",
            why="Code run while reloading (a state, a pack, a store) raised it.",
            fix="Fix that code; 'floe explain CONFIG' or creating the component shows where.",
        )
    fix = f"{error.fix} {_KEEPS}" if error.fix else _KEEPS
    return ReloadError(
        f"Could not reload component {component!r}: {error.what}",
        why=error.why,
        fix=fix,
        context={"component": component, **error.context},
    )
