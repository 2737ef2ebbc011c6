"""Delivering input-binding events to the app, as daprd's binding processor does.

At start-up the app channel asks whether the app handles the binding (HTTP: ``OPTIONS
/<binding>``, 404 or 405 means no; gRPC: ``ListInputBindings``; connection errors are retried
while the app starts), then every event goes to the app (HTTP: ``POST /<binding>`` with the
event metadata as headers; gRPC: ``OnBindingEvent``). A non-2xx answer is logged, as daprd
does, and the binding keeps running. Each delivery runs under the binding's inbound resiliency
policy (``targets.components.<name>.inbound``): a connection error or non-2xx reply is retried
as the policy says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus

from .components.bindings.base import InputBinding
from .invoke.channel import AppChannel, AppChannelError
from .invoke.messages import AppResponse
from .resiliency import BINDING, Resiliency, ResiliencyError
from .settings import INPUT_BINDING_PROBE_ATTEMPTS, INPUT_BINDING_PROBE_INTERVAL

__all__ = ["InputBindingDelivery"]

_log = logging.getLogger(__name__)


def _not_2xx(response: AppResponse) -> int | None:
    """A delivery the app did not accept: retried and counted under the inbound policy."""
    return None if HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES else (
        response.status)


class InputBindingDelivery:
    """Starts the input bindings the app handles and posts their events to it."""

    def __init__(self, channel: AppChannel | None,
                 resiliency: Resiliency | None = None) -> None:
        self.channel = channel
        self.resiliency = resiliency or Resiliency()
        self._bindings: list[InputBinding] = []
        self._stopping = threading.Event()

    def start(self, bindings: Mapping[str, InputBinding]) -> None:
        """Probe the app for each binding in the background, then start the subscribed ones."""
        if self.channel is None:
            _log.warning("input bindings %s configured but no --app-port: not started",
                         ", ".join(sorted(bindings)))
            return
        for name, binding in bindings.items():
            threading.Thread(target=self._subscribe, args=(name, binding),
                             name=f"input-binding-{name}", daemon=True).start()

    def _subscribed(self, name: str) -> bool | None:
        """Whether the app handles ``name``; None when the app never answered."""
        for _ in range(INPUT_BINDING_PROBE_ATTEMPTS):
            if self._stopping.is_set() or self.channel is None:
                return None
            try:
                return self.channel.handles_binding(name)
            except AppChannelError:
                self._stopping.wait(INPUT_BINDING_PROBE_INTERVAL)
        return None

    def _subscribe(self, name: str, binding: InputBinding) -> None:
        subscribed = self._subscribed(name)
        if subscribed is None:
            _log.error("input binding %s: the app did not answer whether it handles it; "
                       "not started", name)
            return
        if not subscribed:
            _log.info("input binding %s: the app does not handle it; skipped", name)
            return
        if self._stopping.is_set():
            return
        binding.start(lambda data, metadata: self._deliver(name, data, metadata))
        self._bindings.append(binding)
        _log.info("input binding %s: delivering events to the app", name)

    def _deliver(self, name: str, data: bytes, metadata: dict[str, str]) -> None:
        channel = self.channel
        if channel is None:
            return
        started = time.monotonic()
        policy = self.resiliency.component_inbound(name, BINDING)
        try:
            response = policy.run(lambda: channel.deliver_binding_event(name, data, metadata),
                                  failed_status=_not_2xx)
        except (AppChannelError, ResiliencyError) as err:
            _log.error("error sending binding event to the app (binding %s): %s", name, err)
            return
        if not HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES:
            _log.error("app responded with status %d to binding event %s: %s",
                       response.status, name, response.body[:200].decode("utf-8", "replace"))
        else:
            _log.debug("binding event %s delivered in %.1f ms", name,
                       (time.monotonic() - started) * 1000)

    def stop(self) -> None:
        """Stop every started input binding (the channel is closed by its owner)."""
        self._stopping.set()
        for binding in self._bindings:
            try:
                binding.stop()
            except Exception:  # noqa: BLE001 - shutdown must reach the remaining bindings
                _log.exception("stopping an input binding failed")
