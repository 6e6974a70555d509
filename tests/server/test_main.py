"""server/__main__.py: the command line, and one real start of `python -m server`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.__main__ import parse_args, settings_from
from server.settings import REPO_ROOT


def test_defaults() -> None:
    settings = settings_from(parse_args([]), environ={})
    assert (settings.root, settings.cors_origins, settings.pace) == (REPO_ROOT, (), 0.03)
    assert settings.upstream_url is None
    args = parse_args([])
    assert (args.host, args.port, args.faults) == ("127.0.0.1", 8000, False)


def test_all_flags(tmp_path: Path) -> None:
    args = parse_args(
        [
            "--host", "0.0.0.0", "--port", "9000", "--root", str(tmp_path),
            "--cors-origin", "https://a.example", "https://b.example",
            "--cors-origin", "https://c.example",
            "--pace", "0", "--faults", "--max-question-chars", "30000",
            "--upstream", "https://api.example/v1", "--model", "m", "--api-key-env", "MY_KEY",
        ]
    )  # fmt: skip
    settings = settings_from(args, environ={"MY_KEY": "sk-1"})
    assert settings.root == tmp_path.resolve()
    assert settings.cors_origins == ("https://a.example", "https://b.example", "https://c.example")
    assert (settings.pace, args.faults) == (0.0, True)
    assert settings.max_question_chars == 30000
    assert (settings.upstream_url, settings.model, settings.api_key) == (
        "https://api.example/v1",
        "m",
        "sk-1",
    )
    assert "sk-1" not in repr(settings)


def test_store_flags() -> None:
    settings = settings_from(parse_args([]), environ={})
    assert (settings.store, settings.lease_seconds) == (None, 5.0)  # memory: one process
    args = parse_args(
        ["--store", "redis://10.0.0.5:6379/2", "--lease-seconds", "2.5", "--flush-ms", "50"]
    )
    settings = settings_from(args, environ={})
    assert (settings.store, settings.lease_seconds) == ("redis://10.0.0.5:6379/2", 2.5)
    assert settings.flush_interval == 0.05


def test_model_and_conversation_defaults() -> None:
    settings = settings_from(parse_args([]), environ={})
    assert (settings.system_prompt, settings.temperature, settings.max_tokens) == (None, None, None)
    assert (settings.history_turns, settings.history_chars) == (20, 24_000)
    assert (settings.history_ttl, settings.ping_interval) == (86_400.0, 5.0)


def test_model_and_conversation_flags() -> None:
    args = parse_args(
        [
            "--system-prompt", "Be brief.", "--temperature", "0", "--max-tokens", "512",
            "--history-turns", "0", "--history-chars", "1000", "--history-ttl", "3600",
            "--ping-interval", "0.5",
        ]
    )  # fmt: skip
    settings = settings_from(args, environ={})
    assert (settings.system_prompt, settings.temperature, settings.max_tokens) == (
        "Be brief.",
        0.0,
        512,
    )
    assert (settings.history_turns, settings.history_chars) == (0, 1000)
    assert (settings.history_ttl, settings.ping_interval) == (3600.0, 0.5)


def test_the_system_prompt_can_come_from_a_utf8_file(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Réponds en français.\nBe brief.\n", encoding="utf-8")
    settings = settings_from(parse_args(["--system-prompt-file", str(prompt)]), environ={})
    assert settings.system_prompt == "Réponds en français.\nBe brief."


def test_a_blank_system_prompt_is_none(tmp_path: Path) -> None:
    prompt = tmp_path / "empty.txt"
    prompt.write_text("\n", encoding="utf-8")
    assert parse_args(["--system-prompt-file", str(prompt)]).system_prompt is None
    assert parse_args(["--system-prompt", "  "]).system_prompt is None


def test_an_unreadable_system_prompt_file_exits(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    for path in (tmp_path / "missing.txt", tmp_path / "latin1.txt"):
        with pytest.raises(SystemExit):
            parse_args(["--system-prompt-file", str(path)])


@pytest.mark.parametrize(
    "argv",
    [
        ["--upstream", "https://x/v1"],
        ["--system-prompt", "a", "--system-prompt-file", "b"],
        ["--temperature", "-0.1"],
        ["--temperature", "2.5"],
        ["--temperature", "nan"],
        ["--max-tokens", "0"],
        ["--history-turns", "-1"],
        ["--history-chars", "-1"],
        ["--history-ttl", "0"],
        ["--ping-interval", "0.1"],
        ["--ping-interval", "61"],
        ["--pace", "-1"],
        ["--max-question-chars", "0"],
        ["--store", "10.0.0.5:6379"],
        ["--lease-seconds", "0.1"],
        ["--flush-ms", "-1"],
    ],
)
def test_bad_flags_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_python_m_server_prints_its_url_and_serves(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    with subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--root", str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("Serving on http://127.0.0.1:")
            url = line.removeprefix("Serving on ").strip()
            response = get_when_listening(url)
            assert response.status_code == 200
            assert response.text == "<!doctype html>"
            assert httpx.get(f"{url}healthz").json()["status"] == "ok"
        finally:
            process.terminate()
            process.wait(timeout=5)


def get_when_listening(url: str) -> httpx.Response:
    # The socket is bound before the line is printed, but uvicorn listens just after.
    for _ in range(100):
        try:
            return httpx.get(url, timeout=1)
        except httpx.ConnectError:
            time.sleep(0.02)
    raise AssertionError(f"{url} never answered")
