"""``bindings.aws.s3``: daprd's S3 output binding on boto3 (any S3-compatible endpoint).

Metadata: ``bucket`` (required), ``region`` (or the older ``awsRegion``), ``endpoint``,
``accessKey``, ``secretKey``, ``sessionToken`` (without keys boto3's usual chain applies:
environment, shared files), ``forcePathStyle``, ``decodeBase64``, ``encodeBase64``,
``disableSSL`` (plain http for an endpoint given without a scheme), ``insecureSSL`` (accept
any certificate). Booleans are read like dapr/kit's IsTruthy. The other builtin AWS profiles
(assume role, IAM Roles Anywhere) are refused at start-up: this runtime does not do them.

Operations, as components-contrib ``bindings/aws/s3/s3.go``; request metadata ``key``:

- ``create``: uploads the data under ``key`` (a random UUID without one). The data is first
  unquoted if it is JSON text that is a string (daprd's ``utils.Unquote``); with
  ``decodeBase64`` (component or request metadata) it is then base64-decoded, and bad base64
  is a 400. Request metadata ``Content-Type`` sets the object's type. Answers
  ``{"location": <object URL>, "versionID": <id or null>}`` with response metadata ``key``.
- ``get``: the object's bytes (base64 text with ``encodeBase64``); "object not found" is a 404.
- ``delete``: removes the object; no data back (S3 reports success for a missing key too).
- ``list``: data ``{"prefix", "marker", "delimiter", "maxResults"}`` (all optional,
  maxResults defaults to 1000); answers one page of ListObjects in aws-sdk-go's JSON shape
  (``Contents``, ``IsTruncated``, ``NextMarker``, ... with Go's field names).

Not implemented: ``presign``, ``bulkGet``/``bulkCreate``/``bulkDelete``, ``filePath``,
``storageClass``.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import boto3
import botocore.exceptions
from botocore.config import Config

from ...errors import (
    BindingInvokeError,
    BindingItemNotFound,
    BindingRequestError,
    ComponentConfigError,
)
from ..base import is_truthy
from ..go_values import format_rfc3339_nano, go_json_dumps
from ._request import check_operation, try_base64
from .base import BindingRequest, BindingResponse, OutputBinding

__all__ = ["S3Binding"]

CREATE, GET, DELETE, LIST = "create", "get", "delete", "list"
KEY, CONTENT_TYPE = "key", "Content-Type"
_DEFAULT_MAX_RESULTS = 1000
_UNSUPPORTED_AUTH = ("assumeRoleArn", "trustAnchorArn", "trustProfileArn")
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
_LIST_FIELDS = ("CommonPrefixes", "Contents", "Delimiter", "EncodingType", "IsTruncated",
                "Marker", "MaxKeys", "Name", "NextMarker", "Prefix", "RequestCharged")
_OBJECT_FIELDS = ("ChecksumAlgorithm", "ETag", "Key", "LastModified", "Owner", "RestoreStatus",
                  "Size", "StorageClass")


@contextmanager
def _s3_errors(action: str) -> Iterator[None]:
    """The one place botocore errors become the runtime's: not found is a 404, all else a 500."""
    try:
        yield
    except botocore.exceptions.ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND_CODES:
            what = "bucket not found" if code == "NoSuchBucket" else "object not found"
            raise BindingItemNotFound(f"s3 binding error: {action}: {what}") from err
        raise BindingInvokeError(f"s3 binding error: {action}: {err}") from err
    except botocore.exceptions.BotoCoreError as err:
        raise BindingInvokeError(f"s3 binding error: {action}: {err}") from err


def _unquote(data: bytes) -> bytes:
    """components-contrib ``utils.Unquote``: JSON text that is a scalar becomes its string."""
    try:
        value = json.loads(data)
    except ValueError:
        return data
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f").encode()  # Go's FormatFloat(f, 'f', -1, 64)
    if isinstance(value, (str, int)):
        return str(value).encode("utf-8")
    return data


def _go_value(value: Any) -> Any:
    """boto3's response values in the JSON shape aws-sdk-go's structs marshal to."""
    if isinstance(value, datetime):
        return format_rfc3339_nano(value)
    if isinstance(value, dict):
        return {k: _go_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_value(v) for v in value]
    return value


class S3Binding(OutputBinding):
    """Dapr ``bindings.aws.s3`` (metadata: bucket, region, endpoint, accessKey, secretKey,
    sessionToken, forcePathStyle, decodeBase64, encodeBase64, disableSSL, insecureSSL)."""

    type_name: ClassVar[str] = "bindings.aws.s3"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"bucket"})
    optional_metadata: ClassVar[frozenset[str]] = frozenset({
        "endpoint", "forcePathStyle", "decodeBase64", "encodeBase64", "disableSSL",
        "insecureSSL", "region", "awsRegion", "accessKey", "secretKey", "sessionToken",
        "sessionName", *_UNSUPPORTED_AUTH})
    operations: ClassVar[tuple[str, ...]] = (CREATE, GET, DELETE, LIST)

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self.bucket = self.metadata.get("bucket", "")
        if not self.bucket:
            raise ComponentConfigError(f"component {name!r}: metadata 'bucket' is required")
        for field in _UNSUPPORTED_AUTH:
            if self.metadata.get(field):
                raise ComponentConfigError(
                    f"component {name!r}: {field!r} (role-based AWS auth) is not supported by "
                    "this runtime; use accessKey/secretKey or AWS_* environment variables")
        self._decode_b64 = is_truthy(self.metadata.get("decodeBase64", ""))
        self._encode_b64 = is_truthy(self.metadata.get("encodeBase64", ""))
        self._client = self._make_client()
        self._last_url = threading.local()
        self._client.meta.events.register("before-send.s3.PutObject", self._remember_url)

    def _make_client(self) -> Any:
        get = self.metadata.get
        disable_ssl = is_truthy(get("disableSSL", ""))
        endpoint = get("endpoint", "") or None
        if endpoint and "://" not in endpoint:
            endpoint = ("http://" if disable_ssl else "https://") + endpoint
        style = "path" if is_truthy(get("forcePathStyle", "")) else "auto"
        session = boto3.session.Session(
            aws_access_key_id=get("accessKey") or None,
            aws_secret_access_key=get("secretKey") or None,
            aws_session_token=get("sessionToken") or None,
            region_name=get("region") or get("awsRegion") or None)
        try:
            return session.client(
                "s3", endpoint_url=endpoint, use_ssl=not disable_ssl,
                verify=not is_truthy(get("insecureSSL", "")),
                config=Config(s3={"addressing_style": style}, retries={"max_attempts": 3}))
        except (botocore.exceptions.BotoCoreError, ValueError) as err:
            raise ComponentConfigError(f"component {self.name!r}: cannot set up S3: {err}") from err

    def _remember_url(self, request: Any, **_: Any) -> None:
        # daprd answers create with the upload's URL; botocore only shows it on the request.
        self._last_url.value = request.url.split("?", 1)[0]

    def invoke(self, request: BindingRequest) -> BindingResponse:
        check_operation(self.name, request.operation, self.operations)
        if request.operation == CREATE:
            return self._create(request)
        if request.operation == LIST:
            return self._list(request.data)
        key = request.metadata.get(KEY, "")
        if not key:
            raise BindingRequestError(f"s3 binding error: required metadata '{KEY}' missing")
        if request.operation == GET:
            return self._get(key, request.metadata)
        with _s3_errors("delete operation failed"):
            self._client.delete_object(Bucket=self.bucket, Key=key)
        return BindingResponse()

    def _flag(self, metadata: Mapping[str, str], key: str, default: bool) -> bool:
        value = metadata.get(key, "")
        return is_truthy(value) if value else default

    def _create(self, request: BindingRequest) -> BindingResponse:
        key = request.metadata.get(KEY) or str(uuid.uuid4())
        body = _unquote(request.data)
        if self._flag(request.metadata, "decodeBase64", self._decode_b64):
            decoded = try_base64(body)
            if decoded is None:
                raise BindingRequestError("s3 binding error: decode: data is not valid base64")
            body = decoded
        extra = {"ContentType": request.metadata[CONTENT_TYPE].strip()} if (
            request.metadata.get(CONTENT_TYPE, "").strip()) else {}
        with _s3_errors("uploading failed"):
            result = self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        answer = {"location": getattr(self._last_url, "value", ""),
                  "versionID": result.get("VersionId")}
        return BindingResponse(data=go_json_dumps(answer), metadata={KEY: key})

    def _get(self, key: str, metadata: Mapping[str, str]) -> BindingResponse:
        with _s3_errors("error downloading S3 object"):
            data = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if self._flag(metadata, "encodeBase64", self._encode_b64):
            data = base64.b64encode(data)
        return BindingResponse(data=data)

    def _list(self, data: bytes) -> BindingResponse:
        try:
            payload = json.loads(data) if data.strip() else None
        except ValueError as err:
            raise BindingRequestError(
                f"s3 binding (List Operation) - unable to parse Data property - {err}") from None
        payload = payload or {}
        if not isinstance(payload, dict):
            raise BindingRequestError(
                "s3 binding (List Operation) - Data must be a JSON object such as "
                '{"prefix": "img/", "maxResults": 10}')
        try:
            max_results = int(payload.get("maxResults") or 0)
        except (TypeError, ValueError):
            raise BindingRequestError(
                "s3 binding (List Operation) - maxResults must be a number") from None
        if max_results < 1:
            max_results = _DEFAULT_MAX_RESULTS
        with _s3_errors("list operation failed"):
            result = self._client.list_objects(
                Bucket=self.bucket, MaxKeys=max_results,
                Marker=str(payload.get("marker") or ""), Prefix=str(payload.get("prefix") or ""),
                Delimiter=str(payload.get("delimiter") or ""))
        shaped = {field: _go_value(result.get(field)) for field in _LIST_FIELDS}
        if shaped["Contents"]:
            shaped["Contents"] = [{f: item.get(f) for f in _OBJECT_FIELDS}
                                  for item in shaped["Contents"]]
        return BindingResponse(data=go_json_dumps(shaped))
