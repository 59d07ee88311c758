"""Frozen value types: assets, packages, advisories, findings, plans, events.

The domain imports nothing else of patchwarden but its errors; every other layer speaks in
these types.
"""
