"""The bots' ledger (which mention or update was claimed, answered or skipped): SQLite or DynamoDB."""
