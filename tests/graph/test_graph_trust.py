"""What a flow document may import: every path is checked against the allow-list before
anything is imported; a routine that needs constructor arguments is refused at save."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from graph_routines import NeedsArguments, Recorder

from floe import ConfigError, FloeError, ImportPathError
from floe.graph import ErrorHandler, ErrorStrategy, Flow, ImportNotAllowedError, Transformer

MARKER = """
from floe.graph import Routine

IMPORTED = True


class Evil(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, **data):
        pass


class Boom(Exception):
    pass


def run(message):
    return message
"""


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a module in tmp_path that no one has imported yet."""
    name = f"floe_marker_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MARKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _document(*, function: str | None = None, routine_class: str | None = None) -> dict[str, Any]:
    flow = Flow("crafted")
    transformer = Transformer()
    flow.add_routine(transformer, "transform")
    flow.add_routine(Transformer(), "second")
    flow.connect("transform", "output", "second", "input")
    document = flow.serialize()
    if function is not None:
        document["routines"]["transform"]["config"]["function"] = function
    if routine_class is not None:
        document["routines"]["second"]["class"] = routine_class
    return document


@pytest.mark.parametrize(
    "function", ["subprocess:run", "os:system", "builtins:exec", "{marker}:run"]
)
def test_a_transformer_function_must_be_allowed(tmp_path: Path, marker: str, function: str) -> None:
    function = function.format(marker=marker)
    path = tmp_path / "crafted.json"
    path.write_bytes(orjson.dumps(_document(function=function)))
    with pytest.raises(ImportNotAllowedError) as refused:
        Flow.load(path)
    error = refused.value
    assert isinstance(error, FloeError)
    assert isinstance(error, ImportPathError)
    assert function in error.what
    assert str(path) in error.what
    assert "routine 'transform'" in error.what
    assert "allow=" in str(error.fix)
    assert error.context["path"] == function
    assert marker not in sys.modules


def test_every_path_is_checked_before_any_is_imported(marker: str, tmp_path: Path) -> None:
    second = tmp_path / "second_marker.py"
    second.write_text(MARKER)
    # the first routine's class is allowed; the second's is not: neither module is imported
    document = _document(routine_class=f"{marker}:Evil")
    document["routines"]["transform"]["class"] = "second_marker:Evil"
    with pytest.raises(ImportNotAllowedError, match=rf"'{marker}:Evil'.*not allowed"):
        Flow.deserialize(document, allow=["second_marker"])
    assert marker not in sys.modules
    assert "second_marker" not in sys.modules

    handler = ErrorHandler(ErrorStrategy.RETRY, retryable_exceptions=(ConnectionError,))
    document = _document()
    document["routines"]["second"]["error_handler"] = handler.to_dict()
    document["routines"]["second"]["error_handler"]["retryable_exceptions"] = [f"{marker}:Boom"]
    with pytest.raises(ImportNotAllowedError, match="exception class"):
        Flow.deserialize(document)
    document["error_handler"] = dict(document["routines"]["second"]["error_handler"])
    document["routines"]["second"]["error_handler"] = None
    with pytest.raises(ImportNotAllowedError, match="error handler of the flow"):
        Flow.deserialize(document)
    assert marker not in sys.modules


def test_allowed_paths_load(marker: str) -> None:
    document = _document(function=f"{marker}:run", routine_class=f"{marker}:Evil")
    with pytest.raises(ImportNotAllowedError):
        Flow.deserialize(document, allow=[f"{marker}:Evil"])  # the class, not the function
    assert marker not in sys.modules
    flow = Flow.deserialize(document, allow=[marker])
    assert sys.modules[marker].IMPORTED is True
    assert type(flow.get_routine("second")).__name__ == "Evil"
    assert flow.get_routine("transform").get_config("function") == f"{marker}:run"
    # by target and by object; a module's submodules are allowed with it
    Flow.deserialize(document, allow=[f"{marker}:Evil", sys.modules[marker].run])
    recorded = Flow("recorded")
    recorded.add_routine(Recorder(), "r")
    Flow.deserialize(recorded.serialize(), allow=[sys.modules["graph_routines"]])
    assert Flow.deserialize(_document()).get_routine("second").config() == {}


def test_allow_rejects_what_is_not_a_path() -> None:
    with pytest.raises(ConfigError, match="a list"):
        Flow.deserialize(_document(), allow="graph_routines")
    with pytest.raises(ConfigError, match="Cannot allow 3"):
        Flow.deserialize(_document(), allow=[3])


def test_a_routine_needing_constructor_arguments_is_refused_at_save(tmp_path: Path) -> None:
    flow = Flow("needs")
    flow.add_routine(NeedsArguments(1), "needy")
    with pytest.raises(ConfigError) as refused:
        flow.serialize()
    error = refused.value
    assert "'needy'" in error.what
    assert "NeedsArguments" in error.what
    assert "'required'" in error.what
    assert "defaults" in str(error.fix)
    assert "set_config" in str(error.fix)
    target = tmp_path / "needs.json"
    with pytest.raises(ConfigError, match="'needy'"):
        flow.save(target)
    assert not target.exists()
    assert not list(tmp_path.iterdir())
