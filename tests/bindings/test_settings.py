"""The shared settings: defaults, casts, and bad values refused with the variable named."""

from __future__ import annotations

import pytest

from bindings import settings


def test_settings_defaults_and_casts():
    defaults = settings.load({})
    assert (defaults.state_store, defaults.events_app_id, defaults.rate_limit_requests,
            defaults.trust_proxy, defaults.cors_allowed_origins) == (
        "statestore", "events-service", 120, False, ("*",))
    custom = settings.load({"TRUST_PROXY": "false", "RATE_LIMIT_REQUESTS": "7",
                            "EVENT_TIMEOUT_SECONDS": "0.25",
                            "CORS_ALLOWED_ORIGINS": "http://x, http://y", "STATE_STORE": ""})
    assert (custom.trust_proxy, custom.rate_limit_requests, custom.event_timeout_seconds,
            custom.cors_allowed_origins, custom.state_store) == (
        False, 7, 0.25, ("http://x", "http://y"), "statestore")
    assert settings.load({"TRUST_PROXY": "TRUE"}).trust_proxy is True


@pytest.mark.parametrize("name, value", [("TRUST_PROXY", "maybe"), ("RATE_LIMIT_REQUESTS", "0"),
                                         ("MAX_BODY_BYTES", "ten")])
def test_settings_refuse_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        settings.load({name: value})
