"""What every request must pass before any route sees it, and where files may be read.

:class:`Guard` is an ASGI middleware around the whole app:

* ``Host`` must be the server's own (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``, or
  the ``--host`` given with ``--allow-remote``): anything else is a DNS-rebinding attempt → 421.
* ``GET /?token=…`` with the one-time token sets the session cookie (``HttpOnly``,
  ``SameSite=Strict``) and redirects to ``/``; the token is then spent. Every other request needs
  that cookie → 403 without it.
* Requests that change something (anything but GET/HEAD) need ``Origin`` equal to the server's own
  origin and the ``X-Perfrules-CSRF`` header with the page's value → 403; a JSON body
  (``Content-Type: application/json``) → 415; a ``Content-Length`` → 411, at most
  :data:`MAX_BODY` bytes → 413, refused before a byte of the body is read.
* Every answer carries a strict Content-Security-Policy and ``nosniff``; nothing is cached but
  the content-hashed static files.

:class:`Root` confines file access to the served folder.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "KINDS",
    "MAX_BODY",
    "MAX_FILE",
    "Guard",
    "Keys",
    "Refused",
    "Root",
    "allowed_hosts",
    "content_security_policy",
    "security_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The session cookie's name.
COOKIE: Final = "perfrules_session"
#: The custom header a state-changing request must carry (a cross-site form cannot set it, and
#: a cross-site ``fetch`` that sets it needs a CORS pre-flight this server never answers).
CSRF_HEADER: Final = "x-perfrules-csrf"
#: Largest request body: a rule file may be 1 MiB (the library's own limit), JSON-escaped.
MAX_BODY: Final = 2 * 1024 * 1024
#: Largest file read or written: the library's limit for a rule or facts file.
MAX_FILE: Final = 1024 * 1024
#: The kinds of file the workbench opens, by ending.
KINDS: Final = (".toml", ".json", ".csv", ".xlsx")
_STATE_CHANGING_SAFE: Final = frozenset({"GET", "HEAD"})


def content_security_policy(nonce: str) -> str:
    """The page's policy: only its own scripts, styles by nonce, fetches to itself."""
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; connect-src 'self'; img-src 'self' data:; "
        "font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` values this server answers: loopback names and the address it is bound to.

    *extra*: more names (a machine's names when it listens on every address).
    """
    names = {"127.0.0.1", "localhost", "[::1]"}
    for name in (host, *extra):
        names.add(f"[{name}]" if ":" in name else name)
    return frozenset(f"{name}:{port}" for name in names)


@dataclass
class Keys:
    """The run's secrets: the one-time login token, the session cookie and the CSRF value."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    spent: bool = False

    def exchange(self, offered: str) -> bool:
        """Spend the token: true once, for the right value."""
        if self.spent or not secrets.compare_digest(offered.encode(), self.token.encode()):
            return False
        self.spent = True
        return True


class Guard:
    """The ASGI middleware that refuses every request not from this server's own page."""

    def __init__(self, app: App, *, keys: Keys, hosts: frozenset[str]) -> None:
        """Wrap *app*; answer only *hosts*; log in with *keys*."""
        self.app = app
        self.keys = keys
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request; pass it on, or answer with the refusal."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # no websockets
        headers = _headers(scope)
        host = headers.get("host", "")
        if host not in self.hosts:
            await _refuse(send, HTTPStatus.MISDIRECTED_REQUEST, "unknown Host")
            return
        method = scope["method"]
        if scope["path"] == "/" and method == "GET":
            offered = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            if offered:
                if _has_session(headers.get("cookie", ""), self.keys.session):
                    await _login(send, self.keys.session)  # the link again, same browser: fine
                    return
                if not self.keys.exchange(offered[0]):
                    await _refuse(send, HTTPStatus.FORBIDDEN, "this link was used already")
                    return
                await _login(send, self.keys.session)
                return
        if not _has_session(headers.get("cookie", ""), self.keys.session):
            await _refuse(
                send,
                HTTPStatus.FORBIDDEN,
                "open the link perfrules serve printed (it logs this browser in)",
            )
            return
        if method not in _STATE_CHANGING_SAFE:
            refusal = self._refuse_change(headers, host)
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        await _answer_safely(self.app, scope, receive, send)

    def _refuse_change(self, headers: dict[str, str], host: str) -> tuple[HTTPStatus, str] | None:
        if headers.get("origin") != f"http://{host}":
            return HTTPStatus.FORBIDDEN, "cross-origin request"
        offered = headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(offered.encode(), self.keys.csrf.encode()):
            return HTTPStatus.FORBIDDEN, "missing or wrong X-Perfrules-CSRF header"
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)"
        length = headers.get("content-length")
        if length is None or not length.isdigit():
            return HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required"
        if int(length) > MAX_BODY:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes"
        return None


async def _answer_safely(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    """Run *app*: every answer gets the security headers; a bug answers 500, no traceback."""
    started = False

    async def send_with_headers(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in security_headers() if k not in present]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    try:
        await app(scope, receive, send_with_headers)
    except Exception as exc:  # noqa: BLE001 - the page gets a plain 500, the terminal one line
        print(  # noqa: T201 - the server's own console
            f"perfrules serve: internal error ({type(exc).__name__}) on {scope['path']}",
            file=sys.stderr,
        )
        if not started:
            await _refuse(send, HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")


def _headers(scope: Scope) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        if key in seen:  # a repeated Host or Origin is never ours
            seen[key] = "\x00"
        else:
            seen[key] = value.decode("latin-1")
    return seen


def _has_session(cookie_header: str, session: str) -> bool:
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and secrets.compare_digest(value.encode(), session.encode()):
            return True
    return False


def security_headers(*, cache: bool = False, nonce: str = "none") -> list[tuple[bytes, bytes]]:
    """Headers on every answer: CSP, no sniffing, no referrer, no framing, no caching."""
    return [
        (b"content-security-policy", content_security_policy(nonce).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"cache-control", b"public, max-age=31536000, immutable" if cache else b"no-store"),
    ]


async def _refuse(send: Send, status: HTTPStatus, reason: str) -> None:
    body = ('{"error": "' + reason + '"}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status.value,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *security_headers(),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _login(send: Send, session: str) -> None:
    cookie = f"{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/"
    await send(
        {
            "type": "http.response.start",
            "status": HTTPStatus.SEE_OTHER.value,
            "headers": [
                (b"location", b"/"),
                (b"set-cookie", cookie.encode()),
                (b"content-length", b"0"),
                *security_headers(),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class Refused(Exception):  # noqa: N818 - an answer, not a bug
    """A request for a file the workbench may not open; ``status`` is the HTTP answer."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        """Keep the status and a reason safe to show (never a server path)."""
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Root:
    """The served folder: every path the page names is relative to it and must stay in it."""

    folder: Path

    @classmethod
    def at(cls, folder: str | Path) -> Root:
        """The root at *folder*, resolved (its symlinks followed once, here)."""
        resolved = Path(folder).resolve(strict=True)
        if not resolved.is_dir():
            raise NotADirectoryError(folder)
        return cls(resolved)

    def path(self, name: str, *, must_exist: bool = True) -> Path:
        """The file *name* (relative to the root) as an absolute path, or :class:`Refused`.

        Refused: absolute names, names that leave the root (``..``, a symlink pointing out),
        anything but a regular file of a known kind (:data:`KINDS`), files over
        :data:`MAX_FILE`.
        """
        if not name or "\x00" in name or Path(name).is_absolute() or "\\" in name:
            raise Refused(HTTPStatus.FORBIDDEN, "give a path relative to the served folder")
        candidate = (self.folder / name).resolve()
        if not candidate.is_relative_to(self.folder):
            raise Refused(HTTPStatus.FORBIDDEN, "the path leaves the served folder")
        if candidate.suffix.lower() not in KINDS:
            raise Refused(HTTPStatus.FORBIDDEN, "only .toml, .json, .csv and .xlsx files")
        try:
            info = candidate.stat()
        except FileNotFoundError:
            if must_exist:
                raise Refused(HTTPStatus.NOT_FOUND, "no such file") from None
            if not candidate.parent.is_dir():
                raise Refused(HTTPStatus.NOT_FOUND, "no such folder") from None
            return candidate
        except OSError:
            raise Refused(HTTPStatus.FORBIDDEN, "the file cannot be read") from None
        if not stat.S_ISREG(info.st_mode):
            raise Refused(HTTPStatus.FORBIDDEN, "not a regular file")
        if info.st_size > MAX_FILE:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the file is over 1 MiB")
        return candidate

    def given(self, path: Path) -> Path:
        """*path* (absolute, inside the root) as the library should be given it.

        Relative to the root when the root is the working folder (``perfrules serve`` makes it
        so): the library then names files exactly as the CLI run in that folder names them.
        """
        if Path.cwd().resolve() == self.folder:
            return path.relative_to(self.folder)
        return path

    def relative(self, path: str | Path) -> str:
        """*path* written relative to the root (``/``-separated), or its bare name if outside."""
        absolute = Path(path) if Path(path).is_absolute() else self.folder / path
        try:
            return absolute.resolve().relative_to(self.folder).as_posix()
        except ValueError:
            return Path(path).name

    def read(self, name: str) -> tuple[bytes, str]:
        """The bytes of file *name* and their sha256."""
        data = self.path(name).read_bytes()
        return data, hashlib.sha256(data).hexdigest()

    def scrub(self, text: str) -> str:
        """*text* with the root's absolute path taken out (names become root-relative)."""
        folder = str(self.folder)
        return text.replace(folder + os.sep, "").replace(folder, ".")
