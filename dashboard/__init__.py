"""Crumbless dashboard: the read side."""
