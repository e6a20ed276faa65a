"""Engines: the one interface (base.py) and its implementations, one module each."""
