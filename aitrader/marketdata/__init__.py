"""Market data that the replay, the book builder, backtests and tests share: the columnar tick layout
(:mod:`.schema`), instrument lists (:mod:`.instruments`), tick file readers (:mod:`.files`), recorded Kite
Ticker feeds (:mod:`.kite`) and the labelled synthetic market (:mod:`.synthetic`)."""
