"""The settings two or more functions read, with their defaults, read once from the
environment; and ``read``, the loader each function also uses for the settings only it reads
(grayscale's in ``functions/grayscale/main.py``, classify's in ``classify_settings.py``,
events' in ``functions/events/main.py``).

Function code holds component *names* only (never hosts, ports or credentials); the dapr SDK
finds the sidecar itself from ``DAPR_HTTP_PORT`` / ``DAPR_GRPC_PORT``. Each value is cast
explicitly (a bool default must not turn "false" into True). docs/functions.md has the same
table for operators.

    name                       default                    unit / meaning (read by)
    STATE_STORE                statestore                 state store component (rate limit)
    EVENTS_PUBSUB              events-pubsub              pub/sub component events go to
    EVENTS_TOPIC               events                     topic events go to
    EVENTS_APP_ID              events-service             app id that records events when
                                                          EVENTS_PUBSUB is not declared
    RATE_LIMIT_REQUESTS        120                        requests per client per window
    RATE_LIMIT_WINDOW_SECONDS  60                         fixed window length, seconds
    STATE_TIMEOUT_SECONDS      0.5                        one state store call (rate limit)
    SIDECAR_WAIT_SECONDS       0.5                        wait for a sidecar that is starting
    TRUST_PROXY                false                      honour X-Forwarded-For
    CORS_ALLOWED_ORIGINS       *                          comma-separated origins, or *
    MAX_BODY_BYTES             10485760                   request body cap (10 MiB)
    MAX_IMAGE_PIXELS           50000000                   decoded width*height cap
    EVENT_TIMEOUT_SECONDS      0.5                        one publish or create_event call
    EVENT_QUEUE_SIZE           10000                      events waiting to be sent
    BINDING_TIMEOUT_SECONDS    2                          one output-binding call (images,
                                                          events-db)
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = ["REPO_ROOT", "Parser", "Settings", "get", "integer_between", "load", "read"]

REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})

#: Reads one variable: (its name, its raw value) -> the value, or ValueError naming it.
Parser = Callable[[str, str], Any]


class _Dataclass(Protocol):
    """Any dataclass (what ``dataclasses.fields`` and ``replace`` take)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


_SettingsT = TypeVar("_SettingsT", bound=_Dataclass)


@dataclass(frozen=True)
class Settings:
    """The shared configuration; see the module docstring for units and meaning."""

    state_store: str = "statestore"
    events_pubsub: str = "events-pubsub"
    events_topic: str = "events"
    events_app_id: str = "events-service"
    rate_limit_requests: int = 120
    rate_limit_window_seconds: int = 60
    state_timeout_seconds: float = 0.5
    sidecar_wait_seconds: float = 0.5
    trust_proxy: bool = False
    cors_allowed_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    event_timeout_seconds: float = 0.5
    event_queue_size: int = 10_000
    binding_timeout_seconds: float = 2.0


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def _parse_positive(name: str, raw: str, kind: type) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {raw!r}")
    return value


def integer_between(low: int, high: int) -> Parser:
    """A parser for an integer ``low..high`` (zero allowed, unlike the default for ints)."""
    def parse(name: str, raw: str) -> int:
        if raw.strip() not in {str(value) for value in range(low, high + 1)}:
            raise ValueError(f"{name} must be an integer {low}..{high}, got {raw!r}")
        return int(raw)
    return parse


def _cast(name: str, raw: str, default: object) -> object:
    """``raw`` read as the type of ``default``; ValueError naming the variable otherwise."""
    if isinstance(default, bool):
        return _parse_bool(name, raw)
    if isinstance(default, (int, float)):
        return _parse_positive(name, raw, type(default))
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(default, Path):
        return Path(raw).expanduser()
    return raw


def read(cls: type[_SettingsT], environ: Mapping[str, str] | None = None,
         parsers: Mapping[str, Parser] | None = None) -> _SettingsT:
    """An instance of the settings dataclass ``cls`` from ``environ`` (default ``os.environ``).

    Each field is read from the variable of its name in upper case; unset or empty keeps the
    field's default. A value is cast to the default's type (bools from true/false/1/0/yes/no/
    on/off, numbers greater than 0, tuples from comma-separated parts, paths with ``~``
    expanded), or by ``parsers[field name]`` when given.
    """
    environ = os.environ if environ is None else environ
    parsers = parsers or {}
    defaults = cls()
    values: dict[str, Any] = {}
    for field in dataclasses.fields(defaults):
        env_name = field.name.upper()
        raw = environ.get(env_name)
        if raw is None or raw.strip() == "":
            continue
        parser = parsers.get(field.name)
        values[field.name] = (parser(env_name, raw) if parser is not None
                              else _cast(env_name, raw, getattr(defaults, field.name)))
    return dataclasses.replace(defaults, **values)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """The shared settings from ``environ`` (default ``os.environ``)."""
    return read(Settings, environ)


@functools.cache
def get() -> Settings:
    """The process-wide shared settings, read on first use (tests call ``get.cache_clear()``)."""
    return load()
