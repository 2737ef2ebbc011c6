"""Secret stores: ``base.py`` holds the interface, one module per ``secretstores.*`` type."""
