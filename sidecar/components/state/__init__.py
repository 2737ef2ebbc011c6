"""State stores: ``base.py`` holds the interface, one module per Dapr ``state.*`` type.

Nothing is re-exported here so that a driver (redis) is imported only when configured.
"""
