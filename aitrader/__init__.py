"""AITrader platform library: settings, contracts, bus, db, devstack and the `aitrader` CLI.

Every service imports this package; this package never imports a service.
"""

__version__ = "0.1.0"
