"""execution: the OMS, the only component that talks to brokers and the authority on risk (being built)."""
