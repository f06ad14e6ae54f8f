"""Fake ``cuda`` package: see ../README.md."""
