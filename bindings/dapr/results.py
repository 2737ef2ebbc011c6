"""Keeping a function's result in an output binding (localstorage or S3), best effort.

``store(binding_name, data, extension)`` writes ``data`` under a fresh key with the binding's
``create`` operation and returns the key, or None when the sidecar has no such binding or the
call fails: storage is a side effect, it never fails the answer (a failure is logged).

The data travels base64-encoded: daprd's localstorage decodes any data that is valid base64
(raw bytes could happen to be), and S3 decodes it when asked with ``decodeBase64``; the key
goes in both bindings' metadata names (``fileName`` for localstorage, ``key`` for S3).
"""

from __future__ import annotations

import base64
import logging
import uuid

from .. import settings
from .client import deadline, get_client, has_component

__all__ = ["store"]

_log = logging.getLogger(__name__)

_CREATE = "create"


def store(binding_name: str, data: bytes, extension: str) -> str | None:
    """Keep ``data`` in ``binding_name`` as ``<uuid>.<extension>``, if declared; its key, or None.

    Each call is bounded by BINDING_TIMEOUT_SECONDS.
    """
    if not has_component(binding_name):
        return None
    key = f"{uuid.uuid4().hex}.{extension}"
    metadata = {"fileName": key, "key": key, "decodeBase64": "true"}
    try:
        with deadline(settings.get().binding_timeout_seconds):
            get_client().invoke_binding(binding_name, _CREATE, base64.b64encode(data),
                                        binding_metadata=metadata)
    # Storage is a side effect: any failure is logged and never fails the answer.
    except Exception as err:  # noqa: BLE001
        _log.warning("could not store result %s in binding %r: %s", key, binding_name, err)
        return None
    return key
