"""Service invocation (daprd's ``pkg/messaging`` and ``pkg/channel``), one module a concern.

    messages.py       AppRequest / AppResponse and the header names, below everything else
    app_channel.py    the HTTP connection to the runtime's own app
    invoker.py        routing: the own app id to the app channel, any other id forwarded
    grpc_forward.py   forwarding to another runtime's gRPC ``InvokeService``
    registry_dir.py   name resolution between local runtimes (one JSON file per app id)
"""
