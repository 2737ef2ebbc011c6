"""``bindings.localstorage``: daprd's local-file output binding.

Metadata: ``rootPath`` (required; relative paths are taken from the working directory, the
folder is created, /proc, /sys, /boot and /var/run/secrets are refused).

Operations, as components-contrib ``bindings/localstorage/localstorage.go``; request metadata
``fileName`` names the file, relative to rootPath (a leading "/" still means under rootPath):

- ``create``: writes the data; without ``fileName`` a random UUID is used. Like daprd, the
  data is first unquoted if it is a JSON string (the HTTP API passes ``data`` JSON-encoded),
  then base64-decoded *if it is valid base64*: send binary content base64-encoded. (The quirk
  applies to text too: "abcd" is valid base64 and is stored as 3 bytes.) Answers
  ``{"fileName": "<path relative to rootPath>"}``.
- ``get``: the file's bytes, as stored.
- ``list``: a JSON array of the *absolute* paths of all files under rootPath (or under the
  folder ``fileName`` names), ``null`` when there are none -- daprd's shape.
- ``delete``: removes the file; no data back.

Divergences (all make bad input a 4xx rather than daprd's 500): a ``fileName`` that climbs out
of rootPath (``../x`` or a symlink leading outside) is refused where daprd would clamp it
inside; a missing file is a 404; ``get``/``delete`` without ``fileName`` say so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from ...errors import (
    BindingInvokeError,
    BindingItemNotFound,
    BindingRequestError,
    ComponentConfigError,
)
from ..go_values import go_json_dumps
from ._request import check_operation, go_unquote, try_base64
from .base import BindingRequest, BindingResponse, OutputBinding

__all__ = ["LocalStorageBinding"]

CREATE, GET, LIST, DELETE = "create", "get", "list", "delete"
_FILE_NAME_KEY = "fileName"
_DISALLOWED_ROOTS = ("/proc", "/sys", "/boot", "/var/run/secrets")


class LocalStorageBinding(OutputBinding):
    """Dapr ``bindings.localstorage`` (metadata: rootPath)."""

    type_name: ClassVar[str] = "bindings.localstorage"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"rootPath"})
    operations: ClassVar[tuple[str, ...]] = (CREATE, GET, LIST, DELETE)

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self.root = self._validate_root(self.metadata.get("rootPath", ""))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ComponentConfigError(
                f"component {name!r}: unable to create directory specified by 'rootPath' "
                f"{self.root}: {err}") from err

    def _validate_root(self, root_path: str) -> Path:
        if not root_path:
            raise ComponentConfigError(
                f"component {self.name!r}: property rootPath must not be empty")
        root = Path(os.path.realpath(os.path.abspath(root_path)))
        if root.exists() and not root.is_dir():
            raise ComponentConfigError(
                f"component {self.name!r}: property rootPath represents a file and not a directory")
        for banned in _DISALLOWED_ROOTS:
            if root == Path(banned) or Path(banned) in root.parents:
                raise ComponentConfigError(
                    f"component {self.name!r}: property rootPath points to a disallowed location")
        return root

    def invoke(self, request: BindingRequest) -> BindingResponse:
        check_operation(self.name, request.operation, self.operations)
        file_name = request.metadata.get(_FILE_NAME_KEY, "")
        if request.operation == CREATE:
            return self._create(file_name or str(uuid.uuid4()), request.data)
        if request.operation == LIST:
            return self._list(file_name)
        if not file_name:
            raise BindingRequestError(
                f"binding {self.name!r}: operation {request.operation!r} needs the "
                f"'{_FILE_NAME_KEY}' metadata field")
        return self._get(file_name) if request.operation == GET else self._delete(file_name)

    def _resolve(self, file_name: str) -> Path:
        """The absolute path for ``file_name``, refusing anything that leaves rootPath."""
        if "\x00" in file_name:
            raise BindingRequestError(f"binding {self.name!r}: fileName contains a NUL byte")
        # As filepath-securejoin does: an absolute name is still rooted at rootPath.
        path = Path(os.path.realpath(self.root / file_name.lstrip("/")))
        if path != self.root and self.root not in path.parents:
            raise BindingRequestError(
                f"binding {self.name!r}: fileName {file_name!r} points outside rootPath")
        return path

    def _create(self, file_name: str, data: bytes) -> BindingResponse:
        path = self._resolve(file_name)
        content = go_unquote(data)
        decoded = try_base64(content)
        with _io_errors(self.name, "error creating file", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if decoded is None else decoded)
        return BindingResponse(data=go_json_dumps({"fileName": str(path.relative_to(self.root))}))

    def _get(self, file_name: str) -> BindingResponse:
        path = self._resolve(file_name)
        with _io_errors(self.name, "error reading file", path):
            return BindingResponse(data=path.read_bytes())

    def _delete(self, file_name: str) -> BindingResponse:
        path = self._resolve(file_name)
        with _io_errors(self.name, "error deleting file", path):
            path.unlink()
        return BindingResponse()

    def _list(self, file_name: str) -> BindingResponse:
        folder = self._resolve(file_name) if file_name else self.root
        if not folder.is_dir():
            raise (BindingRequestError if folder.exists() else BindingItemNotFound)(
                f"binding {self.name!r}: unable to list files as the path specified is not a "
                f"directory: {folder}")
        with _io_errors(self.name, "error listing files in the directory", folder):
            files = list(_walk(folder))
        return BindingResponse(data=go_json_dumps(files or None))


def _walk(folder: Path) -> Iterator[str]:
    """Files under ``folder`` in Go's ``filepath.Walk`` order (names sorted per directory;
    symlinks are listed, not followed)."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        else:
            yield entry.path


@contextmanager
def _io_errors(binding: str, action: str, path: Path) -> Iterator[None]:
    """Turn OSError into the runtime's errors, naming the file and what failed."""
    prefix = f"binding {binding!r}: {action} {path}"
    try:
        yield
    except FileNotFoundError as err:
        raise BindingItemNotFound(f"{prefix}: file not found") from err
    except (IsADirectoryError, NotADirectoryError) as err:
        raise BindingRequestError(f"{prefix}: {err.strerror}") from err
    except OSError as err:
        raise BindingInvokeError(f"{prefix}: {err.strerror or err}") from err
