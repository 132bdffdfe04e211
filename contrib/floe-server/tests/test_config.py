"""Server settings: every bad value is a ConfigError naming the setting."""

from __future__ import annotations

import pytest
from floe_server import ServerConfig

import floe


def test_the_defaults_listen_on_loopback_with_cors_closed():
    config = ServerConfig()
    assert (config.host, config.port, config.workers, config.cors_origins) == (
        "127.0.0.1",
        8000,
        0,
        (),
    )
    assert config.loopback
    assert not config.allow_uploads
    assert not ServerConfig(host="0.0.0.0").loopback
    assert ServerConfig(host="::1").loopback


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 70000),
        ("port", -1),
        ("port", True),
        ("host", ""),
        ("host", "a b"),
        ("workers", -1),
        ("workers", 2.5),
        ("sync_timeout", 0),
        ("sync_timeout", float("nan")),
        ("max_body_bytes", 0),
        ("cors_origins", ["*"]),
        ("cors_origins", ["example.com"]),
        ("allow_uploads", "yes"),
    ],
)
def test_a_bad_setting_is_a_config_error(field: str, value: object):
    with pytest.raises(floe.ConfigError) as raised:
        ServerConfig(**{field: value})
    assert raised.value.context == {"setting": field}
