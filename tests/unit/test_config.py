"""The page's configuration: its JSON defaults and the ?endpoint= / ?transport= overrides."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from app.config import Config, ConfigError, load_config

PAGE = (
    '{"endpoint": "api/chat", "transport": "eventsource", "stallTimeout": 30,'
    ' "endpoints": ["https://api.example.org/chat"]}'
)


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


@pytest.mark.parametrize(
    "endpoint",
    [
        "api/chat",
        "/api/chat",
        "./api/chat",
        "../chat/api/chat",
        "api/chat?fault=drop:3",
        "/api/chat?fault=status:503,retry-after:2",
        "api/chat#x:y",
        "https://api.example.org/chat",  # listed
    ],
)
def test_an_endpoint_on_the_pages_origin_or_listed_is_allowed(endpoint: str) -> None:
    assert load_config(PAGE, "?" + urlencode({"endpoint": endpoint})).endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example/chat",
        "https://api.example.org/chat/other",  # listed only as exactly that URL
        "https://api.example.org.evil.example/chat",
        "http://api.example.org/chat",
        "//evil.example/chat",
        "/\\evil.example/chat",
        "\\\\evil.example/chat",
        "/\t/evil.example/chat",
        "data:text/event-stream,data: {}",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "blob:https://api.example.org/1234",
        "file:///etc/passwd",
        "ws://api.example.org/chat",
    ],
)
def test_any_other_endpoint_is_refused_with_a_clear_message(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="is not one this page may use") as refused:
        load_config(PAGE, "?" + urlencode({"endpoint": endpoint}))
    assert '"endpoints"' in str(refused.value)


def test_the_pages_own_endpoint_may_be_absolute_and_needs_no_listing() -> None:
    page = '{"endpoint": "https://chat-api.example.org/api/chat"}'
    assert load_config(page, "").endpoint == "https://chat-api.example.org/api/chat"
    selected = load_config(page, "?endpoint=https%3A%2F%2Fchat-api.example.org%2Fapi%2Fchat")
    assert selected.endpoint == "https://chat-api.example.org/api/chat"
    with pytest.raises(ConfigError, match="not one this page may use"):
        load_config(page, "?endpoint=https%3A%2F%2Fother.example.org%2Fapi%2Fchat")


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ('{"endpoints": "https://api.example.org/chat"}', '"endpoints" must be a list'),
        ('{"endpoints": [1]}', '"endpoints" must be a list'),
        ('{"endpoints": ["javascript:alert(1)"]}', "not an http"),
    ],
)
def test_a_bad_endpoint_list_says_why(page: str, message: str) -> None:
    query = "?endpoint=" + ("javascript%3Aalert(1)" if "javascript" in page else "api/chat")
    with pytest.raises(ConfigError, match=message):
        load_config(page, query)


def test_a_listed_endpoint_may_carry_a_query_of_its_own() -> None:
    page = '{"endpoint": "api/chat", "endpoints": ["https://chat.example.org/api/chat"]}'
    config = load_config(page, "?endpoint=https://chat.example.org/api/chat?fault=stall:3")
    assert config.endpoint == "https://chat.example.org/api/chat?fault=stall:3"
    with pytest.raises(ConfigError):
        load_config(page, "?endpoint=https://chat.example.org/api/chatty")


def test_the_stall_timeout_can_be_shortened_for_tests() -> None:
    assert load_config("{}", "?stallTimeout=3").stall_timeout == 3.0
    with pytest.raises(ConfigError):
        load_config("{}", "?stallTimeout=soon")


def test_a_token_provider_on_the_pages_own_origin_is_used() -> None:
    assert load_config('{"tokenUrl": " /auth/token "}', "").token_url == "/auth/token"
    assert load_config('{"tokenUrl": "auth/token?for=chat"}', "").token_url == "auth/token?for=chat"
    assert load_config("{}", "").token_url == ""


@pytest.mark.parametrize(
    "token_url",
    [
        "https://login.example.org/token",
        "//login.example.org/token",
        "/\\\\login.example.org/token",
        "javascript:alert(1)",
        "data:application/json,{}",
        "42",
    ],
)
def test_a_token_provider_elsewhere_is_refused_with_a_clear_message(token_url: str) -> None:
    page = '{"tokenUrl": %s}' % (token_url if token_url == "42" else f'"{token_url}"')
    with pytest.raises(ConfigError, match=r'"tokenUrl" must be a path on this page\'s own site'):
        load_config(page, "")


def test_the_query_cannot_name_a_token_provider() -> None:
    assert load_config("{}", "?tokenUrl=/evil").token_url == ""


def test_image_origins_are_read_and_normalised() -> None:
    config = load_config(
        '{"imageOrigins": ["https://Images.Example.com/", "http://127.0.0.1:8000"]}', ""
    )
    assert config.image_origins == ("https://images.example.com", "http://127.0.0.1:8000")
    assert load_config("{}", "").image_origins == ()


@pytest.mark.parametrize(
    "origins",
    ['"https://x.example"', '["javascript:alert(1)"]', '["https://x.example/path"]', "[1]"],
)
def test_image_origins_must_be_a_list_of_origins(origins: str) -> None:
    with pytest.raises(ConfigError, match="imageOrigins"):
        load_config(f'{{"imageOrigins": {origins}}}', "")
