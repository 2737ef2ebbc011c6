"""What the three functions share, split by what it binds them to.

It lives in one top-level package next to ``config/`` (as the design card lays out) so that
grayscale, classify and events import one copy instead of three:

    bindings/
    ├── dapr/        towards the sidecar: the one lazily created client (``client``), the rate
    │                limit in the state store (``ratelimit``), event recording by service
    │                invocation (``events``), result storage in an output binding (``results``)
    ├── http/        towards the caller: routing, CORS and JSON answers (``router``), the error
    │                family (``errors``), header names (``headers``), request reading (``inputs``)
    ├── imaging.py   opening untrusted image bytes safely (grayscale and classify)
    └── settings.py  the settings two or more functions read, and the loader every function
                     uses for its own

Function modules hold business logic only. This file imports nothing, so importing any one
module never drags in (or cycles through) the others.
"""
