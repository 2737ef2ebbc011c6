"""``state.redis`` runs its scripts by SHA: a Redis that lost them (restart, SCRIPT FLUSH)
gets them loaded again, and a single read is one script (fields and PTTL together)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from sidecar.components.state.base import SetRequest
from sidecar.components.state.redis import RedisStateStore
from tests.conftest import REDIS_URL

_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
_UNKNOWN_SHA = "0" * 40  # a script Redis never saw: NOSCRIPT, as after a flush


@pytest.fixture
def store(redis_client: redis.Redis) -> Iterator[RedisStateStore]:
    backend = RedisStateStore("scripts", {"redisHost": _REDIS_HOST})
    yield backend
    backend.close()


@pytest.fixture
def key(redis_client: redis.Redis) -> Iterator[str]:
    name = f"test-scripts||{uuid.uuid4().hex}"
    yield name
    redis_client.delete(name)


def test_scripts_unknown_to_redis_are_loaded_again(store: RedisStateStore, key: str) -> None:
    for script in (store._set, store._get, store._delete):
        script.sha = _UNKNOWN_SHA
    store.set(SetRequest(key, b"one"))
    found = store.get(key)
    assert found is not None and (found.data, found.etag) == (b"one", "1")
    assert _UNKNOWN_SHA not in (store._set.sha, store._get.sha)


def test_get_reads_data_version_and_ttl(store: RedisStateStore, key: str,
                                        redis_client: redis.Redis) -> None:
    assert store.get(key) is None
    store.set(SetRequest(key, b"v", metadata={"ttlInSeconds": "100"}))
    found = store.get(key)
    assert found is not None and found.data == b"v" and found.etag == "1"
    assert "ttlExpireTime" in found.metadata
    redis_client.hdel(key, "version")  # written by something that keeps no version
    found = store.get(key)
    assert found is not None and found.etag is None
    redis_client.hdel(key, "data")
    assert store.get(key) is None
