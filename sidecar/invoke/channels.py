"""Choosing the app channel for ``--app-protocol`` (daprd's ``pkg/runtime/channels``).

    http, https   HTTPAppChannel (https: TLS, the app's certificate not verified, as daprd)
    grpc          GrpcAppChannel (plain-text HTTP/2, the app serves AppCallback)

Without ``--app-port`` there is no app channel at all (None): calls to the own app id fail with
daprd's "app channel is not initialized", and no binding or subscription is delivered.
"""

from __future__ import annotations

from ..settings import Settings
from .app_channel import HTTPAppChannel
from .channel import AppChannel
from .grpc_channel import GrpcAppChannel

__all__ = ["new_app_channel"]


def new_app_channel(settings: Settings) -> AppChannel | None:
    """The channel to the app of ``settings``; None without an app port."""
    if settings.app_port is None:
        return None
    if settings.app_protocol == "grpc":
        return GrpcAppChannel(settings)
    return HTTPAppChannel(settings, protocol=settings.app_protocol)
