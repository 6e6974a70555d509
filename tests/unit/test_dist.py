"""tools/dist.py and its dist_*.py modules: the site's layout, URLs, version, twins, headers.

The browser proves the site works (tests/browser/test_dist.py); these tests pin down why:
every URL is relative and names a file of the build, and what can change is versioned.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import httpx
import pytest

# tools/ holds scripts, not a package: mypy and this test both know tools/dist.py as `dist`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from dist import (
    Build,
    BuildError,
    build_site,
    content_security_policy,
    exact_origin,
    main,
    page_config,
    response_headers,
)
from dist_preview import preview

ROOT = Path(__file__).resolve().parents[2]
TWINS = {".br": brotli.decompress, ".gz": gzip.decompress}
pytestmark = pytest.mark.skipif(
    not (ROOT / "static" / "vendor" / "pyodide").is_dir(),
    reason="static/vendor/ is missing: run `make setup`",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return build_site(
        tmp_path_factory.mktemp("dist") / "dist",
        endpoint="https://chat-api.example.org/api/chat",
        embed_origins=["https://www.example.org/"],
        gzip_level=1,
    )


def _urls(html: str) -> list[str]:
    return re.findall(r'\s(?:src|href|config)="([^"#][^"]*)"', html)


def test_only_the_entry_points_are_outside_the_versioned_directory(site: Build) -> None:
    top = sorted(path.name for path in site.out.iterdir())
    entry_points = ["embed.js", "index.html", "sw.js"]
    assert top == sorted([*entry_points, *(f"{n}{s}" for n in entry_points for s in TWINS), "v"])
    assert [path.name for path in (site.out / "v").iterdir()] == [site.version]
    assert re.fullmatch(r"[0-9a-f]{12}", site.version)


def test_every_url_of_the_page_is_relative_and_names_a_file_of_the_build(site: Build) -> None:
    urls = _urls((site.out / "index.html").read_text(encoding="utf-8"))
    assert len(urls) >= 5
    for url in urls:
        assert url.startswith(f"v/{site.version}/"), url
        assert (site.out / url).is_file(), url


def test_pyscript_finds_the_interpreter_and_every_file(site: Build) -> None:
    config_url = next(
        u for u in _urls((site.out / "index.html").read_text()) if u.endswith(".toml")
    )
    config_path = site.out / config_url
    config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    # PyScript resolves `interpreter` against the page, and [files] against the config file.
    assert (site.out / config["interpreter"]).is_file()
    files = dict(config["files"])
    templates = {key: files.pop(key) for key in list(files) if re.fullmatch(r"\{\w+\}", key)}
    assert files
    for url in files:
        for name, value in templates.items():
            url = url.replace(name, value)
        assert (config_path.parent / url).is_file(), url


def test_the_javascript_ships_as_it_is(site: Build) -> None:
    # Each script resolves what it fetches against its own URL, so nothing rewrites it.
    versioned = site.out / "v" / site.version
    scripts = [*(versioned / "static").glob("*.js"), *(versioned / "static").glob("*.mjs")]
    assert len(scripts) >= 5
    for script in scripts:
        assert script.read_bytes() == (ROOT / "static" / script.name).read_bytes(), script.name
    assert (site.out / "embed.js").read_bytes() == (ROOT / "static" / "embed.js").read_bytes()


def test_no_page_script_names_a_path_relative_to_the_page() -> None:
    # The page stays at the top of the site while static/ moves under v/<version>/.
    for script in [*(ROOT / "static").glob("*.js"), *(ROOT / "static").glob("*.mjs")]:
        quoted = re.findall(r"""["']((?:static|app)/[^"'\s]+)["']""", script.read_text())
        assert quoted == [], f"{script.name} names {quoted} relative to the page"


def test_a_script_that_fetches_relative_to_the_page_stops_the_build(tmp_path: Path) -> None:
    # The runtime's large files are not needed to be refused.
    source = _source_copy(tmp_path / "source", shutil.ignore_patterns("*.wasm", "*.br", "*.gz"))
    boot = source / "static" / "boot.js"
    boot.write_text(boot.read_text() + '\nfetch("static/vendor/manifest.json");\n')
    with pytest.raises(BuildError, match=r"boot\.js names 'static/vendor/manifest\.json'"):
        build_site(tmp_path / "out", source=source, gzip_level=0)
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_the_service_worker_carries_the_sites_version_and_the_page_names_it(site: Build) -> None:
    worker = (site.out / "sw.js").read_text(encoding="utf-8")
    source = (ROOT / "static" / "sw.js").read_text(encoding="utf-8")
    assert worker == source.replace('"__VERSION__"', f'"{site.version}"')
    assert worker != source
    assert page_config(site.out)["serviceWorker"] == "sw.js"


def test_a_site_may_be_built_without_the_service_worker(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "source", shutil.ignore_patterns("*.wasm", "*.br", "*.gz"))
    build = build_site(tmp_path / "out", source=source, gzip_level=0, service_worker=False)
    assert "serviceWorker" not in page_config(build.out)


def test_a_service_worker_without_its_version_stops_the_build(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "source", shutil.ignore_patterns("*.wasm", "*.br", "*.gz"))
    worker = source / "static" / "sw.js"
    worker.write_text(worker.read_text().replace('"__VERSION__"', '"1"'))
    with pytest.raises(BuildError, match=r"sw\.js must hold"):
        build_site(tmp_path / "out", source=source, gzip_level=0)


def test_the_one_config_file_carries_the_back_end_and_the_allowed_hosts(site: Build) -> None:
    config = page_config(site.out)
    assert config["endpoint"] == "https://chat-api.example.org/api/chat"
    assert config["embedHostOrigins"] == ["https://www.example.org"]
    assert config["transport"] == json.loads(_source_config())["transport"]


def test_twins_hold_the_same_bytes_and_exist_only_where_they_pay(site: Build) -> None:
    for suffix, decompress in TWINS.items():
        twins = list(site.out.rglob(f"*{suffix}"))
        names = {twin.name for twin in twins}
        for name in ("pyodide.asm.wasm", "pyodide.asm.mjs", "python_stdlib.zip", "main.py"):
            assert name + suffix in names
        assert "icon.svg" + suffix not in names, "too small to pay"
        wheels = list((site.out / "v").rglob("*.whl"))
        assert len(wheels) >= 4
        assert [wheel.name for wheel in wheels if wheel.name + suffix not in names] == []
        for twin in twins:
            assert decompress(twin.read_bytes()) == twin.with_suffix("").read_bytes()
            assert len(twin.read_bytes()) <= 0.9 * twin.with_suffix("").stat().st_size


def test_zips_are_stored_so_that_the_transfer_compresses_them_whole(site: Build) -> None:
    archives = [*site.out.rglob("*.whl"), *site.out.rglob("*.zip")]
    assert len(archives) >= 2
    for archive in archives:
        with zipfile.ZipFile(archive) as opened:
            assert {member.compress_type for member in opened.infolist()} == {zipfile.ZIP_STORED}


def test_the_preview_sends_a_wheel_as_its_brotli_twin_with_the_hosts_headers(
    site: Build,
) -> None:
    [wheel] = (site.out / "v").rglob("pygments-*.whl")
    with preview(site.out, "/docs/chat/", content_security_policy()) as url:
        name = wheel.relative_to(site.out).as_posix()
        response = httpx.get(url + name, headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "br"
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) < 0.3 * wheel.stat().st_size
    assert response.content == wheel.read_bytes(), "decoded by httpx"


def test_make_dist_ships_the_streamchat_wheel_beside_the_site(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "dist"), "--gzip-level", "0"]) == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheel = tmp_path / "dist" / "wheels" / f"streamchat-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as opened:
        names = set(opened.namelist())
    assert {"streamchat/__init__.py", "streamchat/client.py", "streamchat/py.typed"} <= names
    assert (tmp_path / "dist" / "index.html").is_file(), "the site is there too"


def test_the_version_is_the_content(site: Build, tmp_path: Path) -> None:
    again = build_site(tmp_path / "again", gzip_level=0)
    assert again.version == site.version, "the same files, the same version"
    source = _source_copy(tmp_path / "source")
    (source / "static" / "style.css").write_text("body { color: teal; }\n")
    changed = build_site(tmp_path / "changed", source=source, gzip_level=0)
    assert changed.version != site.version


def test_a_missing_file_stops_the_build(tmp_path: Path) -> None:
    source = _mkdir(tmp_path / "source")
    html = (ROOT / "index.html").read_text().replace("static/style.css", "static/gone.css")
    (source / "index.html").write_text(html)
    shutil.copy2(ROOT / "pyscript.toml", source / "pyscript.toml")
    shutil.copytree(ROOT / "app", source / "app")
    shutil.copytree(ROOT / "streamchat", source / "streamchat")
    shutil.copytree(ROOT / "static", source / "static", ignore=shutil.ignore_patterns("*.wasm"))
    with pytest.raises(BuildError, match=r"static/gone\.css"):
        build_site(tmp_path / "out", source=source, gzip_level=0)


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://www.example.org", "https://www.example.org"),
        ("https://WWW.example.org/", "https://www.example.org"),
        ("http://localhost:8080", "http://localhost:8080"),
    ],
)
def test_embed_origins_are_exact(text: str, origin: str) -> None:
    assert exact_origin(text) == origin


@pytest.mark.parametrize(
    "text", ["*", "https://*.example.org", "https://example.org/docs", "example.org", "null"]
)
def test_anything_but_an_exact_origin_is_refused(text: str) -> None:
    with pytest.raises(BuildError):
        exact_origin(text)


@pytest.mark.parametrize(
    ("name", "media_type", "cache"),
    [
        ("index.html", "text/html; charset=utf-8", "no-cache"),
        ("embed.js", "text/javascript; charset=utf-8", "no-cache"),
        ("sw.js", "text/javascript; charset=utf-8", "no-cache"),
        ("v/abc/static/vendor/pyscript/core.js", "text/javascript; charset=utf-8", "immutable"),
        ("v/abc/static/vendor/pyodide/pyodide.mjs", "text/javascript; charset=utf-8", "immutable"),
        ("v/abc/static/vendor/pyodide/pyodide.asm.wasm", "application/wasm", "immutable"),
        ("v/abc/pyscript.toml", "application/toml", "immutable"),
        (
            "v/abc/static/vendor/wheels/markdown-3.11.3-py3-none-any.whl",
            "application/zip",
            "immutable",
        ),
    ],
)
def test_headers_name_the_type_and_cache_only_versioned_files(
    name: str, media_type: str, cache: str
) -> None:
    headers = response_headers(name, "default-src 'none'")
    assert headers["Content-Type"] == media_type
    assert cache in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert ("Content-Security-Policy" in headers) == name.endswith(".html")


def test_the_policy_allows_images_only_from_the_pages_image_origins() -> None:
    policy = content_security_policy([], [], ["https://images.example.org"])
    assert "img-src 'self' https://images.example.org;" in policy
    assert "img-src 'self';" in content_security_policy()


def test_the_documented_policy_is_the_one_the_tests_use() -> None:
    hosting = (ROOT / "docs" / "hosting.md").read_text(encoding="utf-8")
    assert content_security_policy(["https://chat-api.example.org"]) in hosting
    embedded = content_security_policy(
        ["https://chat-api.example.org"], ["https://www.example.org"]
    )
    assert embedded in hosting


def _source_config() -> str:
    html = (ROOT / "index.html").read_text(encoding="utf-8")
    match = re.search(r'id="chat-config">(.*?)</script>', html, re.S)
    assert match is not None
    return match.group(1)


def _source_copy(source: Path, ignore: Callable[..., Any] | None = None) -> Path:
    """A copy of the tree's page, to change before building it."""
    _mkdir(source)
    for name in ("index.html", "pyscript.toml"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "app", source / "app")
    shutil.copytree(ROOT / "streamchat", source / "streamchat")
    shutil.copytree(ROOT / "static", source / "static", ignore=ignore)
    return source


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
