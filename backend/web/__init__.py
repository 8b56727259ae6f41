"""The web app: the JSON API, the chat page, sessions, rate limits, metrics, the gunicorn server."""
