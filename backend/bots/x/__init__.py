"""The X bot: the API client, the mention poller, tweet length."""
