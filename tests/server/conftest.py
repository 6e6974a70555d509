"""Fixtures for the server tests: asyncio under anyio, a fake clock and sleep, app factories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.faults import FaultyChat
from server.settings import Settings
from tests.server.helpers import FakeClock, RecordingSleep


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


AppFactory = Callable[..., Starlette]


@pytest.fixture
async def make_app(
    clock: FakeClock, sleep: RecordingSleep, tmp_path: Path
) -> AsyncIterator[AppFactory]:
    """Builds apps with test settings (no pace, fake time); closes their answers afterwards.
    `faults=True` serves the `fault` parameter, as `--faults` does."""
    apps: list[Starlette] = []

    def factory(*, faults: bool = False, **overrides: Any) -> Starlette:
        values: dict[str, Any] = {"root": tmp_path, "pace": 0.0, "clock": clock, "sleep": sleep}
        values.update(overrides)
        app = create_app(Settings(**values), FaultyChat if faults else None)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.state.answers.close_all()


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
