"""server/static.py and CORS: the page's files, typed, cached and compressed, and nothing else."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
from starlette.applications import Starlette

from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import LiveRequest

pytestmark = pytest.mark.anyio


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = {
        "index.html": "<!doctype html><title>chat</title>",
        "pyscript.toml": 'packages = ["markdown"]\n',
        "app/main.py": "print('hi')\n",
        "streamchat/sse.py": "# decoder\n",
        "static/style.css": "body {}\n",
        "static/vendor/pyscript/core.js": "export {};\n",
        "static/vendor/pyscript/core.mjs": "export {};\n",
        "static/vendor/pyodide/pyodide.asm.wasm": "\0asm",
        "static/vendor/wheels/markdown-3.11.3-py3-none-any.whl": "PK",
        "server/app.py": "SECRET = 1\n",
        "tests/test_x.py": "",
        ".git/config": "[core]\n",
        ".venv/pyvenv.cfg": "home = /usr\n",
        "secret.txt": "no",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("path", "media_type", "cache_control"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/index.html", "text/html; charset=utf-8", "no-cache"),
        ("/pyscript.toml", "application/toml", "no-cache"),
        ("/app/main.py", "text/x-python; charset=utf-8", "no-cache"),
        ("/static/style.css", "text/css; charset=utf-8", "no-cache"),
        ("/static/vendor/pyscript/core.js", "text/javascript; charset=utf-8", "max-age=31536000"),
        ("/static/vendor/pyscript/core.mjs", "text/javascript; charset=utf-8", "max-age=31536000"),
        ("/static/vendor/pyodide/pyodide.asm.wasm", "application/wasm", "max-age=31536000"),
        (
            "/static/vendor/wheels/markdown-3.11.3-py3-none-any.whl",
            "application/zip",
            "max-age=31536000",
        ),
    ],
)
async def test_page_files_are_served_with_their_type_and_caching(
    make_app: AppFactory, root: Path, path: str, media_type: str, cache_control: str
) -> None:
    async with client_for(make_app(root=root)) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert cache_control in response.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/server/app.py",
        "/tests/test_x.py",
        "/.git/config",
        "/.venv/pyvenv.cfg",
        "/secret.txt",
        "/static/../server/app.py",
        "/app/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/vendor/",
        "/app/missing.py",
    ],
)
async def test_nothing_else_is_served(make_app: AppFactory, root: Path, path: str) -> None:
    # Driven directly so that the client does not normalise the dot segments away.
    async with LiveRequest(make_app(root=root), path) as request:
        await request.ended()
    assert request.status == 404


async def test_missing_page_directories_are_404_not_errors(
    make_app: AppFactory, tmp_path: Path
) -> None:
    async with client_for(make_app(root=tmp_path)) as client:
        for path in ("/", "/pyscript.toml", "/app/main.py", "/static/vendor/x.js"):
            assert (await client.get(path)).status_code == 404


WASM = "/static/vendor/pyodide/pyodide.asm.wasm"


def _twins(root: Path, name: str) -> None:
    """`name`'s precompressed twins, each with its own text so a test can tell them apart."""
    plain = root / name
    (plain.parent / (plain.name + ".br")).write_bytes(brotli.compress(b"from the br twin"))
    (plain.parent / (plain.name + ".gz")).write_bytes(gzip.compress(b"from the gz twin", mtime=0))


async def _get(app: Starlette, path: str, **headers: str) -> tuple[dict[str, str], bytes]:
    """The response's headers and its body as sent (still encoded)."""
    async with client_for(app) as client, client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return dict(response.headers), body


@pytest.mark.parametrize(
    ("accept", "encoding", "body"),
    [
        ("gzip, deflate, br, zstd", "br", brotli.compress(b"from the br twin")),
        ("gzip;q=1.0, br;q=0", "gzip", gzip.compress(b"from the gz twin", mtime=0)),
        ("identity", None, b"\0asm"),
    ],
)
async def test_a_precompressed_twin_is_sent_to_a_browser_that_accepts_it(
    make_app: AppFactory, root: Path, accept: str, encoding: str | None, body: bytes
) -> None:
    _twins(root, WASM.lstrip("/"))
    headers, sent = await _get(make_app(root=root), WASM, **{"Accept-Encoding": accept})
    assert headers.get("content-encoding") == encoding
    assert sent == body
    assert headers["content-type"] == "application/wasm"
    assert headers["vary"] == "Accept-Encoding"
    assert "max-age=31536000" in headers["cache-control"]


async def test_a_twin_older_than_its_file_is_stale_and_never_sent(
    make_app: AppFactory, root: Path
) -> None:
    _twins(root, WASM.lstrip("/"))
    for suffix in (".br", ".gz"):
        os.utime(root / (WASM.lstrip("/") + suffix), (1, 1))
    headers, sent = await _get(make_app(root=root), WASM, **{"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in headers
    assert sent == b"\0asm"


async def test_a_byte_range_is_a_range_of_the_plain_file(make_app: AppFactory, root: Path) -> None:
    _twins(root, WASM.lstrip("/"))
    async with client_for(make_app(root=root)) as client:
        response = await client.get(WASM, headers={"Accept-Encoding": "br", "Range": "bytes=1-3"})
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.content == b"asm"


async def test_the_apps_own_files_are_gzipped_once_per_version(
    make_app: AppFactory, root: Path
) -> None:
    module = root / "app" / "main.py"
    module.write_text("print('hi')\n" * 200)
    app = make_app(root=root)
    headers, sent = await _get(app, "/app/main.py", **{"Accept-Encoding": "gzip, br"})
    assert headers["content-encoding"] == "gzip"
    assert headers["cache-control"] == "no-cache"
    assert gzip.decompress(sent) == module.read_bytes()
    changed = await _edited(
        app, "/app/main.py", headers["etag"], module, "print('changed')\n" * 200
    )
    assert changed.status_code == 200
    assert changed.text == module.read_text()


async def test_the_pages_python_is_one_archive_made_again_after_an_edit(
    make_app: AppFactory, root: Path
) -> None:
    module = root / "streamchat" / "sse.py"
    module.write_text("# decoder\n" * 200)
    app = make_app(root=root)
    headers, sent = await _get(app, "/static/app.zip", **{"Accept-Encoding": "gzip, br"})
    assert headers["content-encoding"] == "gzip"
    assert headers["cache-control"] == "no-cache"
    assert headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(gzip.decompress(sent))) as archive:
        assert archive.read("streamchat/sse.py") == module.read_bytes()
        assert sorted(archive.namelist()) == ["app/main.py", "streamchat/sse.py"]
    changed = await _edited(app, "/static/app.zip", headers["etag"], module, "# decoder, edited\n")
    assert changed.status_code == 200
    with zipfile.ZipFile(io.BytesIO(changed.content)) as archive:
        assert archive.read("streamchat/sse.py") == b"# decoder, edited\n"


async def _edited(app: Starlette, url: str, etag: str, module: Path, text: str) -> httpx.Response:
    """`url` revalidated with `etag` (304: nothing changed), then fetched again with it after
    `module` is rewritten with `text` (its time moved on, as an editor's save does)."""
    async with client_for(app) as client:
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304
        # A small temporary file, as the tests themselves write them: blocking is harmless.
        module.write_text(text)  # noqa: ASYNC240
        os.utime(module, ns=(module.stat().st_mtime_ns + 10**9,) * 2)  # noqa: ASYNC240
        return await client.get(url, headers={"If-None-Match": etag})


async def test_a_tiny_file_is_sent_as_it_is(make_app: AppFactory, root: Path) -> None:
    headers, sent = await _get(make_app(root=root), "/app/main.py", **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in headers
    assert sent == b"print('hi')\n"


async def test_no_cors_headers_unless_configured(make_app: AppFactory) -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/healthz", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in response.headers


async def test_configured_origins_may_call_the_api(make_app: AppFactory) -> None:
    app = make_app(cors_origins=("https://example.org",))
    async with client_for(app) as client:
        preflight = await client.options(
            "/api/chat",
            headers={
                "Origin": "https://example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization, last-event-id",
            },
        )
        allowed = await client.get("/healthz", headers={"Origin": "https://example.org"})
        other = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        delete = await client.options(
            "/api/chat",
            headers={"Origin": "https://example.org", "Access-Control-Request-Method": "DELETE"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://example.org"
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert {"content-type", "authorization", "last-event-id"} <= set(
        allowed_headers.replace(" ", "").split(",")
    )
    assert allowed.headers["access-control-allow-origin"] == "https://example.org"
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert delete.status_code == 200
