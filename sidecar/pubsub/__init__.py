"""The pub/sub building block, runtime side (daprd's ``pkg/runtime/pubsub`` and
``pkg/runtime/subscription``), one concern a module:

    cloudevents.py    the CloudEvent envelope daprd wraps published data in
    routing.py        CEL ``match`` rules choosing the app route for an event
    subscriptions.py  programmatic (GET /dapr/subscribe) and declarative subscriptions
    publisher.py      publish / bulk publish with daprd's topic scopes
    delivery.py       POSTing events to the app and reading its status answer
    manager.py        what ``Runtime`` holds: publisher + the running subscriptions

Components (the brokers) live in ``sidecar/components/pubsub/``.
"""
