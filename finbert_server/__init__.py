"""finbert_server (:8004): a FinBERT-style classifier (positive / negative / neutral) over HTTP, loaded from a
local directory (``FINBERT_MODEL_DIR``), run by ONNX Runtime or PyTorch. Without a model it still starts, says
why on /health, and answers 503, so the sentiment engine falls back to its word lists."""
