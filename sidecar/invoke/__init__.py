"""Service invocation (daprd's ``pkg/messaging`` and ``pkg/channel``), one module a concern.

    messages.py       AppRequest / AppResponse and the header names, below everything else
    channel.py        the app channel interface (AppChannel), whatever the protocol
    app_channel.py    the HTTP(S) connection to the runtime's own app
    grpc_channel.py   the gRPC connection to the app's AppCallback services
    channels.py       choosing the channel for --app-protocol (none without --app-port)
    grpc_proxy.py     proxying calls to the app's own gRPC services (dapr-app-id)
    invoker.py        routing: the own app id to the app channel, any other id forwarded
    grpc_forward.py   forwarding to another runtime's gRPC ``InvokeService``
    registry_dir.py   name resolution between local runtimes (one JSON file per app id)
"""
