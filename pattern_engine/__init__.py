"""The pattern engine: turns ticks into signals with deterministic, per-symbol O(1) detectors.

The detectors run in Rust (``rust/``, module ``pattern_engine_pyo3``); :mod:`pattern_engine.reference` is the
same detectors in pure Python, the oracle the Rust core is tested against and the fallback when the extension
is not built. The service (``python -m pattern_engine``) reads ticks from the bus and publishes signals.
"""
