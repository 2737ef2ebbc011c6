"""bindings.localstorage in a temp dir: byte-exact round trips, daprd's data handling, safety."""

from __future__ import annotations

import base64
import json
import os
import uuid
from http import HTTPStatus

import pytest

from sidecar.components.bindings.base import BindingRequest
from sidecar.components.bindings.localstorage import LocalStorageBinding
from sidecar.errors import BindingInvokeError, ComponentConfigError

ALL_BYTES = bytes(range(256))


@pytest.fixture()
def storage(tmp_path):
    return LocalStorageBinding("images", {"rootPath": str(tmp_path / "root")})


def call(binding, operation, data=b"", **metadata):
    return binding.invoke(BindingRequest(operation, data, dict(metadata)))


def test_binary_round_trip_all_256_byte_values(storage, tmp_path):
    encoded = base64.b64encode(ALL_BYTES)
    created = call(storage, "create", encoded, fileName="bin/all.dat")
    assert json.loads(created.data) == {"fileName": "bin/all.dat"}
    assert (tmp_path / "root" / "bin" / "all.dat").read_bytes() == ALL_BYTES
    assert call(storage, "get", fileName="bin/all.dat").data == ALL_BYTES


def test_json_string_data_is_unquoted_then_base64_decoded(storage):
    # What daprd's HTTP API hands over for {"data": "<base64>"}: the JSON string, quotes and all.
    call(storage, "create", json.dumps(base64.b64encode(ALL_BYTES).decode()).encode(), fileName="a")
    assert call(storage, "get", fileName="a").data == ALL_BYTES
    call(storage, "create", json.dumps("héllo \"world\"\n").encode(), fileName="b")
    assert call(storage, "get", fileName="b").data == 'héllo "world"\n'.encode()


def test_raw_binary_that_is_not_base64_is_stored_as_is(storage):
    png_like = b"\x89PNG\r\n\x1a\n" + ALL_BYTES
    call(storage, "create", png_like, fileName="raw.png")
    assert call(storage, "get", fileName="raw.png").data == png_like


def test_daprd_quirk_text_that_is_valid_base64_gets_decoded(storage):
    call(storage, "create", b"abcd", fileName="q")
    assert call(storage, "get", fileName="q").data == base64.b64decode(b"abcd")


def test_create_without_filename_uses_a_uuid(storage, tmp_path):
    name = json.loads(call(storage, "create", b"hello!").data)["fileName"]
    assert str(uuid.UUID(name)) == name
    assert (tmp_path / "root" / name).read_bytes() == b"hello!"


def test_list_gives_absolute_paths_in_walk_order_or_null(storage, tmp_path):
    assert call(storage, "list").data == b"null"
    for name in ("b.txt", "a/z.txt", "a.txt", "a/b/c.txt"):
        call(storage, "create", b"x!", fileName=name)
    root = tmp_path / "root"
    assert json.loads(call(storage, "list").data) == [
        str(root / "a" / "b" / "c.txt"), str(root / "a" / "z.txt"), str(root / "a.txt"),
        str(root / "b.txt")]
    assert json.loads(call(storage, "list", fileName="a/b").data) == [str(root / "a/b/c.txt")]


def test_delete_then_get_are_daprds_500(storage):
    call(storage, "create", b"bye!", fileName="gone.txt")
    assert call(storage, "delete", fileName="gone.txt").data is None
    for operation in ("get", "delete"):
        with pytest.raises(BindingInvokeError, match="file not found") as info:
            call(storage, operation, fileName="gone.txt")
        assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../escape.txt", "../root2/x"])
def test_path_traversal_is_refused(storage, tmp_path, name):
    for operation in ("create", "get", "delete", "list"):
        with pytest.raises(BindingInvokeError, match="outside rootPath") as info:
            call(storage, operation, b"evil", fileName=name)
        assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert not (tmp_path / "escape.txt").exists()


def test_symlink_out_of_root_is_refused(storage, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "root" / "link")
    with pytest.raises(BindingInvokeError, match="outside rootPath"):
        call(storage, "create", b"evil", fileName="link/x.txt")
    assert list(outside.iterdir()) == []


def test_absolute_filename_stays_under_root(storage, tmp_path):
    call(storage, "create", b"safe!", fileName="/etc/passwd")
    assert (tmp_path / "root" / "etc" / "passwd").read_bytes() == b"safe!"


@pytest.mark.parametrize("operation, metadata, expected", [
    ("get", {}, "needs the 'fileName'"),
    ("delete", {}, "needs the 'fileName'"),
    ("upload", {}, "supported operations: create, get, list, delete"),
    ("get", {"fileName": "sub"}, "Is a directory"),
])
def test_bad_requests_are_daprds_500(storage, operation, metadata, expected):
    call(storage, "create", b"x!", fileName="sub/f")
    with pytest.raises(BindingInvokeError, match=expected) as info:
        call(storage, operation, **metadata)
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_bad_root_paths(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    for root, expected in [("", "must not be empty"), (str(tmp_path / "file"), "not a directory"),
                           ("/proc/self", "disallowed location")]:
        with pytest.raises(ComponentConfigError, match=expected):
            LocalStorageBinding("images", {"rootPath": root})


def test_relative_root_is_created_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    binding = LocalStorageBinding("images", {"rootPath": ".data/images"})
    assert binding.root == tmp_path / ".data" / "images" and binding.root.is_dir()
