"""Fake ``cuda.bindings`` package: see ../../README.md."""
