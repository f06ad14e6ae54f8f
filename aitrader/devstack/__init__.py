"""The local development stack: embedded PostgreSQL and Redis, and a supervisor for the services.

`aitrader up` uses it when DATABASE_URL / REDIS_URL are unset; the test fixtures use the same servers.
"""
