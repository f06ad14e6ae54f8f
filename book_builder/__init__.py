"""book_builder: ticks into order books, session VWAP and OHLCV bars.

It owns the market's derived state: it reads ``ticks`` (or a shard of them) through its consumer group,
keeps a per-symbol L1/L2 book, publishes a BookUpdate per tick to ``book`` and 1-second and 1-minute bars
to ``bars``, stores 1-minute bars in PostgreSQL (the forecast models read their history there), and
reports a symbol whose feed went silent on ``feed_status`` and in /health. ``python -m book_builder``.
"""
