"""perfrules serve without a browser: every refusal of the guard, confinement to the root, and
each endpoint's JSON equal to the CLI's ``--format json`` for the same input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="perfrules[serve] is not installed")

from click.testing import CliRunner
from starlette.testclient import TestClient

from conftest import SEED
from perfrules.cli import cli
from perfrules.serve import NotLoopback, bind, is_loopback
from perfrules.serve._app import Workbench, build_app
from perfrules.serve._guard import CSRF_HEADER, MAX_BODY, Root

PORT = 8123
ORIGIN = f"http://127.0.0.1:{PORT}"
YEAR_2022 = SEED.parent / "xinzhou-zfw-2022"


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copytree(SEED, folder / "2021")
    shutil.copytree(YEAR_2022, folder / "2022")
    return folder


@pytest.fixture
def bench(root, monkeypatch):
    monkeypatch.chdir(root)  # as perfrules serve does
    return Workbench(Root.at(root), lang="zh", port=PORT)


def _client(bench, *, login=True):
    client = TestClient(build_app(bench), base_url=ORIGIN)
    if login:
        answer = client.get(f"/?token={bench.keys.token}", follow_redirects=False)
        assert answer.status_code == 303
    return client


@pytest.fixture
def client(bench):
    return _client(bench)


def _post(client, bench, path, body, **headers):
    sent = {"Origin": ORIGIN, CSRF_HEADER: bench.keys.csrf, **headers}
    return client.post(path, json=body, headers=sent)


def _cli_json(root, monkeypatch, *args):
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, list(args))
    return json.loads(result.stdout)


# -- binding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])  # noqa: S104
def test_other_addresses_are_refused_without_allow_remote(host):
    assert not is_loopback(host)
    with pytest.raises(NotLoopback):
        bind(host, 0)


def test_the_cli_refuses_0000_with_exit_2():
    result = CliRunner().invoke(cli, ["serve", ".", "--host", "0.0.0.0", "--no-browser"])  # noqa: S104
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


def test_loopback_binds_to_a_free_port():
    sock = bind("127.0.0.1", 0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1"
        assert port > 0
    finally:
        sock.close()


def test_listening_everywhere_answers_the_names_given():
    from perfrules.serve._guard import allowed_hosts

    hosts = allowed_hosts("0.0.0.0", 8000, ["office-pc", "10.0.0.7"])  # noqa: S104
    assert {"office-pc:8000", "10.0.0.7:8000", "127.0.0.1:8000"} <= hosts
    assert "evil.example:8000" not in hosts


def test_allow_remote_binds_any_address():
    sock = bind("0.0.0.0", 0, allow_remote=True)  # noqa: S104
    sock.close()


# -- the guard ----------------------------------------------------------------------------------


def test_the_login_link_sets_a_strict_httponly_cookie_once(bench):
    client = _client(bench, login=False)
    assert client.get("/").status_code == 403
    answer = client.get(f"/?token={bench.keys.token}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert bench.keys.token not in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert bench.keys.csrf in page.text
    # the link is spent: another browser cannot use it
    again = _client(bench, login=False).get(f"/?token={bench.keys.token}", follow_redirects=False)
    assert again.status_code == 403


def test_the_spent_link_still_opens_the_page_in_the_browser_that_used_it(bench):
    client = _client(bench)
    again = client.get(f"/?token={bench.keys.token}", follow_redirects=False)
    assert again.status_code == 303
    assert client.get("/").status_code == 200


def test_the_static_files_are_package_data():
    import fnmatch
    import tomllib

    static = Path(__file__).parents[1] / "src" / "perfrules" / "serve" / "static"
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["perfrules"]
    for path in static.rglob("*"):
        if path.is_file():
            name = path.relative_to(static.parents[1]).as_posix()
            assert any(fnmatch.fnmatch(name, p) for p in patterns), name


def test_a_wrong_token_does_not_log_in(bench):
    client = _client(bench, login=False)
    answer = client.get("/?token=guess", follow_redirects=False)
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    assert not bench.keys.spent


@pytest.mark.parametrize(
    "path", ["/", "/api/files", "/api/file?path=2021/scheme.toml", "/static/app.js"]
)
def test_every_route_needs_the_cookie(bench, path):
    assert _client(bench, login=False).get(path).status_code == 403


def test_a_forged_cookie_is_refused(bench):
    client = _client(bench, login=False)
    client.cookies.set("perfrules_session", "forged")
    assert client.get("/api/files").status_code == 403


@pytest.mark.parametrize("host", ["evil.example:8123", "127.0.0.1:9999", "attacker.test"])
def test_only_its_own_host_is_answered(client, host):
    answer = client.get("/api/files", headers={"Host": host})
    assert answer.status_code == 421


@pytest.mark.parametrize("host", ["localhost:8123", "[::1]:8123", "127.0.0.1:8123"])
def test_loopback_names_are_its_own_host(client, host):
    assert client.get("/api/files", headers={"Host": host}).status_code == 200


def test_a_change_needs_its_own_origin(client, bench):
    body = {"path": "2021/scheme.toml"}
    assert _post(client, bench, "/api/check", body).status_code == 200
    assert (
        _post(client, bench, "/api/check", body, Origin="http://evil.example").status_code == 403
    )
    answer = client.post("/api/check", json=body, headers={CSRF_HEADER: bench.keys.csrf})
    assert answer.status_code == 403  # no Origin at all


def test_a_change_needs_the_custom_header(client, bench):
    body = {"path": "2021/scheme.toml"}
    answer = client.post("/api/check", json=body, headers={"Origin": ORIGIN})
    assert answer.status_code == 403
    answer = _post(client, bench, "/api/check", body, **{CSRF_HEADER: "wrong"})
    assert answer.status_code == 403


def test_only_json_bodies(client, bench):
    answer = client.post(
        "/api/check",
        content=b"path=2021/scheme.toml",
        headers={
            "Origin": ORIGIN,
            CSRF_HEADER: bench.keys.csrf,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status_code == 415


def test_an_oversized_body_is_refused_before_it_is_read(bench):
    app = build_app(bench)
    read = []

    async def receive():
        read.append(1)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/check",
        "query_string": b"",
        "headers": [
            (b"host", f"127.0.0.1:{PORT}".encode()),
            (b"cookie", f"perfrules_session={bench.keys.session}".encode()),
            (b"origin", ORIGIN.encode()),
            (CSRF_HEADER.encode(), bench.keys.csrf.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(MAX_BODY + 1).encode()),
        ],
    }
    import anyio

    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert read == []  # not a byte of the body was read


def test_a_body_without_length_is_refused(bench):
    app = build_app(bench)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/check",
        "query_string": b"",
        "headers": [
            (b"host", f"127.0.0.1:{PORT}".encode()),
            (b"cookie", f"perfrules_session={bench.keys.session}".encode()),
            (b"origin", ORIGIN.encode()),
            (CSRF_HEADER.encode(), bench.keys.csrf.encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    import anyio

    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 411


def test_every_answer_carries_a_strict_policy(client, bench):
    for answer in (
        client.get("/"),
        client.get("/api/files"),
        client.get("/static/app.js"),
        client.get("/nowhere"),
        _post(client, bench, "/api/check", {"path": "../outside.toml"}),
    ):
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-origin" not in answer.headers


def test_the_page_loads_nothing_from_the_network(client):
    page = client.get("/").text
    assert "http://" not in page
    assert "https://" not in page
    assert "//cdn" not in page


def test_the_vendored_bundle_is_the_one_built_and_is_cached_for_good(client):
    recorded = (Path(__file__).parents[1] / "serve-frontend" / "bundle.sha256").read_text()
    digest, name = recorded.split()
    assert f"/static/vendor/{name}" in client.get("/").text
    answer = client.get(f"/static/vendor/{name}")
    assert hashlib.sha256(answer.content).hexdigest() == digest
    assert name == f"codemirror.{digest[:12]}.js"
    assert "immutable" in answer.headers["cache-control"]
    assert client.get("/api/files").headers["cache-control"] == "no-store"


def test_a_bug_answers_500_without_a_traceback(client, bench, monkeypatch, capsys):
    from perfrules.serve import _api

    def broken(*_):
        raise RuntimeError(str(bench.root.folder))

    monkeypatch.setattr(_api, "check_path", broken)
    answer = _post(client, bench, "/api/check", {"path": "2021/scheme.toml"})
    assert answer.status_code == 500
    assert "Traceback" not in answer.text
    assert str(bench.root.folder) not in answer.text
    assert "Traceback" not in capsys.readouterr().err


# -- confinement ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "/dev/zero",
        "2021/../../outside.toml",
        "2021/scheme.toml\x00.txt",
    ],
)
def test_reads_stay_in_the_root(client, name):
    answer = client.get("/api/file", params={"path": name})
    assert answer.status_code in (403, 404)
    assert "root:" not in answer.text


def test_a_symlink_out_is_refused(client, root, tmp_path):
    secret = tmp_path / "secret.toml"
    secret.write_text('password = "x"\n')
    (root / "link.toml").symlink_to(secret)
    answer = client.get("/api/file", params={"path": "link.toml"})
    assert answer.status_code == 403
    assert "password" not in answer.text
    assert all(f["path"] != "link.toml" for f in client.get("/api/files").json()["files"])


def test_a_symlink_to_a_device_is_refused(client, root):
    (root / "zero.toml").symlink_to("/dev/zero")
    assert client.get("/api/file", params={"path": "zero.toml"}).status_code == 403


def test_a_fifo_is_refused(client, root):
    os.mkfifo(root / "pipe.toml")
    assert client.get("/api/file", params={"path": "pipe.toml"}).status_code == 403


def test_other_kinds_of_file_are_refused(client, root):
    (root / "notes.txt").write_text("hello")
    assert client.get("/api/file", params={"path": "notes.txt"}).status_code == 403


def test_the_listing_names_files_relative_to_the_root(client):
    files = {f["path"]: f["kind"] for f in client.get("/api/files").json()["files"]}
    assert files["2021/scheme.toml"] == "scheme"
    assert files["2021/facts.toml"] == "facts"
    assert files["2021/pack.toml"] == "pack"
    assert files["2021/cases/report.toml"] == "cases"


def test_the_listing_of_a_huge_tree_is_cut_short(client, root, monkeypatch):
    from perfrules.serve import _api

    monkeypatch.setattr(_api, "MAX_FOLDERS", 2)
    document = client.get("/api/files").json()
    assert document["truncated"] is True
    assert len({Path(f["path"]).parent for f in document["files"]}) <= 2


def test_no_answer_contains_the_absolute_root(client, bench):
    folder = str(bench.root.folder)
    typo = (bench.root.folder / "2021/scheme.toml").read_text().replace("weight", "weigth", 1)
    answers = [
        client.get("/api/files"),
        client.get("/api/file", params={"path": "2021/scheme.toml"}),
        _post(client, bench, "/api/check", {"path": "2021/scheme.toml", "text": typo}),
        _post(
            client, bench, "/api/check", {"path": "2021/scheme.toml", "text": 'extends = "/etc"'}
        ),
        _post(
            client,
            bench,
            "/api/score",
            {"scheme": {"path": "2021/scheme.toml"}, "facts": {"path": "2021/facts.toml"}},
        ),
        _post(client, bench, "/api/test", {"pack": "2021"}),
        _post(
            client,
            bench,
            "/api/diff",
            {"old": {"path": "2021/scheme.toml"}, "new": {"path": "2022/scheme.toml"}},
        ),
        _post(
            client,
            bench,
            "/api/audit",
            {"scheme": {"path": "2021/scheme.toml"}, "report": {"path": "2021/facts.toml"}},
        ),
        _post(
            client,
            bench,
            "/api/explain",
            {
                "scheme": {"path": "2021/scheme.toml"},
                "facts": {"path": "2021/facts.toml"},
                "ids": ["nope"],
            },
        ),
        _post(
            client,
            bench,
            "/api/export",
            {"format": "json", "scheme": {"path": "2021/scheme.toml"}, "facts": {"text": "x"}},
        ),
        _post(client, bench, "/api/file", {}),
        client.get("/api/file", params={"path": "missing.toml"}),
    ]
    for answer in answers:
        assert folder not in answer.text
        assert "Traceback" not in answer.text


# -- saving ---------------------------------------------------------------------------------------


def _put(client, bench, body):
    return client.put(
        "/api/file", json=body, headers={"Origin": ORIGIN, CSRF_HEADER: bench.keys.csrf}
    )


def test_save_writes_the_file_it_opened(client, bench, root):
    opened = client.get("/api/file", params={"path": "2021/facts.toml"}).json()
    text = opened["text"].replace('"80%"', '"81%"', 1)
    answer = _put(
        client, bench, {"path": "2021/facts.toml", "text": text, "sha256": opened["sha256"]}
    )
    assert answer.status_code == 200
    assert (root / "2021/facts.toml").read_text(encoding="utf-8") == text
    assert answer.json()["sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_save_refuses_a_file_changed_on_disk_since_it_was_opened(client, bench, root):
    opened = client.get("/api/file", params={"path": "2021/facts.toml"}).json()
    (root / "2021/facts.toml").write_text("# someone else's edit\n", encoding="utf-8")
    answer = _put(
        client, bench, {"path": "2021/facts.toml", "text": "x = 1\n", "sha256": opened["sha256"]}
    )
    assert answer.status_code == 409
    assert (root / "2021/facts.toml").read_text(encoding="utf-8") == "# someone else's edit\n"


def test_save_creates_a_new_file_only_if_none_is_there(client, bench, root):
    assert (
        _put(client, bench, {"path": "new.toml", "text": "a = 1\n", "sha256": None}).status_code
        == 200
    )
    assert (root / "new.toml").read_text() == "a = 1\n"
    assert (
        _put(client, bench, {"path": "new.toml", "text": "a = 2\n", "sha256": None}).status_code
        == 409
    )


@pytest.mark.parametrize("name", ["../escape.toml", "ABSOLUTE", "2021/run.py", "2021/x.xlsx"])
def test_save_stays_in_the_root_and_writes_text_kinds_only(client, bench, root, name):
    outside = root.parent / "escape.toml"
    name = str(outside) if name == "ABSOLUTE" else name
    answer = _put(client, bench, {"path": name, "text": "a = 1\n", "sha256": None})
    assert answer.status_code == 403
    assert not outside.exists()


def test_save_does_not_follow_a_symlink_out(client, bench, root, tmp_path):
    target = tmp_path / "target.toml"
    target.write_text("a = 1\n")
    (root / "out.toml").symlink_to(target)
    digest = hashlib.sha256(b"a = 1\n").hexdigest()
    answer = _put(client, bench, {"path": "out.toml", "text": "a = 2\n", "sha256": digest})
    assert answer.status_code == 403
    assert target.read_text() == "a = 1\n"


def test_new_year_writes_what_the_cli_writes_and_never_over_a_file(
    client, bench, root, monkeypatch
):
    body = {"path": "2021/scheme.toml", "target": "2023/scheme.toml", "year": 2023, "lang": "zh"}
    answer = _post(client, bench, "/api/new-year", body)
    assert answer.status_code == 200
    assert answer.json()["path"] == "2023/scheme.toml"
    written = (root / "2023/scheme.toml").read_text(encoding="utf-8")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(
        cli,
        [
            "new-year",
            "2021/scheme.toml",
            "--year",
            "2023",
            "--out",
            "cli/scheme.toml",
            "--lang",
            "zh",
        ],
    )
    assert result.exit_code == 0, result.output
    assert written == (root / "cli/scheme.toml").read_text(encoding="utf-8")
    assert 'extends = "../2021/scheme.toml"' in written
    checked = _post(client, bench, "/api/check", {"path": "2023/scheme.toml"}).json()
    assert [d for d in checked["diagnostics"] if d["severity"] == "error"] == []
    assert _post(client, bench, "/api/new-year", body).status_code == 409
    outside = {**body, "target": "../2023.toml"}
    assert _post(client, bench, "/api/new-year", outside).status_code == 403


# -- parity with the CLI --------------------------------------------------------------------------


def test_check_equals_the_cli(client, bench, root, monkeypatch):
    path = "2021/scheme.toml"
    typo = (root / path).read_text(encoding="utf-8").replace("weight = 6", "weigth = 6", 1)
    (root / "typo.toml").write_text(typo, encoding="utf-8")
    # the text as edited (not saved) and the same text saved: the same diagnostics
    edited = _post(client, bench, "/api/check", {"path": "typo.toml", "text": typo, "lang": "zh"})
    assert edited.status_code == 200
    expected = _cli_json(
        root, monkeypatch, "--root", ".", "check", "typo.toml", "--format", "json", "--lang", "zh"
    )
    assert edited.json()["diagnostics"] == expected
    codes = {d["code"] for d in expected}
    assert "PR101" in codes


def test_check_gives_line_column_and_end_column(client, bench, root):
    text = (root / "2021/scheme.toml").read_text(encoding="utf-8")
    text = text.replace("weight * min(", "weight * min（", 1)
    answer = _post(
        client, bench, "/api/check", {"path": "2021/scheme.toml", "text": text, "lang": "zh"}
    )
    document = answer.json()
    [first] = [d for d in document["diagnostics"] if d["code"] == "PR308"]
    assert first["file"] == "2021/scheme.toml"
    line = text.splitlines()[first["line"] - 1]
    assert line[first["column"] - 1] == "（"
    # the end comes from the library, as in perfrules check --format json
    assert (first["end_line"], first["end_column"]) == (first["line"], first["column"] + 1)
    assert "end_columns" not in document


def test_check_of_a_clean_file_is_empty(client, bench):
    answer = _post(client, bench, "/api/check", {"path": "2021/scheme.toml"})
    assert answer.json() == {"diagnostics": []}


def test_score_equals_the_cli(client, bench, root, monkeypatch):
    body = {"scheme": {"path": "2021/scheme.toml"}, "facts": {"path": "2021/facts.toml"}}
    trace = _post(client, bench, "/api/score", body).json()["trace"]
    expected = _cli_json(
        root, monkeypatch, "score", "2021/scheme.toml", "2021/facts.toml", "--format", "json"
    )
    assert trace == expected
    assert trace["total"] == "89.25"
    assert trace["grade"]["label"] == "良好"


def test_score_shows_the_numbers_the_reports_show(client, bench, root, monkeypatch):
    body = {"scheme": {"path": "2021/scheme.toml"}, "facts": {"path": "2021/facts.toml"}}
    shown = _post(client, bench, "/api/score", body).json()["shown"]["质量-市域治理"]
    assert shown["roundings"] == [{"before": "4.772727…", "after": "4.77"}]
    assert "0.795454…" in shown["steps"]
    # the same short forms as perfrules explain writes (the library's formatter, one owner)
    monkeypatch.chdir(root)
    text = (
        CliRunner()
        .invoke(
            cli,
            ["explain", "2021/scheme.toml", "2021/facts.toml", "质量-市域治理", "--lang", "zh"],
        )
        .stdout
    )
    assert "4.772727… → 4.77" in text
    assert "0.795454…" in text


def test_the_page_does_not_shorten_numbers_itself():
    script = (Path(__file__).parents[1] / "src/perfrules/serve/static/app.js").read_text("utf-8")
    # no second formatter of numbers: no digit-counting pattern, no rounding in the page
    assert "\\d{6}" not in script
    assert "toFixed" not in script
    assert "Math.round(Number" not in script


def test_score_of_edited_facts_text(client, bench, root):
    text = (root / "2021/facts.toml").read_text(encoding="utf-8")
    text = text.replace("value = 70,", "value = 88,")
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"path": "2021/facts.toml", "text": text},
    }
    trace = _post(client, bench, "/api/score", body).json()["trace"]
    assert trace["total"] == "90.48"


def test_score_with_a_what_if_value(client, bench):
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"path": "2021/facts.toml", "overrides": {"质量-市域治理": {"actual": "88"}}},
    }
    trace = _post(client, bench, "/api/score", body).json()["trace"]
    assert trace["total"] == "90.48"
    assert trace["grade"]["label"] == "优秀"


def test_score_of_bad_facts_is_located(client, bench):
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"text": '[indicators]\n"质量-市域治理" = { actual = "abc" }\n'},
    }
    answer = _post(client, bench, "/api/score", body)
    assert answer.status_code == 422
    [bad] = [d for d in answer.json()["diagnostics"] if d["code"] == "PR402"]
    assert (bad["file"], bad["line"], bad["column"]) == ("facts.toml", 2, 15)


def test_explain_equals_the_cli(client, bench, root, monkeypatch):
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"path": "2021/facts.toml"},
        "ids": ["质量-市域治理"],
    }
    document = _post(client, bench, "/api/explain", body).json()
    expected = _cli_json(
        root,
        monkeypatch,
        "explain",
        "2021/scheme.toml",
        "2021/facts.toml",
        "质量-市域治理",
        "--format",
        "json",
    )
    assert document == expected
    [node] = document["nodes"]
    assert node["steps"][0]["with"] == "70 / 88"
    assert node["roundings"][0]["after"] == "4.77"


def test_diff_equals_the_cli(client, bench, root, monkeypatch):
    body = {
        "old": {"path": "2021/scheme.toml"},
        "new": {"path": "2022/scheme.toml"},
        "facts": {"path": "2022/what-if.toml"},
    }
    document = _post(client, bench, "/api/diff", body).json()
    expected = _cli_json(
        root,
        monkeypatch,
        "diff",
        "2021/scheme.toml",
        "2022/scheme.toml",
        "--facts",
        "2022/what-if.toml",
        "--format",
        "json",
    )
    assert document == expected
    assert document["what_if"]["total"] == {"old": "89.25", "new": "89.55", "delta": "0.30"}


def test_test_equals_the_cli(client, bench, root, monkeypatch):
    document = _post(client, bench, "/api/test", {"pack": "2021"}).json()
    expected = _cli_json(root, monkeypatch, "test", "2021", "--format", "json")
    assert document == expected
    assert document
    assert all(case["passed"] for case in document)


def test_prove_passes_on_the_seed_like_the_cli(client, bench, root, monkeypatch):
    document = _post(
        client, bench, "/api/prove", {"scheme": {"path": "2021/scheme.toml"}, "examples": 20}
    ).json()
    expected = _cli_json(
        root, monkeypatch, "test", "2021", "--properties", "--examples", "20", "--format", "json"
    )
    [properties] = [e["properties"] for e in expected if "properties" in e]
    assert document["properties"]["passed"] is properties["passed"] is True
    assert document["properties"]["message"] == properties["message"] == ""
    assert document["properties"] == properties | {"examples": document["properties"]["examples"]}
    assert document["counterexample"] is None


def test_prove_finds_a_counterexample_in_a_planted_defect(client, bench, root):
    text = (root / "2021/scheme.toml").read_text(encoding="utf-8")
    # a formula that can give more than the weight: the cap invariant breaks
    broken = text.replace(
        'completion = "weight * min(actual, 1)"', 'completion = "weight * actual"', 1
    )
    assert broken != text
    document = _post(
        client,
        bench,
        "/api/prove",
        {"scheme": {"path": "2021/scheme.toml", "text": broken}, "examples": 200},
    ).json()
    assert document["properties"]["passed"] is False
    assert document["counterexample"]
    assert (
        "[indicators" in document["counterexample"] or "indicators" in document["counterexample"]
    )


def test_prove_says_the_failure_in_the_language_asked(client, bench, root):
    text = (root / "2021/scheme.toml").read_text(encoding="utf-8")
    broken = text.replace(
        'completion = "weight * min(actual, 1)"', 'completion = "weight * actual"', 1
    )
    body = {"scheme": {"path": "2021/scheme.toml", "text": broken}, "examples": 200}
    document = _post(client, bench, "/api/prove", {**body, "lang": "zh"}).json()
    properties = document["properties"]
    assert properties["passed"] is False
    assert len(properties["messages"]) == len(properties["failures"]) >= 1
    assert all("无法计分" in m or "得分" in m for m in properties["messages"])
    assert not any("fail" in m for m in properties["messages"])
    assert all("fail" in f or "score" in f for f in properties["failures"])
    assert properties["counterexample"] == document["counterexample"]
    assert properties["message"].endswith(document["counterexample"])


def _save_case(client, bench, **body):
    sent = {
        "pack": "2021",
        "name": "what if 88 tasks were done",
        "facts": {"path": "2021/facts.toml", "overrides": {"质量-市域治理": {"actual": "88"}}},
        "expect": {"total": "90.48", "grade": "优秀"},
        **body,
    }
    return _post(client, bench, "/api/case", sent)


def test_a_what_if_is_saved_as_a_case_that_passes_under_perfrules_test(
    client, bench, root, monkeypatch
):
    before = (root / "2021/cases/report.toml").read_bytes()
    answer = _save_case(client, bench)
    assert answer.status_code == 200
    document = answer.json()
    assert document["path"] == "2021/cases/workbench.toml"
    # the answer is the new case's entry of perfrules test PACK --format json
    expected = _cli_json(root, monkeypatch, "test", "2021", "--format", "json")
    [entry] = [e for e in expected if e["case"] == "what if 88 tasks were done"]
    assert document["result"] == entry
    assert entry["passed"] is True
    assert entry["file"] == "2021/cases/workbench.toml"
    assert all(e["passed"] for e in expected)
    assert (root / "2021/cases/report.toml").read_bytes() == before  # the others untouched
    # a second case goes into the same file, which stays a valid cases file
    second = _save_case(
        client,
        bench,
        name="the published unit, but with a wrong grade expected",
        facts={"path": "2021/facts.toml"},
        expect={"total": "89.25", "grade": "优秀"},
    ).json()
    assert second["result"]["passed"] is False
    assert any("优秀" in f for f in second["result"]["failures"])
    # what the page shows is in the page's language; the failures stay English for programs
    assert any("expected" in f for f in second["result"]["failures"])
    chinese = _save_case(
        client,
        bench,
        name="the same, the answer in Chinese",
        facts={"path": "2021/facts.toml"},
        expect={"total": "89.25", "grade": "优秀"},
        lang="zh",
    ).json()
    assert chinese["result"]["failures"] == second["result"]["failures"]
    assert any("等级应为 优秀" in m for m in chinese["result"]["messages"])
    again = _cli_json(root, monkeypatch, "test", "2021", "-k", "workbench", "--format", "json")
    assert [e["passed"] for e in again] == [True, False, False]


def _outcome(client, bench, scheme, facts_text):
    """What the page shows for a unit: its total, or the codes of the errors it raises."""
    answer = _post(
        client,
        bench,
        "/api/score",
        {"scheme": scheme, "facts": {"path": "counterexample.toml", "text": facts_text}},
    ).json()
    if "trace" in answer:
        return {"total": answer["trace"]["total"]}
    return {"errors": sorted({d["code"] for d in answer["diagnostics"]})}


def test_a_counterexample_is_saved_with_the_facts_prove_found(client, bench, root, monkeypatch):
    text = (root / "2021/scheme.toml").read_text(encoding="utf-8")
    broken = text.replace(
        'completion = "weight * min(actual, 1)"', 'completion = "weight * actual"', 1
    )
    found = _post(
        client,
        bench,
        "/api/prove",
        {"scheme": {"path": "2021/scheme.toml", "text": broken}, "examples": 200},
    ).json()["counterexample"]
    # the page scored it under the defect: a total, or refused (a score beyond its weight)
    shown = _outcome(client, bench, {"path": "2021/scheme.toml", "text": broken}, found)
    saved = _save_case(
        client,
        bench,
        name="counterexample",
        facts={"path": "counterexample.toml", "text": found},
        expect=shown,
    ).json()
    written = (root / "2021/cases/workbench.toml").read_text(encoding="utf-8")
    assert "[case.facts.indicators." in written
    # the pack's scheme is the fixed one: the case passes there only if the fixed scheme
    # gives what the defect gave (its facts are the counterexample's, written in full)
    fixed = _outcome(client, bench, {"path": "2021/scheme.toml"}, found)
    assert saved["result"]["passed"] is (fixed == shown)
    # and it passes under the scheme with the defect
    (root / "2021/scheme.toml").write_text(broken, encoding="utf-8")
    [entry] = _cli_json(
        root, monkeypatch, "test", "2021", "-k", "counterexample", "--format", "json"
    )
    assert entry["passed"] is True


def test_a_unit_the_scheme_refuses_is_saved_expecting_its_errors(client, bench, root, monkeypatch):
    scheme = root / "2021/scheme.toml"
    broken = scheme.read_text(encoding="utf-8").replace(
        'completion = "weight * min(actual, 1)"', 'completion = "weight * actual"', 1
    )
    scheme.write_text(broken, encoding="utf-8")
    facts = {"path": "2021/facts.toml", "overrides": {"群众满意度": {"actual": "200%"}}}
    refused = _post(
        client, bench, "/api/score", {"scheme": {"path": "2021/scheme.toml"}, "facts": facts}
    )
    assert refused.status_code == 422
    assert {d["code"] for d in refused.json()["diagnostics"]} == {"PR501"}
    saved = _save_case(
        client, bench, name="beyond the weight", facts=facts, expect={"errors": ["PR501"]}
    ).json()
    [entry] = _cli_json(root, monkeypatch, "test", "2021", "-k", "beyond", "--format", "json")
    assert saved["result"] == entry
    assert entry["passed"] is True


def test_saving_a_case_keeps_the_file_valid_or_writes_nothing(client, bench, root):
    assert _save_case(client, bench).status_code == 200
    path = root / "2021/cases/workbench.toml"
    written = path.read_bytes()
    assert _save_case(client, bench).status_code == 409  # the same name twice
    assert path.read_bytes() == written
    # a name a TOML string cannot hold as typed is written escaped
    odd = 'quote " and \\ and \u007f and \n a new line'
    assert _save_case(client, bench, name=odd).status_code == 200
    cases = tomllib.loads(path.read_text(encoding="utf-8"))["case"]
    assert [case["name"] for case in cases] == ["what if 88 tasks were done", odd]
    # a cases file that is not one is not written to
    (root / "2021/cases/bad.toml").write_text("[[case]]\nnope = 1\n", encoding="utf-8")
    bad = _save_case(client, bench, file="bad.toml", name="another")
    assert bad.status_code == 422
    assert (root / "2021/cases/bad.toml").read_text(encoding="utf-8") == "[[case]]\nnope = 1\n"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"pack": "../outside"}, 403),
        ({"pack": "2021", "file": "../scheme.toml"}, 400),
        ({"pack": "2021", "file": "/etc/cases.toml"}, 400),
        ({"pack": "2021", "file": "cases.json"}, 400),
        ({"pack": "2021", "name": ""}, 400),
        ({"pack": "2021", "expect": {}}, 400),
        ({"pack": "2021", "expect": {"total": "1", "scores": []}}, 400),
        ({"pack": "2021", "expect": {"errors": "PR501"}}, 400),
        ({"pack": "nowhere"}, 404),
    ],
)
def test_saving_a_case_is_refused_when_odd(client, bench, root, body, status):
    assert _save_case(client, bench, **body).status_code == status
    assert not (root / "2021/cases/workbench.toml").exists()


def test_a_cases_folder_that_is_a_broken_link_is_refused(client, bench, root, tmp_path):
    shutil.rmtree(root / "2021/cases")
    (root / "2021/cases").symlink_to(tmp_path / "nowhere")
    assert _save_case(client, bench).status_code == 403
    assert not (tmp_path / "nowhere").exists()


def test_a_case_saved_in_a_pack_whose_scheme_is_broken_says_so(client, bench, root):
    scheme = root / "2021/scheme.toml"
    scheme.write_text(scheme.read_text(encoding="utf-8") + "\nnope = 1\n", encoding="utf-8")
    answer = _save_case(client, bench)
    assert answer.status_code == 200
    assert answer.json()["result"] is None
    assert answer.json()["diagnostics"][0]["file"] == "2021/scheme.toml"
    assert (root / "2021/cases/workbench.toml").exists()


def test_a_case_file_linked_out_of_the_root_is_not_written(client, bench, root, tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text("", encoding="utf-8")
    (root / "2021/cases/workbench.toml").symlink_to(outside)
    assert _save_case(client, bench).status_code == 403
    assert outside.read_text(encoding="utf-8") == ""


def test_audit_equals_the_cli_and_names_the_slip(client, bench, root, monkeypatch):
    report = (root / "2021/report.toml").read_text(encoding="utf-8")
    slip = report.replace('"质量-市域治理" = "4.77"', '"质量-市域治理" = "4.78"', 1)
    assert slip != report
    (root / "2021/report-slip.toml").write_text(slip, encoding="utf-8")
    body = {"scheme": {"path": "2021/scheme.toml"}, "report": {"path": "2021/report-slip.toml"}}
    document = _post(client, bench, "/api/audit", body).json()
    expected = _cli_json(
        root, monkeypatch, "audit", "2021/scheme.toml", "2021/report-slip.toml", "--format", "json"
    )
    assert document == expected
    assert document["consistent"] is False
    first = document["findings"][0]
    assert (first["id"], first["file"], first["line"]) == (
        "质量-市域治理",
        "2021/report-slip.toml",
        23,
    )
    assert "四舍五入" in first["reason_zh"]


def test_export_json_and_html_equal_the_cli(client, bench, root, monkeypatch):
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"path": "2021/facts.toml"},
        "lang": "zh",
    }
    monkeypatch.chdir(root)
    for kind in ("json", "html"):
        answer = _post(client, bench, "/api/export", {**body, "format": kind})
        assert answer.status_code == 200
        assert "attachment" in answer.headers["content-disposition"]
        result = CliRunner().invoke(
            cli, ["score", "2021/scheme.toml", "2021/facts.toml", "--format", kind, "--lang", "zh"]
        )
        assert answer.content.decode() == result.stdout


def test_export_xlsx_form_and_template_equal_the_cli(client, bench, root, monkeypatch, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"path": "2021/facts.toml"},
        "lang": "zh",
    }
    monkeypatch.chdir(root)

    def cells(data):
        book = openpyxl.load_workbook(io.BytesIO(data))
        return [list(row) for sheet in book for row in sheet.iter_rows(values_only=True)]

    form = _post(client, bench, "/api/export", {**body, "format": "xlsx"})
    CliRunner().invoke(
        cli,
        [
            "score",
            "2021/scheme.toml",
            "2021/facts.toml",
            "--lang",
            "zh",
            "--out",
            str(tmp_path / "f.xlsx"),
        ],
    )
    assert cells(form.content) == cells((tmp_path / "f.xlsx").read_bytes())
    template = _post(client, bench, "/api/export", {**body, "format": "template"})
    CliRunner().invoke(
        cli, ["template", "2021/scheme.toml", "--lang", "zh", "--out", str(tmp_path / "t.xlsx")]
    )
    assert cells(template.content) == cells((tmp_path / "t.xlsx").read_bytes())


# -- the command ----------------------------------------------------------------------------------


def test_serve_prints_the_login_url_first_and_stops_on_ctrl_c(root):
    import signal
    import subprocess
    import sys
    import time
    from urllib.request import Request, urlopen

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perfrules",
            "serve",
            str(root),
            "--no-browser",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline().strip()
        assert first.startswith(f"http://127.0.0.1:{port}/?token=")
        for _ in range(100):  # wait until it answers
            try:
                urlopen(Request(f"http://127.0.0.1:{port}/api/files"))
            except OSError as exc:
                if getattr(exc, "code", None) == 403:
                    break
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Traceback" not in err


def test_score_a_filled_in_template_like_the_cli(client, bench, root, monkeypatch):
    openpyxl = pytest.importorskip("openpyxl")
    body = {"scheme": {"path": "2021/scheme.toml"}, "format": "template", "lang": "zh"}
    book = openpyxl.load_workbook(io.BytesIO(_post(client, bench, "/api/export", body).content))
    sheet = book.active
    # the table's header comes after the unit and signature rows of the form
    header = next(r for r in sheet.iter_rows() if any("actual" in str(c.value) for c in r))
    column = next(c.column for c in header if "actual" in str(c.value))
    for row in range(header[0].row + 1, sheet.max_row + 1):
        sheet.cell(row, column).value = "90%"
    book.save(root / "2021" / "filled.xlsx")
    files = {f["path"]: f["kind"] for f in client.get("/api/files").json()["files"]}
    assert files["2021/filled.xlsx"] == "facts"
    score = {"scheme": {"path": "2021/scheme.toml"}, "facts": {"path": "2021/filled.xlsx"}}
    trace = _post(client, bench, "/api/score", score).json()["trace"]
    expected = _cli_json(
        root, monkeypatch, "score", "2021/scheme.toml", "2021/filled.xlsx", "--format", "json"
    )
    assert trace == expected
    assert trace["total"] == "84.66"


UNITS_CSV = """unit,数量-平安建设,数量-三零创建,数量-综治中心,数量-法学会,数量-智慧政法,数量-市域治理,质量-平安建设,质量-三零创建,质量-综治中心,质量-法学会,质量-市域治理,时效-平安建设,时效-三零创建,时效-综治中心,时效-法学会,时效-市域治理,社会效益-履职效果,群众满意度
steady,80%,80%,85%,85%,90%,90%,90%,90%,90%,90%,70/88,95%,94%,94%,95%,95%,93%,93%
slips,80%,95%,70%,85%,70%,90%,90%,90%,100%,90%,80%,70%,90%,70%,90%,90%,95%,70%
broken,80%,abc,85%,85%,90%,90%,90%,90%,90%,90%,80%,95%,94%,94%,95%,95%,93%,93%
"""


def test_diff_shows_whose_grade_changes_across_many_units(client, bench, root):
    (root / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    body = {
        "old": {"path": "2021/scheme.toml"},
        "new": {"path": "2022/scheme.toml"},
        "units": {"path": "units.csv"},
    }
    document = _post(client, bench, "/api/diff", body).json()
    first, second, last = document["units"]
    # the grade flip comes first, then the other moves, then the unit that cannot be scored
    assert first["unit"] == "slips"
    assert first["grade"] == {"old": "良好", "new": "中等"}
    assert first["grade_changes"] is True
    assert first["total"] == {"old": "80.30", "new": "79.25", "delta": "-1.05"}
    assert second["unit"] == "steady"
    assert second["grade_changes"] is False
    assert last["unit"] == "broken"
    assert last["diagnostics"][0]["code"] == "PR402"


def test_a_unit_of_the_diff_opens_both_traces(client, bench, root):
    (root / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    body = {
        "old": {"path": "2021/scheme.toml"},
        "new": {"path": "2022/scheme.toml"},
        "units": {"path": "units.csv"},
    }
    [row] = [
        u for u in _post(client, bench, "/api/diff", body).json()["units"] if u["unit"] == "slips"
    ]
    document = _post(client, bench, "/api/diff-unit", {**body, "unit": "slips"}).json()
    old, new = document["old"], document["new"]
    # the two traces are those the diff's table of units summed up
    assert (old["trace"]["total"], new["trace"]["total"]) == (
        row["total"]["old"],
        row["total"]["new"],
    )
    assert (old["trace"]["grade"]["label"], new["trace"]["grade"]["label"]) == ("良好", "中等")
    assert old["trace"]["provenance"]["scheme"]["id"] == "xinzhou-zfw-2021"
    assert new["trace"]["provenance"]["scheme"]["id"] == "xinzhou-zfw-2022"

    # an indicator of the new year only is in the new trace alone
    def ids(node):
        return {node["id"]}.union(*(ids(child) for child in node["children"]))

    assert "数量-智慧政法" in ids(new["trace"]["root"]) - ids(old["trace"]["root"])
    assert "数量-智慧政法" in new["shown"]


def test_a_unit_that_is_not_there_or_cannot_be_scored(client, bench, root):
    (root / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    body = {
        "old": {"path": "2021/scheme.toml"},
        "new": {"path": "2022/scheme.toml"},
        "units": {"path": "units.csv"},
    }
    assert _post(client, bench, "/api/diff-unit", {**body, "unit": "nobody"}).status_code == 404
    broken = _post(client, bench, "/api/diff-unit", {**body, "unit": "broken"})
    assert broken.status_code == 422
    assert broken.json()["diagnostics"][0]["code"] == "PR402"
    outside = {**body, "units": {"path": "../units.csv"}, "unit": "slips"}
    assert _post(client, bench, "/api/diff-unit", outside).status_code == 403


def _filled_template(client, bench):
    openpyxl = pytest.importorskip("openpyxl")
    body = {"scheme": {"path": "2021/scheme.toml"}, "format": "template", "lang": "zh"}
    book = openpyxl.load_workbook(io.BytesIO(_post(client, bench, "/api/export", body).content))
    sheet = book.active
    # the table's header comes after the unit and signature rows of the form
    header = next(r for r in sheet.iter_rows() if any("actual" in str(c.value) for c in r))
    column = next(c.column for c in header if "actual" in str(c.value))
    for row in range(header[0].row + 1, sheet.max_row + 1):
        sheet.cell(row, column).value = "90%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_score_an_uploaded_workbook_without_keeping_it(client, bench, root):
    import base64

    data = _filled_template(client, bench)
    upload = {"name": "填好的表.xlsx", "data": base64.b64encode(data).decode()}
    before = sorted(p.name for p in root.rglob("*"))
    body = {"scheme": {"path": "2021/scheme.toml"}, "facts": {"upload": upload}}
    answer = _post(client, bench, "/api/score", body)
    assert answer.status_code == 200
    trace = answer.json()["trace"]
    assert trace["total"] == "84.66"
    assert trace["provenance"]["facts"]["path"].startswith("填好的表.xlsx")
    assert "perfrules-upload-" not in answer.text
    assert sorted(p.name for p in root.rglob("*")) == before  # nothing written to the folder


def test_a_bad_upload_is_located_by_its_name(client, bench):
    import base64

    bad = base64.b64encode(
        '[indicators]\n"质量-市域治理" = { actual = "abc" }\n'.encode()
    ).decode()
    body = {
        "scheme": {"path": "2021/scheme.toml"},
        "facts": {"upload": {"name": "mine.toml", "data": bad}},
    }
    answer = _post(client, bench, "/api/score", body)
    assert answer.status_code == 422
    assert "perfrules-upload-" not in answer.text
    [located] = [d for d in answer.json()["diagnostics"] if d["code"] == "PR402"]
    assert (located["file"], located["line"]) == ("mine.toml", 2)


@pytest.mark.parametrize(
    ("upload", "status"),
    [
        ({"name": "run.py", "data": "eA=="}, 415),
        ({"name": "../../x.toml", "data": "not base64!"}, 400),
        ({"name": "x.toml"}, 400),
    ],
)
def test_uploads_are_refused_when_odd(client, bench, upload, status):
    body = {"scheme": {"path": "2021/scheme.toml"}, "facts": {"upload": upload}}
    assert _post(client, bench, "/api/score", body).status_code == status
