"""Settings: defaults < ``[tool.floe]`` in pyproject.toml < floe.toml < ``FLOE_*`` < arguments.

Each source is validated on its own, so an error names the source and the key that
holds the bad value. Tables that are not settings (``[tool.floe.server]``) are plugin
sections, handed to plugins untouched through :meth:`Settings.section`.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from ._errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX: Final = "FLOE_"
_LOG_FORMATS: Final = ("console", "json", "off")
_BACKENDS: Final = ("trio", "asyncio")
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


@attrs.frozen
class Settings:
    """Everything the kernel is configured with. Build one with :func:`load_settings`."""

    store: str = "sqlite:///.floe/floe.db"
    """URL of the store (``memory://``, ``sqlite:///PATH``, ``json:///DIR`` ...)."""
    plugins: tuple[str, ...] = ()
    """Extra plugins to load by import path (``pkg.module`` or ``pkg.module:object``)."""
    disable_plugins: tuple[str, ...] = ()
    """Plugin names not to load (as ``floe plugins`` lists them)."""
    strict_plugins: bool = False
    """Raise on a broken plugin instead of warning and skipping it."""
    log_format: str = "console"
    """Log sink: ``console`` (human, colour on a TTY), ``json`` (JSON lines) or ``off``."""
    log_level: str = "WARNING"
    """Level of the ``floe`` logger: DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    backend: str = "trio"
    """Event loop for sync entry points and the CLI: ``trio`` or ``asyncio``."""
    artifact_store: str | None = None
    """URL where large artifacts go (``None``: kept inline in the journal)."""
    artifact_inline_limit: int = 65_536
    """Bytes an artifact's body may take inside its journal event when an artifact store
    is set; a larger body goes to the artifact store."""
    secrets: str | None = None
    """URL of the secret store (``None``: ``store://``, encrypted in the kernel's store, when
    the secrets plugin is loaded)."""
    bus_queue_size: int = 10_000
    """Capacity of the kernel's lossless event queue."""
    run_lease_seconds: float = 30.0
    """How long a run stays leased to the process executing it without a heartbeat
    (renewed every third of it): a run whose process is gone is free again after this."""
    sections: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    """Plugin sections: each table under ``[tool.floe]`` / in floe.toml, by name."""
    sources: Mapping[str, str] = attrs.field(factory=dict)
    """Where each non-default setting came from (for ``floe plugins`` and errors)."""

    def section(self, name: str) -> Mapping[str, Any]:
        """A plugin's own settings table (empty when absent)."""
        return self.sections.get(name, {})


def _as_str(choices: tuple[str, ...] | None = None, *, upper: bool = False) -> _Parser:
    def parse(value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        result = value.upper() if upper else value
        if choices is not None and result not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        if not result:
            raise ValueError("expected a non-empty string")
        return result

    return parse


def _as_optional_str(value: Any, from_env: bool) -> str | None:
    if from_env and value == "":
        return None
    text: str = _as_str()(value, from_env)
    return text


def _as_names(value: Any, from_env: bool) -> tuple[str, ...]:
    if from_env and isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) and item for item in value
    ):
        raise TypeError("expected a list of non-empty strings")
    return tuple(value)


def _as_bool(value: Any, from_env: bool) -> bool:
    if from_env and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected 1/0, true/false, yes/no or on/off")
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _as_positive_int(value: Any, from_env: bool) -> int:
    if from_env and isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
    if type(value) is not int:
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    if value < 1:
        raise ValueError("expected a number >= 1")
    return value


def _as_positive_seconds(value: Any, from_env: bool) -> float:
    if from_env and isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError("expected a number of seconds") from None
    if type(value) not in (int, float):
        raise TypeError(f"expected a number of seconds, got {type(value).__name__}")
    if not 0.1 <= value <= 86_400:
        raise ValueError("expected a number of seconds from 0.1 to 86400")
    return float(value)


_Parser = Callable[[Any, bool], Any]
_FIELDS: Final[dict[str, _Parser]] = {
    "store": _as_str(),
    "plugins": _as_names,
    "disable_plugins": _as_names,
    "strict_plugins": _as_bool,
    "log_format": _as_str(_LOG_FORMATS),
    "log_level": _as_str(_LOG_LEVELS, upper=True),
    "backend": _as_str(_BACKENDS),
    "artifact_store": _as_optional_str,
    "artifact_inline_limit": _as_positive_int,
    "secrets": _as_optional_str,
    "bus_queue_size": _as_positive_int,
    "run_lease_seconds": _as_positive_seconds,
}
_FIX: Final[dict[str, str]] = {
    "store": "Use a store URL such as 'sqlite:///.floe/floe.db' or 'memory://'.",
    "plugins": 'Use a list of import paths, e.g. ["mypkg.plugin"] (comma-separated in env).',
    "disable_plugins": 'Use a list of plugin names, e.g. ["json"] (comma-separated in env).',
    "strict_plugins": "Use true or false (1 or 0 in the environment).",
    "log_format": f"Use one of: {', '.join(_LOG_FORMATS)}.",
    "log_level": f"Use one of: {', '.join(_LOG_LEVELS)}.",
    "backend": f"Use one of: {', '.join(_BACKENDS)}.",
    "artifact_store": "Use a URL, e.g. 'file:////var/lib/floe/artifacts' (absolute) or 'file:///artifacts'.",
    "artifact_inline_limit": "Use a whole number of bytes >= 1, e.g. 65536.",
    "secrets": "Use a URL of a secret store a plugin provides.",
    "bus_queue_size": "Use a whole number >= 1, e.g. 10000.",
    "run_lease_seconds": "Use a number of seconds from 0.1 to 86400, e.g. 30.",
}


def _apply(
    values: dict[str, Any],
    sources: dict[str, str],
    sections: dict[str, dict[str, Any]],
    raw: Mapping[str, Any],
    source: str,
    *,
    from_env: bool = False,
) -> None:
    for key, value in raw.items():
        parser = _FIELDS.get(key)
        if parser is None:
            if isinstance(value, Mapping) and not from_env:
                sections.setdefault(key, {}).update(value)
                continue
            raise ConfigError(
                f"Unknown setting {key!r} in {source}",
                why=f"floe's settings are: {', '.join(_FIELDS)}; tables are plugin sections.",
                fix="Correct the spelling or remove the key.",
                context={"source": source, "key": key},
            )
        try:
            values[key] = parser(value, from_env)
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"Invalid value {value!r} for setting {key!r} in {source}",
                why=str(error),
                fix=_FIX[key],
                context={"source": source, "key": key},
            ) from None
        sources[key] = source


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"Cannot parse {path}",
            why=str(error),
            fix="Correct the TOML syntax at the position given.",
            context={"source": str(path)},
        ) from None
    except OSError as error:
        raise ConfigError(
            f"Cannot read {path}",
            why=error.strerror or str(error),
            fix="Check the file's permissions.",
            context={"source": str(path)},
        ) from None


def load_settings(
    root: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings from every source, in increasing precedence.

    *root* is the directory holding pyproject.toml / floe.toml (default: the working
    directory). *env* replaces ``os.environ`` (tests). *overrides* are the explicit
    arguments, validated like every other source.
    """
    base = Path(root) if root is not None else Path.cwd()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    sections: dict[str, dict[str, Any]] = {}

    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("floe", {})
        _apply(values, sources, sections, table, f"{pyproject} [tool.floe]")

    floe_toml = base / "floe.toml"
    if floe_toml.is_file():
        _apply(values, sources, sections, _read_toml(floe_toml), str(floe_toml))

    environ = os.environ if env is None else env
    from_env = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in _FIELDS
    }
    for key, value in from_env.items():
        _apply(
            values, sources, sections, {key: value}, f"${ENV_PREFIX}{key.upper()}", from_env=True
        )

    overrides = {key: value for key, value in overrides.items() if value is not None}
    sections_override = overrides.pop("sections", None)
    _apply(values, sources, sections, overrides, "arguments")
    if sections_override:
        for name, table in sections_override.items():
            sections.setdefault(name, {}).update(table)

    return Settings(**values, sections=sections, sources=sources)


def level_number(settings: Settings) -> int:
    """The numeric logging level of *settings*."""
    return logging.getLevelName(settings.log_level)  # type: ignore[no-any-return]
