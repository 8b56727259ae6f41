"""The bots that answer on X and Telegram: shared rules, the ledger, one adapter per network."""
