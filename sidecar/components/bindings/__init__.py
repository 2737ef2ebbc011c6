"""Binding components: ``base.py`` holds the interfaces, one module per Dapr type.

Modules are imported lazily through ``sidecar.registry`` so a driver loads only when used.
"""
