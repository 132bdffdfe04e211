"""Plugin loading: which plugins, in which order, and what happens to broken ones.

The load order (documented in docs/plugins.md and pinned by a test):

1. essential kernel plugins (the memory store, exponential backoff, file artifacts,
   environment secrets);
2. first-party plugins: entry points of the ``floe-kernel`` distribution, by name;
3. third-party plugins: entry points of other distributions, by distribution, then name;
4. plugins named in settings (``plugins`` / ``$FLOE_PLUGINS``), in the order given;
5. plugin objects passed to the :class:`~floe.Kernel` directly, in the order given.

pluggy calls the most recently registered implementation first, so for a
"first non-None result" hook a later stage overrides an earlier one.
"""

from __future__ import annotations

import importlib
import traceback
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

import attrs
import pluggy

from .. import hookspecs
from ._errors import FloeError, ImportPathError, PluginError

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "PluginWarning", "import_object", "load_plugins"]

ENTRY_POINT_GROUP: Final = "floe"
FIRST_PARTY: Final = "floe-kernel"
"""The distribution of the kernel and the first-party plugins (``floe`` on the package index
is another project)."""

Stage = Literal["kernel", "first-party", "third-party", "settings", "explicit"]
Status = Literal["loaded", "blocked", "failed"]


class PluginWarning(UserWarning):
    """A plugin was skipped because it is broken (strict mode makes this an error)."""


@attrs.frozen
class PluginInfo:
    """One plugin as ``floe plugins`` shows it."""

    name: str
    stage: Stage
    status: Status
    distribution: str | None = None
    version: str | None = None
    source: str | None = None
    """Where it came from: the entry point's value or the import path."""
    hooks: tuple[str, ...] = ()
    error: str | None = None
    traceback: str | None = None


@attrs.frozen
class _Candidate:
    name: str
    stage: Stage
    source: str | None
    distribution: str | None
    version: str | None
    load: Any  # () -> plugin object


def import_object(path: str, *, what: str = "object") -> Any:
    """Import ``package.module`` or ``package.module:attribute.path``."""
    module_name, _, attribute = path.partition(":")
    if not module_name or (":" in path and not attribute):
        raise ImportPathError(
            f"Malformed import path {path!r} for a {what}",
            fix="Write 'package.module' or 'package.module:name'.",
            context={"path": path},
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportPathError(
            f"Cannot import module {module_name!r} for the {what} {path!r}",
            why=f"{type(error).__name__}: {error}",
            fix="Check the spelling and that the package is installed in this environment.",
            context={"path": path},
        ) from error
    for part in filter(None, attribute.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ImportPathError(
                f"Module {module_name!r} has no attribute {attribute!r} for the {what} {path!r}",
                fix="Check the name after the colon.",
                context={"path": path},
            ) from None
    return target


def _entry_point_candidates() -> list[_Candidate]:
    # imported here, not with the module: importlib.metadata brings email, zipfile and
    # more, which a kernel built without entry points never needs
    import importlib.metadata

    first: list[_Candidate] = []
    third: list[_Candidate] = []
    # the entry points of one distribution share its Distribution object, whose
    # metadata is read and parsed from its METADATA file on every access: once each
    described: dict[importlib.metadata.Distribution, tuple[str, str]] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name: str | None = None
        version: str | None = None
        if dist is not None:
            if dist not in described:
                metadata = dist.metadata
                described[dist] = (metadata["Name"], metadata["Version"])
            dist_name, version = described[dist]
        candidate = _Candidate(
            name=entry_point.name,
            stage="first-party" if dist_name == FIRST_PARTY else "third-party",
            source=entry_point.value,
            distribution=dist_name,
            version=version,
            load=entry_point.load,
        )
        (first if candidate.stage == "first-party" else third).append(candidate)
    first.sort(key=lambda c: c.name)
    third.sort(key=lambda c: ((c.distribution or "").lower(), c.name))
    return _dedupe(first) + _dedupe(third)


def _dedupe(candidates: list[_Candidate]) -> list[_Candidate]:
    # the same distribution can be visible twice on sys.path (editable + installed)
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for candidate in candidates:
        key = (candidate.name, candidate.distribution)
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return unique


def load_plugins(
    manager: pluggy.PluginManager,
    *,
    kernel_plugins: Sequence[tuple[str, object]],
    settings_plugins: Sequence[str] = (),
    explicit: Sequence[object] = (),
    disabled: Iterable[str] = (),
    strict: bool = False,
    entry_points: bool = True,
    kernel_version: str | None = None,
) -> list[PluginInfo]:
    """Register every plugin with *manager* in the documented order; report each one."""
    blocked = set(disabled)
    candidates: list[_Candidate] = [
        _Candidate(
            name, "kernel", _module_name(obj), FIRST_PARTY, kernel_version, lambda obj=obj: obj
        )
        for name, obj in kernel_plugins
    ]
    if entry_points:
        candidates += _entry_point_candidates()
    candidates += [
        _Candidate(
            path, "settings", path, None, None, lambda path=path: import_object(path, what="plugin")
        )
        for path in settings_plugins
    ]
    candidates += [
        _Candidate(
            _explicit_name(obj), "explicit", _module_name(obj), None, None, lambda obj=obj: obj
        )
        for obj in explicit
    ]

    report: list[PluginInfo] = []
    for candidate in candidates:
        if candidate.name in blocked:
            manager.set_blocked(candidate.name)
            report.append(_info(candidate, "blocked"))
            continue
        try:
            plugin = _register(manager, candidate)
        except PluginError as error:
            report.append(
                _info(
                    candidate,
                    "failed",
                    error=str(error),
                    tb=getattr(error, "plugin_traceback", None),
                )
            )
            if strict:
                raise
            warnings.warn(PluginWarning(str(error)), stacklevel=3)
            continue
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        report.append(_info(candidate, "loaded", hooks=hooks))
    return report


def _register(manager: pluggy.PluginManager, candidate: _Candidate) -> object:
    where = _describe(candidate)
    try:
        plugin = candidate.load()
    except Exception as error:
        failure = PluginError(
            f"Plugin {candidate.name!r} ({where}) failed to load",
            why=error.what if isinstance(error, FloeError) else f"{type(error).__name__}: {error}",
            fix="Fix or reinstall the plugin, or block it with FLOE_DISABLE_PLUGINS="
            f"{candidate.name}.",
            context=_context(candidate),
        )
        failure.plugin_traceback = traceback.format_exc()  # type: ignore[attr-defined]
        raise failure from error
    if manager.is_registered(plugin) or manager.has_plugin(candidate.name):
        other = manager.get_plugin(candidate.name)
        raise PluginError(
            f"Plugin {candidate.name!r} ({where}) is registered twice",
            why=f"The name or object is already taken by {other!r}.",
            fix="Give one of the plugins another entry-point name, or block one of them.",
            context=_context(candidate),
        )
    try:
        manager.register(plugin, name=candidate.name)
    except pluggy.PluginValidationError as error:
        raise PluginError(
            f"Plugin {candidate.name!r} ({where}) implements a hook wrongly",
            why=str(error),
            fix="Match the hook's parameter names in floe.hookspecs.",
            context=_context(candidate),
        ) from error
    unknown = [
        caller.name for caller in manager.get_hookcallers(plugin) or () if not caller.has_spec()
    ]
    if unknown:
        import difflib  # only for this error's suggestions

        manager.unregister(plugin)
        suggestions = {
            name: difflib.get_close_matches(name, _spec_names(), n=1) for name in unknown
        }
        hints = "; ".join(
            f"{name!r} (did you mean {match[0]!r}?)" if match else repr(name)
            for name, match in suggestions.items()
        )
        raise PluginError(
            f"Plugin {candidate.name!r} ({where}) implements unknown hooks: {hints}",
            why="floe has no hook of that name, so the implementation would never run.",
            fix="Correct the name; the hooks are listed in floe.hookspecs and the docs.",
            context=_context(candidate),
        )
    return plugin


def _spec_names() -> list[str]:
    return [name for names in hookspecs.PHASES.values() for name in names]


def _describe(candidate: _Candidate) -> str:
    if candidate.distribution and candidate.stage in ("first-party", "third-party"):
        return f"entry point {candidate.source!r} of {candidate.distribution} {candidate.version}"
    return f"{candidate.stage} plugin {candidate.source!r}"


def _context(candidate: _Candidate) -> dict[str, Any]:
    return {
        "plugin": candidate.name,
        "distribution": candidate.distribution,
        "source": candidate.source,
    }


def _info(
    candidate: _Candidate,
    status: Status,
    *,
    hooks: tuple[str, ...] = (),
    error: str | None = None,
    tb: str | None = None,
) -> PluginInfo:
    return PluginInfo(
        name=candidate.name,
        stage=candidate.stage,
        status=status,
        distribution=candidate.distribution,
        version=candidate.version,
        source=candidate.source,
        hooks=hooks,
        error=error,
        traceback=tb,
    )


def _module_name(obj: object) -> str:
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", None)
    qualname = (
        getattr(type(obj), "__qualname__", "") if not isinstance(obj, type) else obj.__qualname__
    )
    if hasattr(obj, "__file__"):  # a module
        return str(getattr(obj, "__name__", obj))
    return f"{module}:{qualname}"


def _explicit_name(obj: object) -> str:
    name = getattr(obj, "floe_plugin_name", None)
    if isinstance(name, str) and name:
        return name
    return _module_name(obj)
