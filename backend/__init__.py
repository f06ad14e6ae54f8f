"""The backend service (FastAPI, :8000): the platform's HTTP API.

For now it answers liveness (`/health`), readiness with the state of the database and the bus
(`/status`) and Prometheus metrics (`/metrics`). Start it with `python -m backend` or `aitrader up`.
"""
