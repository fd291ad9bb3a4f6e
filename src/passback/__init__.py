"""Passback: LTI grade passback."""
