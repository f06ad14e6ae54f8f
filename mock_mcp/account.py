"""The simulated account: who it belongs to and what it holds; profile and margins in Kite's shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

EXCHANGES: Final = ["NSE", "NFO", "BSE", "BFO", "CDS", "MCX", "BCD", "MF"]
PRODUCTS: Final = ["CNC", "NRML", "MIS", "MTF"]
ORDER_TYPES: Final = ["MARKET", "LIMIT", "SL", "SL-M"]
_AVAILABLE_KEYS: Final = ("adhoc_margin", "cash", "opening_balance", "live_balance", "collateral", "intraday_payin")
_UTILISED_KEYS: Final = (
    "debits",
    "exposure",
    "m2m_realised",
    "m2m_unrealised",
    "option_premium",
    "payout",
    "span",
    "holding_sales",
    "turnover",
    "liquid_collateral",
    "stock_collateral",
    "delivery",
)


@dataclass
class Account:
    """One Kite account. ``opening_cash`` is the equity segment's balance at the start of the day."""

    user_id: str
    user_name: str
    email: str
    opening_cash: float
    utilised: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_UTILISED_KEYS, 0.0))

    def profile(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user_type": "individual",
            "email": self.email,
            "user_name": self.user_name,
            "user_shortname": self.user_name.split()[0] if self.user_name.split() else self.user_id,
            "broker": "ZERODHA",
            "exchanges": list(EXCHANGES),
            "products": list(PRODUCTS),
            "order_types": list(ORDER_TYPES),
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }

    def margins(self) -> dict[str, dict[str, Any]]:
        """Both segments as Kite reports them: ``net`` is what is left to trade with."""
        debits = self.utilised["debits"]
        equity_available = dict.fromkeys(_AVAILABLE_KEYS, 0.0)
        equity_available.update(
            cash=self.opening_cash, opening_balance=self.opening_cash, live_balance=self.opening_cash - debits
        )
        return {
            "equity": {
                "enabled": True,
                "net": round(self.opening_cash - debits, 2),
                "available": equity_available,
                "utilised": dict(self.utilised),
            },
            "commodity": {
                "enabled": False,
                "net": 0.0,
                "available": dict.fromkeys(_AVAILABLE_KEYS, 0.0),
                "utilised": dict.fromkeys(_UTILISED_KEYS, 0.0),
            },
        }
