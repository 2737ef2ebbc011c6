"""What the three functions share: their binding to Dapr and to HTTP.

It lives in one top-level package next to ``config/`` (as the design card lays out) so that
grayscale, classify and events import one copy instead of three, and so that everything a
function knows about its environment is here: component names and limits (``settings``), the
one lazily created ``DaprClient`` (``client``), routing, CORS and JSON errors (``router``,
``errors``), request reading (``inputs``), safe image opening (``imaging``), the rate limit
(``ratelimit``) and event recording (``events``). Function modules hold business logic only.
"""

from __future__ import annotations

from . import client, errors, events, imaging, inputs, ratelimit, router, settings

__all__ = ["client", "errors", "events", "imaging", "inputs", "ratelimit", "router", "settings"]
