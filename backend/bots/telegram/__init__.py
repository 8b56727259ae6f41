"""The Telegram bot: the conversation rules, long polling, the webhook route."""
