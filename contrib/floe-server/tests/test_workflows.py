"""The workflows a server offers: from --import, and uploaded files (only when allowed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import auth
from floe_server import Catalog, Role

import floe

pytestmark = pytest.mark.anyio

READ = auth(Role.READ)
ADMIN = auth(Role.ADMIN)
UPLOADED = '''
import floe


@floe.workflow
async def triple(n: int) -> int:
    """Three times n."""
    return 3 * n
'''


async def test_the_imported_workflows_are_listed_and_described(make_client):
    async with make_client() as http:
        listed = (await http.get("/workflows", headers=READ)).json()["workflows"]
        hello = (await http.get("/workflows/hello", headers=READ)).json()
        missing = await http.get("/workflows/nope", headers=READ)
    names = [item["name"] for item in listed]
    assert names == sorted(names)
    assert {"hello", "approval", "gated"} <= set(names)
    assert hello == {
        "name": "hello",
        "target": "server_flows:hello",
        "description": "Greet *name*.",
        "parameters": [{"name": "name", "annotation": "str", "required": True}],
        "timeout": None,
    }
    assert missing.status_code == 404
    assert "hello" in missing.json()["detail"]


async def test_uploads_are_refused_unless_allowed(make_client, tmp_path: Path):
    async with make_client() as http:
        files = {"file": ("extra.py", UPLOADED.encode(), "text/x-python")}
        response = await http.post("/workflows", files=files, headers=ADMIN)
        assert response.status_code == 403
        assert "--allow-uploads" in response.json()["fix"]
    assert not (tmp_path / "uploads" / "extra.py").exists()


async def test_an_uploaded_file_is_checked_stored_and_runs(make_client, tmp_path: Path):
    uploads = tmp_path / "uploads"
    async with make_client(allow_uploads=True, upload_dir=uploads) as http:
        files = {"file": ("extra.py", UPLOADED.encode(), "text/x-python")}
        added = await http.post("/workflows", files=files, headers=ADMIN)
        assert added.status_code == 201, added.text
        assert [item["name"] for item in added.json()["workflows"]] == ["triple"]
        ran = await http.post("/workflows/triple/run/sync", json=14, headers=auth(Role.RUN))
        assert ran.json()["output"] == 42
        again = await http.post("/workflows", files=files, headers=ADMIN)
        assert again.status_code == 422
        assert "never replaced" in again.json()["detail"]
    assert (uploads / "extra.py").read_text() == UPLOADED


@pytest.mark.parametrize(
    ("filename", "body", "title"),
    [
        ("bad.py", b"def broken(:\n", "is not valid Python"),
        ("plain.py", b"def f():\n    return 1\n", "defines no workflow"),
        ("../escape.py", UPLOADED.encode(), "Invalid workflow file name"),
        ("notes.txt", UPLOADED.encode(), "Invalid workflow file name"),
        ("latin.py", "# caf\xe9\n".encode("latin-1"), "is not UTF-8"),
        (
            "raises.py",
            b"import floe\nraise RuntimeError('at import')\n@floe.workflow\ndef w(): ...\n",
            "for the workflow target",
        ),
    ],
)
async def test_a_bad_upload_is_refused_and_nothing_is_kept(
    make_client, tmp_path: Path, filename: str, body: bytes, title: str
):
    uploads = tmp_path / "uploads"
    async with make_client(allow_uploads=True, upload_dir=uploads) as http:
        files = {"file": (filename, body, "text/x-python")}
        response = await http.post("/workflows", files=files, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert title in response.json()["title"]
        assert (await http.get("/workflows", headers=READ)).status_code == 200
    assert list(uploads.glob("*")) == [] if uploads.exists() else True


async def test_uploads_need_the_admin_role_and_a_file(make_client, tmp_path: Path):
    async with make_client(allow_uploads=True, upload_dir=tmp_path / "up") as http:
        files = {"file": ("extra.py", UPLOADED.encode(), "text/x-python")}
        assert (
            await http.post("/workflows", files=files, headers=auth(Role.RUN))
        ).status_code == 403
        assert (await http.post("/workflows", headers=ADMIN)).status_code == 422


def test_a_catalog_refuses_two_workflows_of_one_name(tmp_path: Path):
    first, second = tmp_path / "one.py", tmp_path / "two.py"
    for path in (first, second):
        path.write_text(UPLOADED)
    catalog = Catalog()
    assert catalog.import_source(str(first)) == ["triple"]
    with pytest.raises(floe.ConfigError, match="Two workflows are named 'triple'"):
        catalog.import_source(str(second))
    with pytest.raises(floe.ImportPathError, match="Cannot import 'no_such_module'"):
        catalog.import_source("no_such_module")
    with pytest.raises(floe.ConfigError, match="defines no floe workflow"):
        catalog.import_source("json")
