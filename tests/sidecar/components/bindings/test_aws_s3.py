"""bindings.aws.s3 against moto's S3 server on a free loopback port (never AWS)."""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from http import HTTPStatus

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sidecar.components.bindings.aws_s3 import S3Binding
from sidecar.components.bindings.base import BindingRequest
from sidecar.errors import BindingInvokeError, ComponentConfigError

ALL_BYTES = bytes(range(256))
CREDENTIALS = {"accessKey": "testing", "secretKey": "testing", "region": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def bucket(s3_endpoint) -> str:
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


def make(endpoint: str, bucket: str, **extra: str) -> S3Binding:
    return S3Binding("images", {"bucket": bucket, "endpoint": endpoint, "forcePathStyle": "true",
                                **CREDENTIALS, **extra})


def call(binding, operation, data=b"", **metadata):
    return binding.invoke(BindingRequest(operation, data, dict(metadata)))


def test_binary_round_trip_with_base64_flags(s3_endpoint, bucket):
    binding = make(s3_endpoint, bucket, decodeBase64="true")
    created = call(binding, "create", base64.b64encode(ALL_BYTES), key="img/all.bin")
    answer = json.loads(created.data)
    assert answer == {"location": f"{s3_endpoint}/{bucket}/img/all.bin", "versionID": None}
    assert created.metadata == {"key": "img/all.bin"}
    assert call(binding, "get", key="img/all.bin").data == ALL_BYTES
    assert call(binding, "get", key="img/all.bin", encodeBase64="true").data == (
        base64.b64encode(ALL_BYTES))


def test_raw_bytes_round_trip_without_flags(s3_endpoint, bucket):
    binding = make(s3_endpoint, bucket)
    payload = b"\x89PNG\r\n\x1a\n" + ALL_BYTES
    call(binding, "create", payload, key="raw.png", **{"Content-Type": "image/png"})
    assert call(binding, "get", key="raw.png").data == payload


def test_json_string_data_is_unquoted(s3_endpoint, bucket):
    binding = make(s3_endpoint, bucket)
    call(binding, "create", json.dumps("héllo").encode(), key="s")
    call(binding, "create", b"12.5", key="n")
    call(binding, "create", b'{"a": 1}', key="o")
    assert [call(binding, "get", key=k).data for k in ("s", "n", "o")] == [
        "héllo".encode(), b"12.5", b'{"a": 1}']


def test_create_without_key_uses_uuid(s3_endpoint, bucket):
    created = call(make(s3_endpoint, bucket), "create", b"hi!")
    key = created.metadata["key"]
    assert str(uuid.UUID(key)) == key
    assert json.loads(created.data)["location"].endswith(f"/{bucket}/{key}")


def test_list_delete_and_not_found(s3_endpoint, bucket):
    binding = make(s3_endpoint, bucket)
    for key in ("a/1", "a/2", "b/3"):
        call(binding, "create", b"data!", key=key)
    listed = json.loads(call(binding, "list", json.dumps({"prefix": "a/"}).encode()).data)
    assert [item["Key"] for item in listed["Contents"]] == ["a/1", "a/2"]
    first = listed["Contents"][0]
    assert first["Size"] == 5 and first["LastModified"].endswith("Z")
    assert (listed["Name"], listed["MaxKeys"], listed["IsTruncated"]) == (bucket, 1000, False)
    page = json.loads(call(binding, "list", b'{"maxResults": 1}').data)
    assert page["IsTruncated"] is True and len(page["Contents"]) == 1
    assert call(binding, "delete", key="a/1").data is None
    with pytest.raises(BindingInvokeError, match="object not found") as info:
        call(binding, "get", key="a/1")
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR
    everything = json.loads(call(binding, "list").data)
    assert [item["Key"] for item in everything["Contents"]] == ["a/2", "b/3"]


@pytest.mark.parametrize("operation, data, metadata, expected", [
    ("get", b"", {}, "required metadata 'key' missing"),
    ("delete", b"", {}, "required metadata 'key' missing"),
    ("create", b"not base64!", {"decodeBase64": "true"}, "not valid base64"),
    ("list", b"{nope", {}, "unable to parse Data property"),
    ("list", b"[1]", {}, "must be a JSON object"),
    ("presign", b"", {}, "supported operations: create, get, delete, list"),
])
def test_bad_requests_are_daprds_500(s3_endpoint, bucket, operation, data, metadata, expected):
    with pytest.raises(BindingInvokeError, match=expected) as info:
        call(make(s3_endpoint, bucket), operation, data, **metadata)
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_missing_bucket_are_daprds_500(s3_endpoint):
    with pytest.raises(BindingInvokeError, match="bucket not found") as info:
        call(make(s3_endpoint, "no-such-bucket-here"), "get", key="k")
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_unreachable_endpoint_is_a_500_naming_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binding = make(f"http://127.0.0.1:{port}", "b")
    with pytest.raises(BindingInvokeError, match=f"127.0.0.1:{port}") as info:
        call(binding, "get", key="k")
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("metadata, expected", [
    ({"bucket": ""}, "'bucket' is required"),
    ({"bucket": "b", "assumeRoleArn": "arn:aws:iam::1:role/x"}, "not supported"),
])
def test_bad_metadata(metadata, expected):
    with pytest.raises(ComponentConfigError, match=expected):
        S3Binding("images", metadata)
