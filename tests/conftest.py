"""Fixtures shared by every test package: where the seed data is, and the real services.

Redis and MariaDB are required, never mocked: a test that needs one fails (it is not skipped)
when the service is down, with a message that says how to start it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pymysql
import pytest
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_DATA = Path(
    os.environ.get("SEED_DATA_DIR", REPO_ROOT.parent / "shared" / "seed-data")).resolve()
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MYSQL = dict(host=os.environ.get("TEST_MYSQL_HOST", "127.0.0.1"),
             port=int(os.environ.get("TEST_MYSQL_PORT", "3306")),
             user=os.environ.get("TEST_MYSQL_USER", "root"),
             password=os.environ.get("TEST_MYSQL_PASSWORD", ""),
             database=os.environ.get("TEST_MYSQL_DATABASE", "test"))
#: The Go-DSN form of MYSQL, as the bindings.mysql component takes it.
MYSQL_DSN = "{user}:{password}@tcp({host}:{port})/{database}".format(**MYSQL)


@pytest.fixture(scope="session")
def seed_data() -> Path:
    assert (SEED_DATA / "food.jpg").is_file(), (
        f"seed data not found at {SEED_DATA}; set SEED_DATA_DIR to the folder holding food.jpg")
    return SEED_DATA


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as err:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({err}); start it with: "
                    'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""')
    return client


@pytest.fixture(scope="session")
def mysql_params() -> dict:
    try:
        pymysql.connect(**MYSQL).close()
    except pymysql.Error as err:
        pytest.fail(f"MariaDB/MySQL is not reachable with {MYSQL} ({err}); start it with: "
                    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd")
    return dict(MYSQL)
