"""Why a bot does not answer: the skip reasons both bots record, one name for one event.

The X rules' own reasons (own_tweet, too_old, user_hourly_cap, ...) are listed in
docs/architecture.md with the rules that give them (backend/bots/rules.py).
"""

OPTED_OUT = "opted_out"  # the author (X) or the chat (Telegram) asked the bot to stop
BLOCKED_INCOMING = "blocked_incoming"  # the blocklist refused what they wrote
BLOCKED_OUTGOING = "blocked_outgoing"  # the blocklist refused the reply (X: after a resample)
EMPTY_REPLY = "empty_reply"  # nothing printable was left of the reply
MODEL_ERROR = "model_error"  # the model failed on this message (Telegram; X's poll stops)
