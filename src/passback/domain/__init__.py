"""The domain: the rules of docs/domain.md as plain functions over plain data.

Nothing in this package does I/O or reads the clock; callers pass `now`.
"""
