"""The page's configuration: its JSON defaults and the ?endpoint= / ?transport= overrides."""

from __future__ import annotations

import pytest

from app.config import Config, ConfigError, load_config

PAGE = '{"endpoint": "api/chat", "transport": "eventsource", "stallTimeout": 30}'


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", Config("api/chat", "eventsource", 30.0)),
        ("?transport=fetch", Config("api/chat", "fetch", 30.0)),
        (
            "?endpoint=https%3A%2F%2Fapi.example.org%2Fchat",
            Config("https://api.example.org/chat", "eventsource", 30.0),
        ),
        (
            "?endpoint=/api/chat%3Ffault%3Ddrop%3A3&transport=fetch",
            Config("/api/chat?fault=drop:3", "fetch", 30.0),
        ),
        ("endpoint=a&endpoint=b", Config("b", "eventsource", 30.0)),
    ],
)
def test_query_parameters_override_the_page_configuration(query: str, expected: Config) -> None:
    assert load_config(PAGE, query) == expected


def test_defaults_apply_when_the_page_configures_nothing() -> None:
    assert load_config("", "") == Config()


@pytest.mark.parametrize(
    ("page", "query", "message"),
    [
        ("{not json", "", "not valid JSON"),
        ("[1]", "", "JSON object"),
        (PAGE, "?transport=websocket", "unknown transport 'websocket'"),
        (PAGE, "?endpoint=%20", "no endpoint"),
        ('{"stallTimeout": 0}', "", "stallTimeout"),
    ],
)
def test_an_unusable_configuration_says_why(page: str, query: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(page, query)


def test_benchmark_switches() -> None:
    config = load_config(PAGE, "?render=naive&measure=1")
    assert (config.render, config.measure) == ("naive", True)
    assert (Config().render, Config().measure) == ("incremental", False)
    with pytest.raises(ConfigError, match="unknown render mode"):
        load_config(PAGE, "?render=fast")
