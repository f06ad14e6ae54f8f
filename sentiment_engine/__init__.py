"""sentiment_engine (:8002): news in, per-symbol sentiment out.

So far its domain: which symbols an item is about (``symbols``), the finance word-list scorer used when the FinBERT
server is down (``lexicon``), and the time-decayed aggregation over a window (``aggregate``).
"""
