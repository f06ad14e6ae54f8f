"""tick_replay: puts recorded or generated ticks onto the bus, per-symbol order kept, at a chosen speed.

It owns replays: one at a time, from a tick file (CSV, Parquet, a recorded Kite Ticker feed) or from the
synthetic market, published to ``ticks`` (or sharded by symbol over ``ticks:{n}``) at realtime, a multiple
of it, or as fast as Redis takes them, and ended on every stream with an EndOfData marker. An HTTP API
starts, pauses, resumes and stops it and reports progress. Start it with ``python -m tick_replay``.
"""
