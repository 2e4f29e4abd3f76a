"""The session hub connector's URL is checked where it is given: a bad one is a ConfigError
naming it at ``connector(...)``, not a connect that fails (or waits) later."""

from __future__ import annotations

import pytest
import trio
from sessionkit_mesolive import adapter

from sessionkit import ConfigError

BAD = [
    ("http://127.0.0.1:70000/hubs/session/v1", "the port must be a number in 1-65535"),
    ("http://127.0.0.1:0/hubs/session/v1", "the port must be a number in 1-65535"),
    ("http://127.0.0.1:abc/hubs/session/v1", "the port must be a number in 1-65535"),
    ("http://127.0.0.1:/hubs/session/v1", "the port must be a number in 1-65535"),
    ("ftp://127.0.0.1:5000/hubs/session/v1", "must look like http://HOST:PORT"),
    ("http:///hubs/session/v1", "must look like http://HOST:PORT"),
    ("127.0.0.1:5000/hubs/session/v1", "must look like http://HOST:PORT"),
]


@pytest.mark.parametrize("url, words", BAD, ids=[u for u, _ in BAD])
def test_a_bad_url_is_refused_by_the_connector_naming_it(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        adapter.connector(url)
    assert repr(url) in str(info.value) and words in str(info.value)


def test_a_non_string_url_names_its_type() -> None:
    with pytest.raises(ConfigError, match="url must be a string .* got int 5000"):
        adapter.connector(5000)  # type: ignore[arg-type]


def test_good_urls_are_taken_and_via_routes_through_another_address() -> None:
    for url in ("http://127.0.0.1:5000/hubs/session/v1", "https://exchange.example/hubs/x",
                "http://[::1]:65535/hubs/session/v1"):
        assert adapter.connector(url).url == url

    async def main() -> None:
        async with adapter.serve() as ep:
            host, port = ep.tcp_address
            assert host == "127.0.0.1" and port > 0
            assert ep.connector(via=("127.0.0.1", 4242)).url == \
                "http://127.0.0.1:4242/hubs/session/v1"
            assert ep.connector(via=("::1", 4242)).url == "http://[::1]:4242/hubs/session/v1"

    trio.run(main)
