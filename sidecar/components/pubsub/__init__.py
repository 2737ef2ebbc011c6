"""Pub/sub components: ``base.py`` holds the interface, one module per Dapr ``pubsub.*`` type.

Nothing is re-exported here so that a driver (redis, pika) is imported only when configured.
"""
