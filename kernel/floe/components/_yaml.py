"""Reading component configs and rules files: YAML with bounds.

A YAML alias (``*name``) repeats the value of its anchor (``&name``) without repeating
its text, so a few hundred bytes of nested aliases ("billion laughs") stand for billions
of values. PyYAML builds them as shared references, cheaply; whatever walks or stores
the result afterwards (checking the rules, journaling them) pays for every repetition.
So the loader counts as it composes, and refuses a document before anything else sees it:

* more than :data:`MAX_BYTES` bytes of text;
* more than :data:`MAX_ALIASES` aliases;
* more than :data:`MAX_NODES` values, counting each alias as the values it repeats;
* more than :data:`MAX_BYTES` characters of text in its values, aliases expanded;
* values nested deeper than :data:`MAX_DEPTH` levels, aliases expanded.

Each refusal is a :class:`~floe.ConfigError` naming the file and the bound.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..kernel._errors import ConfigError

if TYPE_CHECKING:
    import yaml

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "read_yaml"]

MAX_BYTES: Final = 1024 * 1024
"""The largest YAML file read, in bytes (1 MiB)."""
MAX_ALIASES: Final = 1000
"""The most aliases (``*name``) one document may use."""
MAX_NODES: Final = 100_000
"""The most values one document may hold, each alias counted as the values it repeats."""
MAX_DEPTH: Final = 64
"""The deepest nesting of lists and mappings (the top-level mapping is 1), aliases expanded."""

_WHY_ALIASES: Final = (
    "An alias (*name) repeats the value of its anchor (&name); nested aliases let a few "
    "bytes stand for billions of values, so floe counts them and stops early."
)


class _Refused(Exception):
    """A bound the document broke, with where in the text it happened."""

    def __init__(self, bound: str, limit: int, what: str, mark: Any) -> None:
        super().__init__(what)
        self.bound = bound
        self.limit = limit
        self.what = what
        self.mark = mark


def read_yaml(path: str | os.PathLike[str], *, what: str = "component config") -> Any:
    """Parse the YAML file at *path* with PyYAML's safe loader, within the bounds above.

    A missing or unreadable file, text that is not UTF-8, a YAML syntax error (with its
    line and column) and a broken bound are each a :class:`~floe.ConfigError` naming
    the file.
    """
    import yaml  # PyYAML loads on use: ``import floe`` stays light

    file = Path(path)
    source = str(file)
    text = _read_text(file, source, what)
    loader = _bounded_loader()(text)
    try:
        return loader.get_single_data()
    except _Refused as refused:
        raise _refusal(refused, source, what) from None
    except yaml.YAMLError as error:
        raise _yaml_error(error, source, what) from None
    finally:
        loader.dispose()


def _read_text(file: Path, source: str, what: str) -> str:
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)  # never more: the file may be huge or endless
    except FileNotFoundError:
        raise ConfigError(
            f"The {what} {source} does not exist",
            why=f"There is no file at {file.absolute()}.",
            fix="Check the path (relative paths start at the working directory), or pass "
            "--config PATH / set FLOE_CONFIG to an existing YAML file.",
            context={"source": source},
        ) from None
    except OSError as error:
        raise ConfigError(
            f"Cannot read the {what} {source}",
            why=f"{type(error).__name__}: {error.strerror or error}",
            fix="Point at a readable YAML file (not a directory) and check its permissions.",
            context={"source": source},
        ) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"The {what} {source} is larger than {MAX_BYTES} bytes",
            why=f"floe reads at most {MAX_BYTES} bytes (1 MiB) of YAML for a {what}.",
            fix=f"Check that {source} is the {what}; keep large data out of it.",
            context={"source": source, "bound": "bytes", "limit": MAX_BYTES},
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"Cannot read the {what} {source}: it is not UTF-8 text",
            why=str(error),
            fix="Save the file as UTF-8.",
            context={"source": source},
        ) from None


class _Size(NamedTuple):
    """What one composed node stands for, aliases expanded."""

    values: int
    height: int
    """Levels of lists and mappings it holds (a scalar: none)."""
    chars: int
    """Characters of its scalars."""


_ONE_VALUE: Final = _Size(1, 0, 0)


@functools.cache
def _bounded_loader() -> type[yaml.SafeLoader]:
    """PyYAML's safe loader, counting aliases, values, text and depth as it composes."""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.aliases = 0
            self.depth = 0
            self.total = _Size(0, 0, 0)
            """The document so far: values and characters (height unused)."""
            self.sizes: dict[yaml.Node, _Size] = {}

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            if self.check_event(yaml.AliasEvent):
                node = super().compose_node(parent, index)
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise _Refused(
                        "aliases", MAX_ALIASES, f"uses more than {MAX_ALIASES} aliases", mark
                    )
                # an alias inside its own anchor ("&a [*a]") has no size yet: it is one
                # value here, and the checks of the config report it
                size = self.sizes.get(node, _ONE_VALUE) if node is not None else _ONE_VALUE
                self._count(size.values, size.chars, self.depth + size.height, mark)
                return node
            before = self.total
            nests = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
            self._count(1, 0, self.depth + nests, mark)
            self.depth += 1
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
            if node is None:
                return node
            if isinstance(node.value, str):  # a scalar: its text counts
                self._count(0, len(node.value), self.depth, mark)
            self.sizes[node] = _Size(
                self.total.values - before.values,
                _height(node, self.sizes),
                self.total.chars - before.chars,
            )
            return node

        def _count(self, values: int, chars: int, depth: int, mark: Any) -> None:
            self.total = total = _Size(self.total.values + values, 0, self.total.chars + chars)
            if total.values > MAX_NODES:
                raise _Refused(
                    "values",
                    MAX_NODES,
                    f"expands to more than {MAX_NODES} values (aliases counted as what "
                    "they repeat)",
                    mark,
                )
            if total.chars > MAX_BYTES:
                raise _Refused(
                    "text",
                    MAX_BYTES,
                    f"expands to more than {MAX_BYTES} characters of text (aliases counted "
                    "as what they repeat)",
                    mark,
                )
            if depth > MAX_DEPTH:
                raise _Refused("depth", MAX_DEPTH, f"nests deeper than {MAX_DEPTH} levels", mark)

    return BoundedLoader


def _height(node: yaml.Node, sizes: dict[yaml.Node, _Size]) -> int:
    """How many levels of lists and mappings *node* holds (a scalar: none)."""
    value = node.value
    if not isinstance(value, list):
        return 0
    children = (part for item in value for part in (item if isinstance(item, tuple) else (item,)))
    return 1 + max((sizes.get(child, _ONE_VALUE).height for child in children), default=0)


def _refusal(refused: _Refused, source: str, what: str) -> ConfigError:
    line, column = refused.mark.line + 1, refused.mark.column + 1
    why = {
        "aliases": _WHY_ALIASES,
        "values": _WHY_ALIASES,
        "text": _WHY_ALIASES,
        "depth": "Deeply nested values (or aliases of nested values inside nested values) "
        "are refused before anything walks them.",
    }[refused.bound]
    return ConfigError(
        f"Refusing the {what} {source}: it {refused.what} (at line {line}, column {column})",
        why=why,
        fix="Write the values out plainly, with fewer aliases (*name) and less nesting; "
        f"a {what} holds names, paths and small rules.",
        context={
            "source": source,
            "bound": refused.bound,
            "limit": refused.limit,
            "line": line,
            "column": column,
        },
    )


def _yaml_error(error: Any, source: str, what: str) -> ConfigError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    why = "; ".join(filter(None, (context, problem))) or str(error)
    if mark is None:
        return ConfigError(
            f"Cannot parse the {what} {source}: YAML syntax error",
            why=why,
            fix="Correct the YAML syntax.",
            context={"source": source},
        )
    # PyYAML counts from 0; editors count from 1
    line, column = mark.line + 1, mark.column + 1
    return ConfigError(
        f"Cannot parse the {what} {source}: YAML syntax error at line {line}, column {column}",
        why=why,
        fix=f"Correct the YAML at line {line}, column {column} (indentation, a missing ':' "
        "after a key, an unclosed quote or bracket, or a tab used for indentation).",
        context={"source": source, "line": line, "column": column},
    )
