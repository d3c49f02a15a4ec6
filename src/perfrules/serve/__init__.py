"""``perfrules serve``: a local workbench page on the rule files, facts and packs of one folder.

Needs ``pip install 'perfrules[serve]'`` (Starlette and uvicorn). The page calls the same library
functions as the CLI and gets the same JSON back; the only validator is the engine, on the server.

Safe by default: it listens on 127.0.0.1 only (another address needs ``allow_remote``), answers
only its own ``Host``, logs the browser in with a one-time token that becomes an ``HttpOnly``,
``SameSite=Strict`` cookie, asks state-changing requests for a matching ``Origin`` and a custom
header, takes JSON bodies of bounded size only, reads and writes inside the served folder only,
and sends a strict Content-Security-Policy. See ``docs/how-to/workbench.md``.

This module imports neither Starlette nor uvicorn until a server is built, so the CLI can
register :data:`command` without the extra installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from perfrules.errors import Lang

if TYPE_CHECKING:
    import socket

    from perfrules.serve._app import Workbench, build_app
    from perfrules.serve._guard import Root

__all__ = [
    "NotLoopback",
    "Root",
    "Workbench",
    "bind",
    "build_app",
    "command",
    "is_loopback",
    "serve",
]


def __getattr__(name: str) -> Any:
    """``Workbench``, ``build_app`` and ``Root``, imported (with Starlette) when first named."""
    if name in ("Workbench", "build_app"):
        from perfrules.serve import _app  # noqa: PLC0415

        return getattr(_app, name)
    if name == "Root":
        from perfrules.serve._guard import Root  # noqa: PLC0415

        return Root
    raise AttributeError(name)


class NotLoopback(ValueError):  # noqa: N818 - says what was refused
    """The address is not a loopback address and ``allow_remote`` was not given."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    import ipaddress  # noqa: PLC0415 - the workbench's modules load when it runs

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, *, allow_remote: bool = False) -> socket.socket:
    """A listening socket on *host*:*port* (0: any free port), refusing non-loopback hosts.

    Raises:
        NotLoopback: *host* is not loopback and *allow_remote* is false.
        OSError: the address cannot be bound (the port is taken).
    """
    import socket  # noqa: PLC0415 - the workbench's modules load when it runs

    if not allow_remote and not is_loopback(host):
        raise NotLoopback(
            f"{host} is not a loopback address: perfrules serve listens on 127.0.0.1 unless "
            "--allow-remote is given"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)  # Windows: no port sharing
    if exclusive is not None:
        sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
    else:  # POSIX: a restart may reuse the port at once; no other process can share it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def _own_names(host: str) -> tuple[str, ...]:
    """The names a browser elsewhere may use for this machine, when listening on all addresses."""
    import socket  # noqa: PLC0415 - the workbench's modules load when it runs

    if host not in ("0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        return ()
    try:
        name, aliases, addresses = socket.gethostbyname_ex(socket.gethostname())
    except OSError:
        return (socket.gethostname(),)
    return (name, *aliases, *addresses)


def serve(
    root: str | Path = ".",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    open_browser: bool = True,
    lang: Lang = "zh",
    out: TextIO | None = None,
) -> None:
    """Serve the workbench on *root* until Ctrl-C; the login URL is the first line of *out*.

    Raises:
        NotLoopback: see :func:`bind`.
        OSError: the root is not a folder, or the port cannot be bound.
    """
    import tempfile  # noqa: PLC0415 - the workbench's modules load when it runs
    import webbrowser  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415 - the serve extra

    from perfrules.serve._app import Workbench, build_app  # noqa: PLC0415
    from perfrules.serve._guard import Root  # noqa: PLC0415

    stream = out if out is not None else sys.stdout
    folder = Root.at(root)
    sock = bind(host, port, allow_remote=allow_remote)
    # The served folder is the working folder: the library names files relative to it, as the
    # CLI run there does (and a relative name cannot point anywhere else).
    os.chdir(folder.folder)
    # Prove's example database goes to a scratch folder, not into the served one.
    scratch = tempfile.TemporaryDirectory(prefix="perfrules-serve-")
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", scratch.name)
    bench = Workbench(
        folder, lang=lang, host=host, port=sock.getsockname()[1], names=_own_names(host)
    )
    app = build_app(bench)
    print(bench.url, file=stream, flush=True)
    if allow_remote and not is_loopback(host):
        print(  # noqa: T201
            f"warning: listening on {host}: anyone who can reach it and has the link can log in",
            file=sys.stderr,
        )
    if open_browser:
        webbrowser.open(bench.url)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        pass
    finally:
        sock.close()
        scratch.cleanup()
    print("perfrules serve: stopped", file=sys.stderr)  # noqa: T201


@click.command(name="serve")
@click.argument("root", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--port", default=0, show_default=True, help="Port (0: any free one). 端口。")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on. 地址。"
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host that is not loopback (others on the network can connect). 允许远程访问。",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser. 不自动打开浏览器。")
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="页面语言。"
)
def command(
    root: str, port: int, host: str, allow_remote: bool, no_browser: bool, lang: Lang
) -> None:
    """Open the workbench page on ROOT's rule files, facts and packs (Ctrl-C stops it).

    在浏览器中打开工作台：编辑规则、计分、解释、对比、测试、导出（Ctrl-C 停止）。
    """
    try:
        import starlette  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError:
        click.echo("perfrules serve needs: pip install 'perfrules[serve]'", err=True)
        sys.exit(2)
    try:
        serve(
            root,
            host=host,
            port=port,
            allow_remote=allow_remote,
            open_browser=not no_browser,
            lang=lang,
        )
    except NotLoopback as exc:
        click.echo(f"perfrules serve: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"perfrules serve: cannot listen on {host}:{port} ({exc.strerror})", err=True)
        sys.exit(2)
