"""The dapr SDK's gRPC client and the request types the functions use, imported without
running ``dapr/clients/__init__.py``.

Why: that package ``__init__`` imports the SDK's HTTP and actor clients, and through them
aiohttp (with yarl, multidict, attrs and SSL contexts loaded at import): about 110-130 ms of
every function process's start and several MB of its memory, for code the functions never run
(they use ``DaprGrpcClient`` only, see ``client.py``). So the package module is created from
its spec exactly as import creates it, with its ``__path__``, and registered; its submodules
then import normally. Its ``__init__`` runs, in place, into that same module object, the
first time anything asks the package for a name it does not have (PEP 562 ``__getattr__``),
e.g. ``from dapr.clients import DaprClient`` elsewhere in the process. If ``dapr.clients`` is
already imported, nothing is deferred.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

__all__: list[str] = []


def _defer_package_init(name: str) -> None:
    """Register package ``name`` without running its ``__init__`` until a name is asked of it."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.RLock()
    ran = False

    def __getattr__(attr: str) -> Any:
        nonlocal ran
        with lock:
            if not ran:
                ran = True
                loader.exec_module(package)
        try:
            return package.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    setattr(_module(parent), child, package)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


_defer_package_init("dapr.clients")

# Imported here, after the deferral; client.py, ratelimit.py and events.py take them from here.
from dapr.clients.grpc._request import BulkPublishEntry as BulkPublishEntry  # noqa: E402
from dapr.clients.grpc._state import Concurrency as Concurrency  # noqa: E402
from dapr.clients.grpc._state import StateOptions as StateOptions  # noqa: E402
from dapr.clients.grpc.client import DaprGrpcClient as DaprGrpcClient  # noqa: E402
