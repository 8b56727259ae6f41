"""Talking to X: tweepy client construction, our own error types, retries and rate limits.

Everything X can answer is turned into one of the exception types below in exactly one
place (`XClient._call`), which is also the only place that retries (bounded exponential
back-off with jitter, for 5xx and timeouts) and keeps rate-limit bookkeeping. The poller
never sees a tweepy or requests exception.

A post is not a read: X may have carried it out even when its answer never arrived (a
timeout, a connection reset after the request went out, a 5xx), and sending it again
would post twice. So a post is retried only when it failed while connecting, before any
byte reached X; any later failure is `UnconfirmedPost`, and the poller leaves the mention
claimed until its own timeline says whether the reply exists.

tweepy hard-codes https://api.twitter.com and sets no timeout, so we mount a requests
adapter on `client.session` that applies a timeout and, when X_API_BASE is set, sends the
request to that base URL instead (the local sandbox).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime

import requests
import tenacity
import tweepy
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from model.errors import InputError

X_HOST = "https://api.twitter.com"
TWEET_FIELDS = "author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets"
MAX_PAGES = 8  # X keeps the 800 most recent mentions: 8 pages of 100
# The fixed keys the local X sandbox (backend/local/) accepts: used when X_API_BASE is set
# and no X_* credentials are. Defined here, so the client never imports the stand-in.
SANDBOX_CREDENTIALS = {
    "bearer_token": "sandbox-app-bearer",
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
    "access_token": "sandbox-access-token",
    "access_token_secret": "sandbox-access-secret",
}


class XError(Exception):
    """Any failure talking to X; `kind` is the counter name used in logs."""

    kind = "x_error"


class RateLimited(XError):
    kind = "rate_limited"

    def __init__(self, message: str, reset_time: float | None):
        super().__init__(message)
        self.reset_time = reset_time  # epoch seconds, None when X sent no reset header


class AuthError(XError):
    kind = "auth"  # 401, 403 (other than duplicate content), 453: fix credentials or access


class DuplicateContent(XError):
    kind = "duplicate_content"  # X refused a tweet identical to a recent one of ours


class TransientError(XError):
    kind = "transient"  # 5xx, timeout, connection refused: worth a later retry


class UnconfirmedPost(XError):
    kind = "unconfirmed_post"  # a post failed after it may have reached X: it may exist


class MalformedResponse(XError):
    kind = "malformed_response"


class RequestRejected(XError):
    kind = "rejected"  # 400/404 and other 4xx: our request was wrong


@dataclass(frozen=True)
class Tweet:
    id: str
    text: str
    author_id: str
    conversation_id: str | None = None
    created_at: float | None = None  # epoch seconds
    in_reply_to_user_id: str | None = None
    parent_id: str | None = None  # the tweet this one replies to
    retweet: bool = False

    @classmethod
    def from_api(cls, data: dict) -> Tweet:
        try:
            refs = {ref["type"]: str(ref["id"]) for ref in data.get("referenced_tweets") or []}
            created = data.get("created_at")
            tweet = cls(
                id=str(data["id"]), text=str(data["text"]), author_id=str(data["author_id"]),
                conversation_id=data.get("conversation_id"),
                created_at=datetime.fromisoformat(created).timestamp() if created else None,
                in_reply_to_user_id=data.get("in_reply_to_user_id"),
                parent_id=refs.get("replied_to"), retweet="retweeted" in refs,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"bad tweet object {str(data)[:200]!r}: {exc!r}") from None
        if not tweet.id.isdigit():
            raise MalformedResponse(f"bad tweet id {tweet.id!r}")
        return tweet


class BaseUrlAdapter(HTTPAdapter):
    """Apply a timeout to every request and optionally send it to another base URL."""

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout

    def send(self, request, **kwargs):
        if self.base_url and request.url.startswith(X_HOST):
            request.url = self.base_url + request.url[len(X_HOST):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _translate(exc: Exception, *, repeatable: bool = True) -> XError:
    """The one mapping from tweepy/requests failures to our exception types.

    `repeatable` is False for a post: a transient failure after the request may have
    reached X becomes UnconfirmedPost, which is never retried."""
    error = _classify(exc)
    if not repeatable and isinstance(error, TransientError) and not _never_sent(exc):
        return UnconfirmedPost(f"{error} (X may have posted it)")
    return error


def _never_sent(exc: Exception) -> bool:
    """True when the request failed while connecting (refused, no route, DNS, connect
    timeout), so no byte of it reached X. requests wraps those in a MaxRetryError whose
    reason is a ConnectTimeoutError (NewConnectionError and NameResolutionError derive
    from it); failures after sending (read timeout, reset) come as other errors."""
    cause = exc.args[0] if isinstance(exc, requests.ConnectionError) and exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)


def _classify(exc: Exception) -> XError:
    if isinstance(exc, tweepy.TooManyRequests):
        return RateLimited(f"429 rate limited (reset {exc.reset_time})", exc.reset_time)
    if isinstance(exc, tweepy.Forbidden):
        text = " ".join(map(str, exc.api_messages)) + " " + str(exc)
        if "duplicate content" in text.lower():
            return DuplicateContent(text.strip())
        return AuthError(f"403 forbidden: {text.strip()[:300]}")
    if isinstance(exc, tweepy.Unauthorized):
        return AuthError(f"401 unauthorized: {str(exc)[:300]}")
    if isinstance(exc, tweepy.TwitterServerError):
        return TransientError(f"{exc.response.status_code} server error")
    if isinstance(exc, tweepy.HTTPException):
        status = exc.response.status_code
        if status == 453:
            return AuthError(f"453 access level: {str(exc)[:300]}")
        return RequestRejected(f"{status}: {str(exc)[:300]}")
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return TransientError(f"{type(exc).__name__}: {str(exc)[:200]}")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"{type(exc).__name__}: {str(exc)[:200]}")
    raise exc


class XClient:
    def __init__(self, client: tweepy.Client, *, attempts: int = 3, backoff_s: float = 1.0,
                 backoff_cap_s: float = 8.0, sleep=time.sleep, seed: int | None = None):
        self.tweepy = client
        self.attempts, self.backoff_s, self.backoff_cap_s = attempts, backoff_s, backoff_cap_s
        self.sleep = sleep
        self.random = random.Random(seed)
        self.read_user_auth = client.bearer_token is None
        self.write_user_auth = client.consumer_key is not None
        self.exhausted_until = 0.0  # latest reset time of a window we used up

    def _backoff(self, retry_state: tenacity.RetryCallState) -> float:
        """Exponential back-off with jitter: half to all of min(cap, base * 2**n)."""
        ceiling = min(self.backoff_cap_s, self.backoff_s * 2 ** (retry_state.attempt_number - 1))
        return ceiling * (0.5 + self.random.random() / 2)

    def _call(self, method, repeatable: bool = True, **kwargs) -> dict:
        """One API call with retries on transient failures; returns the parsed JSON body.

        `repeatable` False: the call changes X (a post), see `_translate`."""
        def attempt():
            try:
                return method(**kwargs)
            except Exception as exc:  # translated, or re-raised by _translate
                raise _translate(exc, repeatable=repeatable) from None

        response = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            retry=tenacity.retry_if_exception_type(TransientError),  # never UnconfirmedPost
            wait=self._backoff, sleep=self.sleep, reraise=True)(attempt)
        remaining = response.headers.get("x-rate-limit-remaining")
        reset = response.headers.get("x-rate-limit-reset")
        if remaining == "0" and reset and reset.isdigit():
            self.exhausted_until = max(self.exhausted_until, float(reset))
        try:
            body = response.json()
        except (json.JSONDecodeError, requests.JSONDecodeError, ValueError):
            raise MalformedResponse(f"not JSON: {response.text[:120]!r}") from None
        if not isinstance(body, dict):
            raise MalformedResponse(f"not a JSON object: {str(body)[:120]!r}")
        return body

    # --- the calls the poller needs -----------------------------------------------------
    def me(self) -> dict:
        data = self._call(self.tweepy.get_me, user_auth=self.write_user_auth).get("data")
        if not isinstance(data, dict) or not {"id", "username"} <= set(data):
            raise MalformedResponse(f"users/me answered {str(data)[:120]!r}")
        return {"id": str(data["id"]), "username": str(data["username"])}

    def _timeline(self, method, user_id: str, since_id: str | None, max_pages: int,
                  max_results: int = 100, **fields) -> tuple[list[Tweet], list[dict], int]:
        """Newest-first pages -> (tweets oldest first, included tweets, malformed count)."""
        tweets, included, malformed, token = [], [], 0, None
        for _ in range(max_pages):
            body = self._call(method, id=user_id, since_id=since_id, pagination_token=token,
                              max_results=max_results, user_auth=self.read_user_auth, **fields)
            data, meta = body.get("data", []), body.get("meta", {})
            if not isinstance(data, list) or not isinstance(meta, dict):
                raise MalformedResponse(f"timeline page answered {str(body)[:120]!r}")
            for item in data:
                try:
                    tweets.append(Tweet.from_api(item))
                except MalformedResponse:
                    malformed += 1
            extra = (body.get("includes") or {}).get("tweets") or []
            included.extend(extra if isinstance(extra, list) else [])
            token = meta.get("next_token")
            if not token:
                break
        tweets.sort(key=lambda t: int(t.id))
        return tweets, included, malformed

    def mentions(self, user_id: str, since_id: str | None,
                 max_pages: int = MAX_PAGES) -> tuple[list[Tweet], dict[str, Tweet], int]:
        """Mentions newer than since_id, oldest first, all pages; plus the tweets they reply to."""
        tweets, included, malformed = self._timeline(
            self.tweepy.get_users_mentions, user_id, since_id, max_pages,
            tweet_fields=TWEET_FIELDS, expansions="referenced_tweets.id,author_id",
        )
        parents = {}
        for item in included:
            try:
                parent = Tweet.from_api(item)
                parents[parent.id] = parent
            except MalformedResponse:
                malformed += 1
        return tweets, parents, malformed

    def newest_mention_id(self, user_id: str) -> str | None:
        body = self._call(self.tweepy.get_users_mentions, id=user_id, max_results=5,
                          user_auth=self.read_user_auth)
        newest = (body.get("meta") or {}).get("newest_id")
        return str(newest) if newest is not None else None

    def lookup(self, ids: list[str]) -> dict[str, Tweet]:
        """Tweets by id (missing or malformed ones are simply absent)."""
        found: dict[str, Tweet] = {}
        for start in range(0, len(ids), 100):
            body = self._call(self.tweepy.get_tweets, ids=ids[start:start + 100],
                              tweet_fields=TWEET_FIELDS, user_auth=self.read_user_auth)
            data = body.get("data", [])
            for item in data if isinstance(data, list) else []:
                try:
                    tweet = Tweet.from_api(item)
                    found[tweet.id] = tweet
                except MalformedResponse:
                    continue
        return found

    def replies_by(self, user_id: str, since_id: str) -> dict[str, str]:
        """{tweet id replied to: reply id} over the user's tweets newer than since_id."""
        tweets, _, _ = self._timeline(self.tweepy.get_users_tweets, user_id, since_id,
                                      max_pages=32, tweet_fields=TWEET_FIELDS)
        return {t.parent_id: t.id for t in tweets if t.parent_id}

    def post_reply(self, text: str, in_reply_to: str) -> str:
        body = self._call(self.tweepy.create_tweet, repeatable=False, text=text,
                          in_reply_to_tweet_id=in_reply_to, user_auth=self.write_user_auth)
        reply_id = (body.get("data") or {}).get("id")
        if reply_id is None:
            raise MalformedResponse(f"create tweet answered {str(body)[:120]!r}")
        return str(reply_id)


def make_client(config: dict, **options) -> XClient:
    """An XClient from the X_* settings; the sandbox's keys when only X_API_BASE is set."""
    keys = {
        "bearer_token": config["x_bearer_token"] or None,
        "consumer_key": config["x_api_key"] or None,
        "consumer_secret": config["x_api_secret"] or None,
        "access_token": config["x_access_token"] or None,
        "access_token_secret": config["x_access_secret"] or None,
    }
    base = config["x_api_base"] or None
    if not any(keys.values()):
        if base is None:
            raise InputError("no X credentials: set X_BEARER_TOKEN and X_API_KEY, X_API_SECRET, "
                             "X_ACCESS_TOKEN, X_ACCESS_SECRET (or X_API_BASE for the sandbox)")
        keys = dict(SANDBOX_CREDENTIALS)
    oauth1 = [keys[k] for k in ("consumer_key", "consumer_secret", "access_token",
                                "access_token_secret")]
    if any(oauth1) and not all(oauth1):
        raise InputError("X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_SECRET "
                         "must be set together")
    client = tweepy.Client(**keys, return_type=requests.Response)
    client.session.mount(X_HOST + "/", BaseUrlAdapter(base, config["x_request_timeout_s"]))
    return XClient(client, attempts=config["x_retry_attempts"],
                   backoff_s=config["x_backoff_s"], **options)
