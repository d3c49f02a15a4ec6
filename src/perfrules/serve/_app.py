"""The Starlette app: the page, its static files and the JSON routes, behind the guard."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from importlib import resources
from typing import Any, Final

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from perfrules.errors import Lang
from perfrules.serve import _api
from perfrules.serve._guard import (
    Guard,
    Keys,
    Refused,
    Root,
    allowed_hosts,
    security_headers,
)

__all__ = ["Workbench", "build_app"]

_STATIC: Final = resources.files("perfrules.serve") / "static"
_MEDIA: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass
class Workbench:
    """One served folder: its root, language, host and port, and the run's keys."""

    root: Root
    lang: Lang = "zh"
    host: str = "127.0.0.1"
    port: int = 8000
    keys: Keys = field(default_factory=Keys)
    #: More ``Host`` names to answer (the machine's names, when listening on all addresses).
    names: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The one-time login URL printed on the first line of output."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.keys.token}"


def _static_files() -> dict[str, tuple[bytes, str, bool]]:
    """Name → (bytes, media type, immutable): the page's files, read once from the package."""
    files: dict[str, tuple[bytes, str, bool]] = {}
    for entry in _STATIC.iterdir():
        if entry.is_file() and entry.name != "index.html":
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if suffix in _MEDIA:
                files[entry.name] = (entry.read_bytes(), _MEDIA[suffix], False)
    vendor = _STATIC / "vendor"
    for entry in vendor.iterdir():
        if entry.is_file() and entry.name.endswith(".js"):
            files[f"vendor/{entry.name}"] = (entry.read_bytes(), _MEDIA[".js"], True)
    return files


def _json(status: HTTPStatus, document: object, root: Root) -> Response:
    # The last line of defence: whatever an answer holds, the server's folder is not in it.
    text = root.scrub(json.dumps(document, ensure_ascii=False))
    return Response(
        text.encode(),
        status_code=status.value,
        media_type="application/json",
    )


Handler = Callable[[Root, Mapping[str, Any], Lang], Any]


def build_app(bench: Workbench) -> Guard:
    """The ASGI app for *bench*, wrapped in its :class:`Guard`."""
    files = _static_files()
    bundle = next(name for name in files if name.startswith("vendor/codemirror."))
    shell = (_STATIC / "index.html").read_text(encoding="utf-8")

    async def page(request: Request) -> Response:
        del request
        nonce = secrets.token_urlsafe(16)
        text = (
            shell.replace("{{csrf}}", bench.keys.csrf)
            .replace("{{lang}}", bench.lang)
            .replace("{{nonce}}", nonce)
            .replace("{{bundle}}", bundle)
        )
        headers = {k.decode(): v.decode() for k, v in security_headers(nonce=nonce)}
        return Response(text, media_type=_MEDIA[".html"], headers=headers)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return _json(HTTPStatus.NOT_FOUND, {"error": "no such file"}, bench.root)
        data, media, immutable = files[name]
        headers = {k.decode(): v.decode() for k, v in security_headers(cache=immutable)}
        return Response(data, media_type=media, headers=headers)

    def route(
        handler: Handler, *, query: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if query:
                body: Any = dict(request.query_params)
            else:
                try:
                    body = json.loads(await request.body())
                except (ValueError, UnicodeDecodeError):
                    return _json(
                        HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"}, bench.root
                    )
                if not isinstance(body, dict):
                    return _json(
                        HTTPStatus.BAD_REQUEST, {"error": "the body is a JSON object"}, bench.root
                    )
            try:
                document = await to_thread.run_sync(partial(handler, bench.root, body, bench.lang))
            except _api.Answer as answer:
                return _json(answer.status, answer.document, bench.root)
            except Refused as refused:
                return _json(refused.status, {"error": refused.reason}, bench.root)
            return _json(HTTPStatus.OK, document, bench.root)

        return endpoint

    async def download(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise TypeError  # noqa: TRY301 - one refusal for both
        except (ValueError, UnicodeDecodeError, TypeError):
            return _json(
                HTTPStatus.BAD_REQUEST, {"error": "the body is a JSON object"}, bench.root
            )
        try:
            data, name, media = await to_thread.run_sync(
                partial(_api.export, bench.root, body, bench.lang)
            )
        except _api.Answer as answer:
            return _json(answer.status, answer.document, bench.root)
        except Refused as refused:
            return _json(refused.status, {"error": refused.reason}, bench.root)
        headers = {"content-disposition": _attachment(name)}
        return Response(data, media_type=media, headers=headers)

    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/static/{name:path}", static, methods=["GET"]),
            Route("/api/files", route(_api.list_files, query=True), methods=["GET"]),
            Route("/api/file", route(_api.read_file, query=True), methods=["GET"]),
            Route("/api/file", route(_api.save_file), methods=["PUT"]),
            Route("/api/new-year", route(_api.new_year), methods=["POST"]),
            Route("/api/check", route(_api.check), methods=["POST"]),
            Route("/api/score", route(_api.score), methods=["POST"]),
            Route("/api/explain", route(_api.explain), methods=["POST"]),
            Route("/api/diff", route(_api.diff), methods=["POST"]),
            Route("/api/diff-unit", route(_api.diff_unit), methods=["POST"]),
            Route("/api/test", route(_api.test_pack), methods=["POST"]),
            Route("/api/case", route(_api.save_case), methods=["POST"]),
            Route("/api/prove", route(_api.prove), methods=["POST"]),
            Route("/api/audit", route(_api.audit), methods=["POST"]),
            Route("/api/export", download, methods=["POST"]),
        ],
    )
    hosts = allowed_hosts(bench.host, bench.port, bench.names)
    return Guard(app, keys=bench.keys, hosts=hosts)


def _attachment(name: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415

    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "-._" else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
