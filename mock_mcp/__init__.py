"""mock_mcp: a simulated Zerodha account that the official ``kiteconnect`` client works against unchanged.

Kite Connect v3's REST API is served at the host root (the client drops any path in its ``root``), with Kite's
response envelope on success and on every error, form-encoded bodies and Kite's login flow. Reference facts:
``../shared/notes/kite-and-mcp.md``.
"""
