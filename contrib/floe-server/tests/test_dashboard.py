"""The web dashboard: sign-in sessions in a cookie, CSRF on what the cookie changes, the
pages' headers; then the pages themselves in a real browser (Chromium, by Playwright)
against a real ``floe server`` process, with an accessibility check of each page.

The browser test saves a screenshot of each page into ``$FLOE_TEST_ARTIFACTS`` (default:
a temporary folder of the test); with ``FLOE_DOCS_SCREENSHOTS=DIR`` it also writes the
documentation's screenshots into DIR (``docs/img``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import floe_server
import httpx
import pytest
from conftest import TOKENS, auth
from floe_server import Role
from processes import TOKEN, serve

CHROMIUM = Path("/usr/bin/chromium")
VIEWER = "viewer-token-" + "v" * 24
"""The browser test's token of the role read (the server's FLOE_API_TOKEN is an admin)."""
ODD_ID = "odd <b>id #1? &amp; more"
"""A run id with markup, an entity and URL delimiters in it (the API takes no "/" in
one: a path cannot hold it)."""
MARKUP = "<img src=x onerror=alert(1)><script>alert(2)</script>"
"""An input that would run as code if a page took data for markup."""
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def session_cookie(session_id: str) -> dict[str, str]:
    """The header of a request sending the session cookie *session_id* (whatever the
    client's own cookies hold)."""
    return {"Cookie": f"floe_session={session_id}"}


async def sign_in(http: httpx.AsyncClient, role: Role = Role.RUN) -> str:
    """Sign *http* in with the token of *role*; the page's CSRF token."""
    signed = await http.post("/sign-in", data={"token": TOKENS[role]})
    assert (signed.status_code, signed.headers["location"]) == (303, "/")
    return csrf_of(await http.get("/"))


# -- sessions, cookies, CSRF (in process) -------------------------------------------


@pytest.mark.anyio
async def test_signing_in_sets_a_strict_http_only_cookie(make_client):
    async with make_client() as http:
        signed = await http.post("/sign-in", data={"token": TOKENS[Role.READ]})
        page = await http.get("/")
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("floe_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert "Max-Age=43200" in cookie
    assert TOKENS[Role.READ] not in signed.text + cookie + page.text
    assert page.status_code == 200
    assert '<meta name="floe-role" content="read">' in page.text


@pytest.mark.anyio
async def test_over_https_the_cookie_is_secure(make_client):
    async with make_client() as http:
        signed = await http.post("https://floe.test/sign-in", data={"token": TOKENS[Role.READ]})
    assert "Secure" in signed.headers["set-cookie"]


@pytest.mark.anyio
async def test_a_wrong_token_opens_no_session(make_client):
    async with make_client() as http:
        for token in ("x" * 40, "", "y" * 5000):
            refused = await http.post("/sign-in", data={"token": token})
            assert refused.status_code == 401
            assert "set-cookie" not in refused.headers
            assert "not one the server accepts" in refused.text
            assert ("x" * 40) not in refused.text
        assert (await http.get("/")).status_code == 303


@pytest.mark.anyio
async def test_pages_without_a_session_redirect_to_sign_in(make_client):
    async with make_client() as http:
        page = await http.get("/")
        form = await http.get("/sign-in")
        stale = await http.get("/", headers=session_cookie("no-such-session"))
        with_token = await http.get("/", headers=auth(Role.ADMIN))
    assert (page.status_code, page.headers["location"]) == (303, "/sign-in")
    assert (stale.status_code, with_token.status_code) == (303, 303)
    assert form.status_code == 200
    assert '<label for="token">API token</label>' in form.text


@pytest.mark.anyio
async def test_pages_and_files_carry_a_content_security_policy(make_client):
    async with make_client() as http:
        await sign_in(http)
        answers = [
            await http.get("/"),
            await http.get("/sign-in"),
            await http.get("/dashboard/static/app.js"),
            await http.get("/dashboard/static/style.css"),
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.url
        policy = answer.headers["content-security-policy"]
        assert policy.startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert answers[0].headers["cache-control"] == "no-store"
    assert (
        answers[2].headers["content-type"].startswith(("text/javascript", "application/javascript"))
    )


@pytest.mark.anyio
async def test_the_cookie_reads_the_api_as_the_token_would(make_client):
    async with make_client() as http:
        await sign_in(http, Role.READ)
        runs = await http.get("/runs")
        submitted = await http.post(
            "/workflows/hello/run/async",
            json="x",
            headers={"X-CSRF-Token": csrf_of(await http.get("/"))},
        )
    assert runs.status_code == 200
    assert submitted.status_code == 403  # the session has the token's role: read
    assert submitted.json()["context"]["needs"] == "run"


@pytest.mark.anyio
async def test_what_the_cookie_changes_needs_the_csrf_token(make_client):
    async with make_client() as http:
        csrf = await sign_in(http, Role.RUN)
        missing = await http.post("/workflows/hello/run/async", json="x")
        wrong = await http.post(
            "/workflows/hello/run/async", json="x", headers={"X-CSRF-Token": "w" * 43}
        )
        deleted = await http.delete("/schedules/nope")
        right = await http.post(
            "/workflows/hello/run/sync", json="x", headers={"X-CSRF-Token": csrf}
        )
        listed = (await http.get("/runs")).json()["runs"]
    for refused in (missing, wrong, deleted):
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"] == "This request needs its CSRF token"
    assert wrong.json()["title"] == "The CSRF token is wrong"
    assert (right.status_code, right.json()["output"]) == (200, "Hello, X!")
    assert len(listed) == 1  # the refused requests started nothing


@pytest.mark.anyio
async def test_a_bearer_token_needs_no_csrf_and_wins_over_the_cookie(make_client):
    async with make_client() as http:
        await sign_in(http, Role.READ)
        as_run = await http.post("/workflows/hello/run/sync", json="x", headers=auth(Role.RUN))
        wrong_bearer = await http.get("/runs", headers=auth("z" * 40))
    assert as_run.status_code == 200
    assert wrong_bearer.status_code == 401  # the cookie does not rescue a wrong token


@pytest.mark.anyio
async def test_signing_out_ends_the_session(make_client):
    async with make_client() as http:
        csrf = await sign_in(http)
        cookie = http.cookies["floe_session"]
        refused = await http.post("/sign-out", data={"csrf_token": "nope"})
        assert refused.status_code == 403
        out = await http.post("/sign-out", data={"csrf_token": csrf})
        assert (out.status_code, out.headers["location"]) == (303, "/sign-in")
        assert 'floe_session=""' in out.headers["set-cookie"]
        ended = await http.get("/runs", headers=session_cookie(cookie))
    assert ended.status_code == 401
    assert ended.json()["title"] == "The dashboard session has ended"


@pytest.mark.anyio
async def test_signing_in_again_needs_the_csrf_token_and_replaces_the_session(make_client):
    async with make_client() as http:
        csrf = await sign_in(http, Role.READ)
        first = http.cookies["floe_session"]
        refused = await http.post("/sign-in", data={"token": TOKENS[Role.ADMIN]})
        assert refused.status_code == 403
        form = await http.get("/sign-in")
        assert f'value="{csrf}"' in form.text
        again = await http.post("/sign-in", data={"token": TOKENS[Role.ADMIN], "csrf_token": csrf})
        assert again.status_code == 303
        assert '<meta name="floe-role" content="admin">' in (await http.get("/")).text
        old = await http.get("/runs", headers=session_cookie(first))
    assert old.status_code == 401


@pytest.mark.anyio
async def test_a_form_from_another_site_is_refused(make_client):
    async with make_client() as http:
        posted = await http.post(
            "/sign-in",
            data={"token": TOKENS[Role.ADMIN]},
            headers={"Origin": "https://evil.example"},
        )
    assert posted.status_code == 403
    assert "set-cookie" not in posted.headers


@pytest.mark.anyio
async def test_the_dashboard_is_not_in_the_api_schema_and_tokens_are_not_logged(
    make_client, caplog
):
    caplog.set_level(logging.DEBUG)
    async with make_client() as http:
        schema = (await http.get("/openapi.json")).json()
        await sign_in(http, Role.ADMIN)
        await http.post("/sign-in", data={"token": "q" * 40})
    assert not {"/", "/sign-in", "/sign-out"} & set(schema["paths"])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert TOKENS[Role.ADMIN] not in logged
    assert "q" * 40 not in logged


def test_the_pages_hold_no_inline_code_and_build_no_markup_from_text():
    # the policy (script-src 'self', no 'unsafe-inline') would block inline code; and
    # the scripts make elements and text nodes, never markup from strings
    folder = Path(floe_server.__file__).parent / "dashboard"
    for page in folder.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), page.name
        assert not re.search(r"\sstyle=|\son[a-z]+=", text), page.name
    scripts = sorted(folder.glob("static/**/*.js"))
    assert len(scripts) >= 5
    for script in scripts:
        text = script.read_text()
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert risky not in text, (script.name, risky)


def test_sessions_expire():
    from floe_server._auth import Caller
    from floe_server._sessions import Sessions

    now = [100.0]
    sessions = Sessions(lifetime=10, clock=lambda: now[0])
    session = sessions.open(Caller("ops", Role.ADMIN, False))
    assert sessions.find(session.session_id) is session
    assert session.accepts_csrf(session.csrf_token)
    assert not session.accepts_csrf(session.csrf_token[:-1] + "?")
    assert not session.accepts_csrf(None)
    now[0] = 110.0
    assert sessions.find(session.session_id) is None
    assert len(sessions) == 0
    assert session.session_id not in repr(session)


# -- the pages in a real browser ----------------------------------------------------


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FLOE_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A page of Debian's Chromium, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("axe_playwright_python")
    sync_api.expect.set_options(timeout=10_000)  # a busy machine draws pages slower
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
            context.close()
        finally:
            browser.close()


class Tour:
    """The browser's visit of the dashboard: each page checked for accessibility and
    console errors, and photographed."""

    def __init__(self, page: Any, address: str, artifacts: Path) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page = page
        self.address = address
        self.artifacts = artifacts
        self.docs = os.environ.get("FLOE_DOCS_SCREENSHOTS")
        self.axe = Axe()
        self.console_errors: list[str] = []
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.dialogs: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def open(self, fragment: str, heading: str) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.address}/#{fragment}")
        expect(self.page.get_by_role("heading", level=1)).to_have_text(heading)

    def check(self, name: str, *, docs_name: str | None = None) -> None:
        """Photograph the page as *name*; no critical accessibility violation on it (every
        violation found is kept beside the screenshot, as ``NAME.axe.json``)."""
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)
        if self.docs and docs_name:
            self.page.screenshot(path=str(Path(self.docs) / docs_name), full_page=False)
        results = self.axe.run(self.page)
        found = json.dumps(results.response["violations"], indent=2)
        (self.artifacts / f"{name}.axe.json").write_text(found)
        critical = [
            (item["id"], item["help"], [node["target"] for node in item["nodes"]])
            for item in results.response["violations"]
            if item["impact"] == "critical"
        ]
        assert critical == [], (name, critical)


def submit(http: httpx.Client, workflow: str, run_id: str, value: Any) -> None:
    answer = http.post(f"/workflows/{workflow}/run/async", params={"run_id": run_id}, json=value)
    assert answer.status_code == 202, answer.text


def wait_for_status(http: httpx.Client, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while http.get(f"/runs/{quote(run_id, safe='')}").json()["status"] != status:
        assert time.monotonic() < deadline, f"{run_id} never {status}"
        time.sleep(0.05)


@pytest.fixture
def live_server(tmp_path: Path, started: list[Any]) -> tuple[str, Path]:
    """A ``floe server`` process with a run of each kind the pages show, a component and
    a graph job; its address, and the file the running run waits for.

    Set up before the browser: Playwright's sync API runs an event loop of its own.
    """
    import dashboard_flows

    tokens = tmp_path / "tokens.toml"
    tokens.write_text(f'[[tokens]]\nname = "viewer"\nrole = "read"\ntoken = "{VIEWER}"\n')
    options = ("--workers", "4", "--import", "dashboard_flows", "--token-file", str(tokens))
    _, address = serve(tmp_path, started, *options)
    anyio.run(dashboard_flows.seed, f"sqlite:///{tmp_path / 'floe.db'}")
    gate_file = tmp_path / "gate"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=address, headers=headers, timeout=30) as http:
        submit(http, "watched", "watched-1", str(gate_file))
        submit(http, "approval", "approve-1", 120)
        submit(http, "approval", "cancel-1", 7)
        submit(http, "broken", "broken-1", None)
        submit(http, "hello", ODD_ID, MARKUP)
        for run_id in ("approve-1", "cancel-1"):
            wait_for_status(http, run_id, "paused")
        wait_for_status(http, "broken-1", "failed")
        wait_for_status(http, ODD_ID, "completed")
        sent = http.post("/components/orders/messages?message_id=start-1", json={"type": "start"})
        assert sent.status_code == 202, sent.text
        wait_for_status(http, "start-1", "completed")
    return address, gate_file


def test_the_dashboard_in_a_browser(live_server, browser_page, artifacts_dir):
    from playwright.sync_api import expect

    address, gate_file = live_server
    page = browser_page
    tour = Tour(page, address, artifacts_dir)

    # signing in: a wrong token is refused, the right one opens the runs list
    page.goto(address)
    expect(page).to_have_url(f"{address}/sign-in")
    tour.check("sign-in")
    page.get_by_label("API token").fill("w" * 40)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not one the server accepts")

    # a reader sees a paused run, and no button to resume or cancel it
    page.get_by_label("API token").fill(VIEWER)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("banner")).to_contain_text("viewer · read")
    tour.open("/runs/approve-1", "Run approve-1")
    expect(page.locator("#live-state")).to_have_text("This run is paused.")
    expect(page.get_by_role("button", name="Resume run")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in(#.*)?$"))

    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("banner")).to_contain_text("FLOE_API_TOKEN · admin")
    tour.open("/runs", "Runs")
    # the five submitted, the child, the component, its message and the graph job
    expect(page.locator("tr[data-run]")).to_have_count(9)
    tour.check("runs", docs_name="dashboard-runs.png")

    # filters and search
    page.get_by_label("Status").select_option("paused")
    expect(page.locator("tr[data-run]")).to_have_count(2)
    page.get_by_label("Status").select_option("")
    expect(page.locator("tr[data-run]")).to_have_count(9)  # the page drawn for the filter
    page.get_by_label("Search").fill("cancel")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr[data-run]")).to_have_count(1)

    # data is shown as text, never run as markup, whatever it holds
    page.get_by_label("Search").fill(ODD_ID)
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name=ODD_ID).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Run {ODD_ID}")
    expect(page.get_by_label("Input", exact=True)).to_contain_text(MARKUP)
    expect(page.get_by_label("Output", exact=True)).to_contain_text("<SCRIPT>")
    assert page.locator("main img, main script").count() == 0
    assert page.title() == f"Run {ODD_ID} · floe"
    assert tour.dialogs == []

    # a running run, watched until it finishes
    tour.open("/runs/watched-1", "Run watched-1")
    expect(page.locator("#live-state")).to_have_text("Following live…")
    expect(page.get_by_role("cell", name="flaky")).to_be_visible()
    expect(page.locator(".mark-retry")).to_have_count(1)
    expect(page.get_by_role("link", name="child run watched-1:child#1")).to_be_visible()
    gate_file.write_text("open")
    expect(page.locator("#live-state")).to_have_text("This run is completed.")
    # the artifacts (stored with the run's next write): JSON, Markdown, an image
    expect(page.locator(".artifact .json")).to_contain_text('"rows": 3')
    expect(page.locator(".markdown h3")).to_have_text("Notes")
    expect(page.locator(".markdown")).to_contain_text("<b>fine</b>")  # text, not markup
    expect(page.locator("img.artifact-image")).to_have_attribute("alt", "image/png")
    assert page.locator("img.artifact-image").evaluate("image => image.naturalWidth") == 96
    expect(page.locator(".facts")).to_contain_text("completed")
    tour.check("run-completed", docs_name="dashboard-run.png")

    # a failed run shows its error
    tour.open("/runs/broken-1", "Run broken-1")
    expect(page.locator(".error-box .what")).to_have_text("broken on purpose")
    tour.check("run-failed")

    # a paused run, resumed from the page with a JSON value
    tour.open("/runs/approve-1", "Run approve-1")
    page.get_by_label("Value for the pause (JSON)").fill('{"approved": tr')
    page.get_by_role("button", name="Resume run").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid JSON")
    tour.check("run-paused")
    page.get_by_label("Value for the pause (JSON)").fill('{"approved": true}')
    page.get_by_role("button", name="Resume run").click()
    expect(page.locator("#live-state")).to_have_text("This run is completed.")
    expect(page.get_by_label("Output", exact=True)).to_contain_text('"approved": true')

    # another one cancelled
    tour.open("/runs/cancel-1", "Run cancel-1")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#live-state")).to_have_text("This run is cancelled.")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)

    # a component on its state diagram, a graph job as its flow
    tour.open("/components", "Components")
    page.get_by_role("link", name="orders").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Component orders")
    expect(page.locator(".node.current")).to_have_attribute("data-node", "AwaitingConfirmation")
    expect(page.locator(".diagram .node")).to_have_count(4)
    expect(page.get_by_role("cell", name="ProcessingRequest").first).to_be_visible()
    tour.check("component", docs_name="dashboard-component.png")
    tour.open("/graphs", "Graph jobs")
    page.get_by_role("link", name="job-1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Graph job job-1")
    expect(page.locator(".node.status-completed")).to_have_count(2)
    expect(page.locator(".diagram .edge")).to_have_count(1)
    tour.check("graph", docs_name="dashboard-graph.png")

    # schedules, and workers (whose listing may fail: shown as an error box)
    tour.open("/schedules", "Schedules")
    expect(page.get_by_text("No schedules.")).to_be_visible()
    tour.check("schedules")
    tour.open("/workers", "Workers")
    expect(page.locator(".error-box, table, .empty").first).to_be_visible()
    tour.check("workers")

    # what the API refuses is shown as its problem: what, why, fix
    tour.open("/runs/no-such-run", "Run no-such-run")
    expect(page.locator(".error-box .what")).to_have_text("No run 'no-such-run'")
    expect(page.locator(".error-box .fix")).to_contain_text("GET /runs lists them")

    # signing out: the dashboard is closed again
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{address}/sign-in")
    page.goto(f"{address}/#/runs")
    expect(page).to_have_url(re.compile(r"/sign-in(#/runs)?$"))  # a fragment stays on
    # what the browser reports besides the refusals asked for above (the wrong token's
    # 401, a failed worker listing): no script error, no CSP violation
    unexpected = [text for text in tour.console_errors if "Failed to load resource" not in text]
    assert unexpected == [], unexpected
    assert tour.dialogs == []  # nothing shown ran as code
