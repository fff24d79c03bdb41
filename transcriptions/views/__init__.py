"""Thin views, one module per part of the desk; `htmx` holds what they all answer with."""
