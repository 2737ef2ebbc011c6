"""The functions' side of HTTP: what every answer passes through (``router``), the errors that
become 4xx/5xx answers (``errors``), header names (``headers``) and request reading (``inputs``).
"""
