"""pubsub.redis against the real Redis (and a private redis-server for the outage test)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from sidecar.components.pubsub.base import PublishRequest
from sidecar.components.pubsub.redis import RedisPubSub
from sidecar.errors import ComponentConfigError, PubSubPublishError
from sidecar.testing import free_port
from tests.conftest import REDIS_URL
from tests.sidecar.helpers import unique_id, wait_until

from .helpers import Collector, read_lines, start_crash_child

REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
#: Short enough that every redelivery test runs in about a second.
FAST = {"processingTimeout": "300ms", "redeliverInterval": "100ms"}

Factory = Callable[..., RedisPubSub]


@pytest.fixture
def topic(redis_client: redis.Redis) -> Iterator[str]:
    name = unique_id("ps-redis")
    yield name
    redis_client.delete(name)


@pytest.fixture
def make_pubsub() -> Iterator[Factory]:
    made: list[RedisPubSub] = []

    def make(**metadata: str) -> RedisPubSub:
        component = RedisPubSub("pubsub", {"redisHost": REDIS_HOST, **metadata})
        made.append(component)
        return component

    yield make
    for component in made:
        component.close()


def pending(client: redis.Redis, topic: str, group: str) -> int:
    return int(client.xpending(topic, group)["pending"])


def entries(client: redis.Redis, topic: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return list(client.xrange(topic))  # type: ignore[arg-type]


def test_round_trip_carries_content_type_and_metadata(make_pubsub: Factory, topic: str) -> None:
    pubsub = make_pubsub(consumerID=unique_id("group"))
    got = Collector()
    pubsub.subscribe(topic, got, {})
    pubsub.publish(PublishRequest(topic, b'{"a": 1}', "application/json", {"k": "v<&>"}))
    [message] = got.wait_for(1)
    assert (message.topic, message.data, message.content_type) == (
        topic, b'{"a": 1}', "application/json")
    assert message.metadata == {"k": "v<&>"}


def test_stream_entry_has_daprd_layout(make_pubsub: Factory, topic: str,
                                       redis_client: redis.Redis) -> None:
    make_pubsub().publish(PublishRequest(topic, b"payload", metadata={"b": "2", "a": "1"}))
    [(_id, fields)] = entries(redis_client, topic)
    assert fields[b"data"] == b"payload"
    assert fields[b"metadata"] == b'{"a":"1","b":"2"}'  # Go's json.Marshal: sorted, compact


def test_reads_what_daprd_writes(make_pubsub: Factory, topic: str,
                                 redis_client: redis.Redis) -> None:
    pubsub = make_pubsub(consumerID=unique_id("group"))
    got = Collector()
    pubsub.subscribe(topic, got, {})
    redis_client.xadd(topic, {"data": b"from-daprd", "metadata": '{"x":"y"}'})
    redis_client.xadd(topic, {"data": b"no-metadata"})
    messages = got.wait_for(2)
    assert [(m.data, m.metadata, m.content_type) for m in messages] == [
        (b"from-daprd", {"x": "y"}, ""), (b"no-metadata", {}, "")]


def test_concurrency_delivers_in_parallel(make_pubsub: Factory, topic: str) -> None:
    pubsub = make_pubsub(consumerID=unique_id("group"), concurrency="3")
    barrier = threading.Barrier(3, timeout=5)
    got = Collector(fail=lambda message, attempt: barrier.wait() < 0)
    pubsub.subscribe(topic, got, {})
    for i in range(3):
        pubsub.publish(PublishRequest(topic, f"m{i}".encode()))
    assert len(got.wait_for(3, timeout=6)) == 3  # only possible if all three ran at once
    assert not barrier.broken


def test_single_worker_keeps_stream_order(make_pubsub: Factory, topic: str) -> None:
    pubsub = make_pubsub(consumerID=unique_id("group"), concurrency="1")
    got = Collector()
    pubsub.subscribe(topic, got, {})
    sent = [f"m{i:03}".encode() for i in range(50)]
    for data in sent:
        pubsub.publish(PublishRequest(topic, data))
    got.wait_for(50)
    assert got.data == sent


def test_handler_raising_is_redelivered_then_acked_once(
        make_pubsub: Factory, topic: str, redis_client: redis.Redis) -> None:
    group = unique_id("group")
    pubsub = make_pubsub(consumerID=group, **FAST)
    got = Collector(fail=lambda message, attempt: attempt < 3)
    pubsub.subscribe(topic, got, {})
    started = time.monotonic()
    pubsub.publish(PublishRequest(topic, b"flaky"))
    assert got.wait_for(1, timeout=5)[0].data == b"flaky"
    assert got.attempts[b"flaky"] == 3
    assert time.monotonic() - started >= 0.6  # two waits of processingTimeout
    assert wait_until(lambda: pending(redis_client, topic, group) == 0, timeout=3)


def test_handler_returning_is_acked_exactly_once(
        make_pubsub: Factory, topic: str, redis_client: redis.Redis) -> None:
    group = unique_id("group")
    pubsub = make_pubsub(consumerID=group, **FAST)
    got = Collector()
    pubsub.subscribe(topic, got, {})
    for i in range(10):
        pubsub.publish(PublishRequest(topic, f"m{i}".encode()))
    got.wait_for(10)
    assert wait_until(lambda: pending(redis_client, topic, group) == 0, timeout=3)
    time.sleep(0.8)  # longer than processingTimeout + redeliverInterval: nothing comes back
    assert sorted(got.attempts.values()) == [1] * 10 and len(got.data) == 10


def test_redelivery_off_when_processing_timeout_zero(
        make_pubsub: Factory, topic: str, redis_client: redis.Redis) -> None:
    group = unique_id("group")
    pubsub = make_pubsub(consumerID=group, processingTimeout="0", redeliverInterval="100ms")
    got = Collector(fail=lambda message, attempt: True)
    pubsub.subscribe(topic, got, {})
    pubsub.publish(PublishRequest(topic, b"once"))
    assert wait_until(lambda: got.attempts.get(b"once") == 1, timeout=5)
    time.sleep(0.5)
    assert got.attempts[b"once"] == 1 and pending(redis_client, topic, group) == 1


def test_max_len_approx_trims_the_stream(make_pubsub: Factory, topic: str,
                                         redis_client: redis.Redis) -> None:
    pubsub = make_pubsub(maxLenApprox="10")
    for i in range(300):
        pubsub.publish(PublishRequest(topic, f"m{i}".encode()))
    # MAXLEN ~ trims whole macro nodes (100 entries each by default), never below 10.
    assert 10 <= redis_client.xlen(topic) <= 200


def test_stream_ttl_trims_old_entries(make_pubsub: Factory, topic: str,
                                      redis_client: redis.Redis) -> None:
    redis_client.xadd(topic, {"data": b"old"}, id="1-0")  # 1970: far older than any TTL
    for i in range(150):
        redis_client.xadd(topic, {"data": f"old{i}".encode()}, id=f"2-{i}")
    make_pubsub(streamTTL="1h").publish(PublishRequest(topic, b"new"))
    kept = entries(redis_client, topic)
    assert len(kept) < 152 and kept[-1][1][b"data"] == b"new"


def test_crash_redelivery_loses_nothing(tmp_path: Path, make_pubsub: Factory, topic: str,
                                        redis_client: redis.Redis) -> None:
    """A subscriber process killed mid-batch: the next one with its consumerID gets the rest."""
    group, total = unique_id("group"), 60
    metadata = {"redisHost": REDIS_HOST, "consumerID": group, "concurrency": "4", **FAST}
    out = tmp_path / "child.txt"
    child = start_crash_child("sidecar.components.pubsub.redis:RedisPubSub", topic, out, 20,
                              json.dumps(metadata))
    publisher = make_pubsub()
    sent = [f"m{i:03}" for i in range(total)]
    for data in sent:
        publisher.publish(PublishRequest(topic, data.encode()))
    try:
        assert wait_until(lambda: len(read_lines(out)) >= 23, timeout=10)
        time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    child_seen = read_lines(out)
    still_pending = pending(redis_client, topic, group)
    assert still_pending > 0
    got = Collector()
    make_pubsub(consumerID=group, **FAST).subscribe(topic, got, {})
    assert wait_until(lambda: pending(redis_client, topic, group) == 0, timeout=10)
    after = [m.data.decode() for m in got.messages]
    acked_by_child = total - still_pending
    lost = set(sent) - set(child_seen) - set(after)
    duplicates = len(child_seen) + len(after) - total
    print(f"\nredis crash: sent={total} child handled={len(child_seen)} "
          f"(acked {acked_by_child}) redelivered={len(after)} lost={len(lost)} "
          f"duplicates={duplicates}")
    assert not lost
    assert len(after) == still_pending and len(set(after)) == len(after)
    assert duplicates == len(set(child_seen) & set(after)) <= 4  # the child's hung handlers


def test_outage_publish_fails_and_subscriber_survives(
        private_redis: Callable[[], subprocess.Popen[bytes]],
        caplog: pytest.LogCaptureFixture) -> None:
    port = private_redis.port  # type: ignore[attr-defined]
    server = private_redis()
    pubsub = RedisPubSub("pubsub", {"redisHost": f"127.0.0.1:{port}", "consumerID": "g",
                                    "dialTimeout": "500ms", **FAST})
    try:
        got = Collector()
        pubsub.subscribe("outage", got, {})
        pubsub.publish(PublishRequest("outage", b"before"))
        got.wait_for(1)
        server.terminate()
        server.wait()
        with caplog.at_level(logging.WARNING, logger="sidecar.components.pubsub.redis"):
            started = time.monotonic()
            with pytest.raises(PubSubPublishError) as err:
                pubsub.publish(PublishRequest("outage", b"lost"))
            assert time.monotonic() - started < 5
            assert err.value.code == "ERR_PUBSUB_PUBLISH_MESSAGE" and str(port) in err.value.message
            time.sleep(1.5)  # the loops fail over and over meanwhile
            private_redis()  # back, empty: the group is gone (NOGROUP) and is created again
            assert wait_until(lambda: _published(pubsub, b"after"), timeout=10)
            assert got.wait_for(2)[-1].data == b"after"
        streak = [r for r in caplog.records if "reading stream" in r.getMessage()
                  and r.levelno == logging.WARNING]
        assert len(streak) == 1, [r.getMessage() for r in streak]
    finally:
        pubsub.close()


def _published(pubsub: RedisPubSub, data: bytes) -> bool:
    try:
        pubsub.publish(PublishRequest("outage", data))
    except PubSubPublishError:
        return False
    return True


@pytest.mark.parametrize(("metadata", "field"), [
    ({"processingTimeout": "soon"}, "processingTimeout"),
    ({"redeliverInterval": "1 minute"}, "redeliverInterval"),
    ({"queueDepth": "-1"}, "queueDepth"),
    ({"concurrency": "many"}, "concurrency"),
    ({"maxLenApprox": "ten"}, "maxLenApprox"),
    ({"maxLenApprox": "10", "streamTTL": "1h"}, "streamTTL"),
    ({"streamTTL": "forever"}, "streamTTL"),
    ({"redisType": "ring"}, "redisType"),
    ({"redisHost": "127.0.0.1:port"}, "redisHost"),
    ({"redisPort": "6380"}, "redisPort"),
    ({"failover": "true"}, "sentinelMasterName"),
    ({"useEntraID": "true"}, "useEntraID"),
    ({"dialTimeout": "fast"}, "dialTimeout"),
])
def test_invalid_metadata_names_the_field(metadata: dict[str, str], field: str) -> None:
    with pytest.raises(ComponentConfigError) as err:
        RedisPubSub("pubsub", {"redisHost": REDIS_HOST, **metadata})
    assert field in err.value.message


def test_unreachable_redis_fails_at_start() -> None:
    with pytest.raises(ComponentConfigError, match="error connecting"):
        RedisPubSub("pubsub", {"redisHost": f"127.0.0.1:{free_port()}",
                               "redisMaxRetries": "-1"})


def test_subscribe_needs_a_consumer_id(make_pubsub: Factory, topic: str) -> None:
    with pytest.raises(ComponentConfigError, match="consumerID"):
        make_pubsub().subscribe(topic, Collector(), {})


def test_every_declared_field_is_accepted(make_pubsub: Factory) -> None:
    pubsub = make_pubsub(
        redisPort="6379", redisDB="0", enableTLS="false", redisMaxRetries="2",
        redisMinRetryInterval="-1", redisMaxRetryInterval="1s", dialTimeout="2s",
        readTimeout="2000", writeTimeout="2s", poolSize="20", poolTimeout="4s",
        maxConnAge="30m", minIdleConns="2", idleCheckFrequency="-1", idleTimeout="5m",
        queueDepth="10", concurrency="2", processingTimeout="30000", redeliverInterval="5s",
        useEntraID="false", useOIDC="false", streamTTL="30d")
    assert pubsub.settings.processing_timeout == 30.0
    assert pubsub.settings.read_timeout == 2.0 and pubsub.settings.stream_ttl == 30 * 86400
