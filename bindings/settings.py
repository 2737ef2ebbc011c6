"""Every setting the three functions read, with its default, read once from the environment.

Function code holds component *names* only (never hosts, ports or credentials); the dapr SDK
finds the sidecar itself from ``DAPR_HTTP_PORT`` / ``DAPR_GRPC_PORT``. Each value is cast
explicitly (a bool default must not turn "false" into True). docs/functions.md has the same
table for operators.

    name                       default                    unit / meaning
    STATE_STORE                statestore                 state store component (rate limit)
    EVENTS_APP_ID              events-service             app id that records events
    EVENTS_BINDING             events-db                  MySQL output binding (events table)
    IMAGES_BINDING             images                     optional output binding for results
    RATE_LIMIT_REQUESTS        120                        requests per client per window
    RATE_LIMIT_WINDOW_SECONDS  60                         fixed window length, seconds
    STATE_TIMEOUT_SECONDS      0.5                        one state store call (rate limit)
    SIDECAR_WAIT_SECONDS       0.5                        wait for a sidecar that is starting
    TRUST_PROXY                false                      honour X-Forwarded-For
    CORS_ALLOWED_ORIGINS       *                          comma-separated origins, or *
    MAX_BODY_BYTES             10485760                   request body cap (10 MiB)
    MAX_IMAGE_PIXELS           50000000                   decoded width*height cap
    EVENT_TIMEOUT_SECONDS      0.5                        one create_event call
    EVENT_QUEUE_SIZE           256                        events waiting to be sent
    BINDING_TIMEOUT_SECONDS    2                          one output-binding call
    CLASSIFY_MODEL_PATH        (seed data, else cache)    .tflite file
    CLASSIFY_LABELS_PATH       (seed data, else cache)    labels, one per line
    CLASSIFY_THREADS           1                          interpreter threads per request thread
    SEED_DATA_DIR              <repo>/../shared/seed-data where seed models/labels live
    MODEL_CACHE_DIR            ~/.cache/dapr-functions    where a fetched model is kept
    MODEL_URL / MODEL_SHA256   google-coral mobilenet v2  model source when none is local
    LABELS_URL / LABELS_SHA256 google-coral labels        labels source when none are local
    PNG_COMPRESS_LEVEL         1                          zlib level 0-9 of PNG answers
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO_ROOT", "Settings", "get", "load"]

REPO_ROOT = Path(__file__).resolve().parent.parent

_MODEL_URL = ("https://github.com/google-coral/edgetpu/raw/master/test_data/"
              "mobilenet_v2_1.0_224_quant.tflite")
_MODEL_SHA256 = "51e8256b05665529f8836fe6e8eeed41b2fc75a900d8eebda338d70a6726f8da"
_LABELS_URL = ("https://github.com/google-coral/test_data/raw/"
               "104342d2d3480b3e66203073dac24f4e2dbb4c41/imagenet_labels.txt")
_LABELS_SHA256 = "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """The functions' configuration; see the module docstring for units and meaning."""

    state_store: str = "statestore"
    events_app_id: str = "events-service"
    events_binding: str = "events-db"
    images_binding: str = "images"
    rate_limit_requests: int = 120
    rate_limit_window_seconds: int = 60
    state_timeout_seconds: float = 0.5
    sidecar_wait_seconds: float = 0.5
    trust_proxy: bool = False
    cors_allowed_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    event_timeout_seconds: float = 0.5
    event_queue_size: int = 256
    binding_timeout_seconds: float = 2.0
    classify_model_path: str = ""
    classify_labels_path: str = ""
    classify_threads: int = 1
    seed_data_dir: Path = REPO_ROOT.parent / "shared" / "seed-data"
    model_cache_dir: Path = Path("~/.cache/dapr-functions").expanduser()
    model_url: str = _MODEL_URL
    model_sha256: str = _MODEL_SHA256
    labels_url: str = _LABELS_URL
    labels_sha256: str = _LABELS_SHA256
    png_compress_level: int = 1


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


def _cast(name: str, raw: str, default: object) -> object:
    """``raw`` read as the type of ``default``; ValueError naming the variable otherwise."""
    if isinstance(default, bool):
        return _parse_bool(name, raw)
    if name == "PNG_COMPRESS_LEVEL":
        if raw.strip() not in {str(level) for level in range(10)}:
            raise ValueError(f"PNG_COMPRESS_LEVEL must be an integer 0..9, got {raw!r}")
        return int(raw)
    if isinstance(default, (int, float)):
        return _parse_positive(name, raw, type(default))
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(default, Path):
        return Path(raw).expanduser()
    return raw


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``); unset or empty keeps the default."""
    environ = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, object] = {}
    for field_name in Settings.__dataclass_fields__:
        env_name = field_name.upper()
        raw = environ.get(env_name)
        if raw is not None and raw.strip() != "":
            values[field_name] = _cast(env_name, raw, getattr(defaults, field_name))
    return Settings(**values)


@functools.cache
def get() -> Settings:
    """The process-wide settings, read on first use (tests call ``get.cache_clear()``)."""
    return load()
