"""`python -m backend sandbox`: a local X API v2 stand-in, in the shapes tweepy expects,
plus a control API; the state it serves is x_world.py's World.

X API v2 routes: users/me, users/:id/mentions, users/:id/tweets, tweets lookup,
create and delete tweet; rate-limit headers on every answer; X's error bodies (problem
JSON with `title`/`detail`/`type`, or `errors` for invalid requests and missing tweets).
Control routes under /sandbox/ post tweets as anyone, list them, and inject faults (an
error status or body, a delay before the request is carried out, or one after it, before
the answer).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, jsonify, request
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header
from werkzeug.serving import WSGIRequestHandler, make_server

from backend.bots.x.client import SANDBOX_CREDENTIALS
from backend.local.listening import serve_until_stopped
from backend.local.x_world import (
    SANDBOX_USER_BEARER,
    SandboxError,
    World,
)

STATIC = Path(__file__).resolve().parent / "static"
TWEET_FIELDS = {"author_id", "conversation_id", "created_at", "in_reply_to_user_id",
                "referenced_tweets", "edit_history_tweet_ids", "id", "text"}
EXPANSIONS = {"author_id", "referenced_tweets.id", "in_reply_to_user_id",
              "referenced_tweets.id.author_id"}
INVALID = "https://api.twitter.com/2/problems/invalid-request"
STATUS_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
REAL_HOST = "https://api.twitter.com"  # what clients sign OAuth 1.0a requests for


def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> Response:
    return jsonify({"title": title, "detail": detail, "type": kind, "status": status}), status


def invalid(parameter: str, value: str, message: str) -> SandboxError:
    error = SandboxError(400, "Invalid Request", message, INVALID)
    error.parameter, error.value = parameter, value
    return error


def _oauth1_valid(header: str) -> bool:
    """Check an OAuth 1.0a HMAC-SHA1 signature against the sandbox keys."""
    try:
        params = dict(parse_authorization_header(header))
    except ValueError:
        return False
    if (params.get("oauth_consumer_key") != SANDBOX_CREDENTIALS["consumer_key"]
            or params.get("oauth_token") != SANDBOX_CREDENTIALS["access_token"]):
        return False
    query = urlsplit(request.url).query
    for host in (request.host_url.rstrip("/"), REAL_HOST):
        oauth_request = OAuthRequest(f"{host}{request.path}" + (f"?{query}" if query else ""),
                                     http_method=request.method)
        oauth_request.params = oauth_signature.collect_parameters(
            uri_query=query, headers={"Authorization": header}, exclude_oauth_signature=True
        )
        oauth_request.signature = unquote(params.get("oauth_signature", ""))
        if oauth_signature.verify_hmac_sha1(
            oauth_request, SANDBOX_CREDENTIALS["consumer_secret"],
            SANDBOX_CREDENTIALS["access_token_secret"],
        ):
            return True
    return False


def authenticate(need_user: bool) -> str:
    """'app' or 'user' for a valid Authorization header; raise X's 401/403 otherwise."""
    header = request.headers.get("Authorization", "")
    if header == f"Bearer {SANDBOX_CREDENTIALS['bearer_token']}":
        context = "app"
    elif header == f"Bearer {SANDBOX_USER_BEARER}" or (
        header.startswith("OAuth ") and _oauth1_valid(header)
    ):
        context = "user"
    else:
        raise SandboxError(401, "Unauthorized", "Unauthorized")
    if need_user and context != "user":
        raise SandboxError(
            403, "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint. "
            "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
            "https://api.twitter.com/2/problems/unsupported-authentication",
        )
    return context


def _csv(name: str, allowed: set[str]) -> set[str]:
    values = {v for v in request.args.get(name, "").split(",") if v}
    for value in sorted(values - allowed):
        raise invalid(name, value, f"The `{name}` query parameter value [{value}] is not one of "
                      f"[{','.join(sorted(allowed))}]")
    return values


def _id_param(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and not value.isdigit():
        raise invalid(name, value, f"The `{name}` query parameter value [{value}] is not valid")
    return value


def _max_results(default: int) -> int:
    value = request.args.get("max_results", str(default))
    if not value.isdigit() or not 5 <= int(value) <= 100:
        raise invalid("max_results", value,
                      f"The `max_results` query parameter value [{value}] is not between 5 and 100")
    return int(value)


def render(tweet: dict, fields: set[str]) -> dict:
    shown = {"id": tweet["id"], "text": tweet["text"],
             "edit_history_tweet_ids": tweet["edit_history_tweet_ids"]}
    shown.update({f: tweet[f] for f in fields if f in tweet})
    return shown


def tweets_response(world: World, tweets: list[dict], meta: dict | None = None) -> dict:
    """data + includes for the requested tweet.fields and expansions."""
    fields = _csv("tweet.fields", TWEET_FIELDS)
    expansions = _csv("expansions", EXPANSIONS)
    body: dict = {"data": [render(t, fields) for t in tweets]}
    referenced = []
    if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in expansions:
        ids = {ref["id"] for t in tweets for ref in t.get("referenced_tweets", [])}
        referenced = [world.tweet(i) for i in sorted(ids) if world.tweet(i)]
        body.setdefault("includes", {})["tweets"] = [render(t, fields) for t in referenced]
    user_ids = set()
    if "author_id" in expansions:
        user_ids |= {t["author_id"] for t in tweets}
    if "in_reply_to_user_id" in expansions:
        user_ids |= {t["in_reply_to_user_id"] for t in tweets if "in_reply_to_user_id" in t}
    if "referenced_tweets.id.author_id" in expansions:
        user_ids |= {t["author_id"] for t in referenced}
    if user_ids:
        body.setdefault("includes", {})["users"] = [world.users[u] for u in sorted(user_ids)]
    if meta is not None:
        body["meta"] = meta
    if not body["data"]:
        del body["data"]
    return body


def timeline(world: World, tweets: list[dict]) -> dict:
    """A newest-first timeline page: since_id/until_id, max_results, pagination_token."""
    since_id, until_id = _id_param("since_id"), _id_param("until_id")
    size = _max_results(10)
    token = request.args.get("pagination_token")
    if token is not None and not (token.startswith("p") and token[1:].isdigit()):
        raise invalid("pagination_token", token, "The `pagination_token` query parameter is invalid")
    below = int(token[1:]) if token else None
    selected = [t for t in tweets
                if (since_id is None or int(t["id"]) > int(since_id))
                and (until_id is None or int(t["id"]) < int(until_id))
                and (below is None or int(t["id"]) < below)]
    page, rest = selected[:size], selected[size:]
    meta = {"result_count": len(page)}
    if page:
        meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
    if rest:
        meta["next_token"] = f"p{page[-1]['id']}"
    return tweets_response(world, page, meta)


def create_app(world: World) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config["JSON_SORT_KEYS"] = False

    def x_endpoint(endpoint: str, need_user: bool = False):
        """Decorate an X route: faults, auth, rate-limit window and headers, error shapes."""
        def wrap(handler):
            def route(**kwargs):
                now = time.time()
                fault = world.take_fault(endpoint)
                if fault and fault.delay_s:
                    time.sleep(fault.delay_s)
                limit, remaining, reset = world.spend_request(endpoint, now)
                headers = {"x-rate-limit-limit": str(limit),
                           "x-rate-limit-remaining": str(max(remaining, 0)),
                           "x-rate-limit-reset": str(reset)}
                try:
                    if fault and (fault.body is not None or fault.status):
                        response = _fault_response(fault, now, headers)
                    elif remaining < 0:
                        response = problem(429, "Too Many Requests", "Too Many Requests")
                    else:
                        authenticate(need_user)
                        response = handler(**kwargs)
                except SandboxError as error:
                    response = _error_response(error)
                if fault and fault.answer_delay_s:
                    time.sleep(fault.answer_delay_s)
                response = app.make_response(response)
                response.headers.update(headers)
                return response

            route.__name__ = f"x_{endpoint}_{handler.__name__}"
            return route
        return wrap

    @app.get("/2/users/me")
    @x_endpoint("me", need_user=True)
    def me():
        return {"data": world.bot}

    def known_user(user_id: str) -> dict:
        user = world.users.get(user_id)
        if user is None:
            raise invalid("id", user_id, f"The `id` query parameter value [{user_id}] is not valid")
        return user

    @app.get("/2/users/<user_id>/mentions")
    @x_endpoint("mentions")
    def mentions(user_id):
        return timeline(world, world.mentions_of(known_user(user_id)))

    @app.get("/2/users/<user_id>/tweets")
    @x_endpoint("user_tweets")
    def user_tweets(user_id):
        return timeline(world, world.tweets_by(known_user(user_id)))

    def lookup(ids: list[str]) -> dict:
        for value in ids:
            if not value.isdigit():
                raise invalid("ids", value, f"The `ids` query parameter value [{value}] is not valid")
        if not 1 <= len(ids) <= 100:
            raise invalid("ids", ",".join(ids), "The `ids` query parameter needs 1 to 100 ids")
        found = [world.tweet(i) for i in ids if world.tweet(i)]
        body = tweets_response(world, found)
        missing = [i for i in ids if not world.tweet(i)]
        if missing:
            body["errors"] = [{
                "value": i, "detail": f"Could not find tweet with ids: [{i}].",
                "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                "resource_id": i, "type": "https://api.twitter.com/2/problems/resource-not-found",
            } for i in missing]
        return body

    @app.get("/2/tweets")
    @x_endpoint("lookup")
    def tweets_lookup():
        return lookup([i for i in request.args.get("ids", "").split(",") if i])

    @app.get("/2/tweets/<tweet_id>")
    @x_endpoint("lookup")
    def tweet_lookup(tweet_id):
        body = lookup([tweet_id])
        if "data" in body:
            body["data"] = body["data"][0]
        return body

    @app.post("/2/tweets")
    @x_endpoint("create_tweet", need_user=True)
    def create_tweet():
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            raise invalid("body", "", "The request body must be a JSON object")
        reply = payload.get("reply") or {}
        parent = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        tweet = world.create_tweet(world.bot, payload.get("text"), parent,
                                   refuse_duplicates=not world.accept_duplicates)
        return {"data": {"id": tweet["id"], "text": tweet["text"],
                         "edit_history_tweet_ids": tweet["edit_history_tweet_ids"]}}, 201

    @app.delete("/2/tweets/<tweet_id>")
    @x_endpoint("delete_tweet", need_user=True)
    def delete_tweet(tweet_id):
        return {"data": {"deleted": world.delete_tweet(world.bot, tweet_id)}}

    _add_control_routes(app, world)
    return app


def _fault_response(fault, now: float, headers: dict):
    """The injected failure: a given body (malformed answers) or X's error for a status."""
    if fault.body is not None:
        if isinstance(fault.body, str):
            response = Response(fault.body, mimetype="text/html")
        else:
            response = jsonify(fault.body)
        response.status_code = fault.status or 200
        return response
    if fault.status == 429:
        headers["x-rate-limit-remaining"] = "0"
        headers["x-rate-limit-reset"] = str(int(now + fault.reset_in))
        if fault.omit_reset_header:
            del headers["x-rate-limit-reset"]
    title = STATUS_TITLES.get(fault.status, "Error")
    return problem(fault.status, title, title)


def _error_response(error: SandboxError):
    if error.status == 400 and hasattr(error, "parameter"):
        return {"errors": [{"parameters": {error.parameter: [error.value]},
                            "message": error.detail}],
                "title": error.title, "detail": "One or more parameters to your request was invalid.",
                "type": error.kind}, 400
    if error.status == 400:
        return {"errors": [{"message": error.detail}], "title": error.title,
                "detail": error.detail, "type": INVALID}, 400
    return problem(error.status, error.title, error.detail, error.kind)


def full_view(world: World, tweet: dict) -> dict:
    """A tweet with every field and its author's handle (control API and page)."""
    shown = render(tweet, TWEET_FIELDS)
    shown["author"] = world.users[tweet["author_id"]]["username"]
    return shown


def _add_control_routes(app: Flask, world: World) -> None:
    @app.errorhandler(SandboxError)
    def sandbox_error(error):
        return _error_response(error)

    @app.post("/sandbox/tweets")
    def control_post():
        payload = request.get_json(silent=True) or {}
        author = world.user_named(str(payload.get("author", "")))
        created_at = payload.get("created_at")
        if created_at is not None and not isinstance(created_at, int | float):
            raise SandboxError(400, "Invalid Request", "created_at must be epoch seconds")
        parent = payload.get("in_reply_to_tweet_id")
        tweet = world.create_tweet(author, payload.get("text"),
                                   str(parent) if parent is not None else None,
                                   created_at=created_at, refuse_duplicates=False)
        return full_view(world, tweet), 201

    @app.get("/sandbox/tweets")
    def control_list():
        author = request.args.get("author")
        in_reply_to = request.args.get("in_reply_to")
        conversation = request.args.get("conversation_id")
        with world.lock:
            tweets = list(world.tweets.values())
        author_id = world.user_named(author)["id"] if author else None
        selected = [
            full_view(world, t) for t in tweets
            if (author_id is None or t["author_id"] == author_id)
            and (conversation is None or t["conversation_id"] == conversation)
            and (in_reply_to is None or any(r["id"] == in_reply_to
                                            for r in t.get("referenced_tweets", [])))
        ]
        return {"tweets": selected, "bot": world.bot}

    @app.post("/sandbox/faults")
    def control_fault():
        return asdict(world.add_fault(request.get_json(silent=True) or {})), 201

    @app.get("/sandbox/faults")
    def control_faults():
        with world.lock:
            return {"faults": [asdict(f) for f in world.faults if f.count != 0]}

    @app.delete("/sandbox/faults")
    def control_clear_faults():
        with world.lock:
            world.faults.clear()
        return {"faults": []}

    @app.get("/")
    def page():
        return app.response_class((STATIC / "sandbox.html").read_bytes(), mimetype="text/html")

    @app.get("/static/sandbox.<ext>")
    def page_asset(ext):
        types = {"js": "text/javascript", "css": "text/css"}
        if ext not in types:
            return problem(404, "Not Found", "no such file")
        return app.response_class((STATIC / f"sandbox.{ext}").read_bytes(), mimetype=types[ext])


@dataclass
class RunningSandbox:
    url: str
    world: World
    thread: threading.Thread
    _server: object

    def stop(self) -> None:
        self._server.shutdown()
        self.thread.join(timeout=5)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the page polls every second
        pass


def serve(world: World, port: int = 0) -> RunningSandbox:
    """Serve the sandbox on 127.0.0.1:port (0 = a free port) from a background thread."""
    server = make_server("127.0.0.1", port, create_app(world), threaded=True,
                         request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="x-sandbox", daemon=True)
    thread.start()
    return RunningSandbox(f"http://127.0.0.1:{server.server_port}", world, thread, server)


def add_arguments(parser) -> None:
    parser.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--state", type=Path, help="keep the world in this JSON file")
    parser.add_argument("--bot-username", default="doppel", help="the bot's handle")
    parser.add_argument("--accept-duplicates", action="store_true",
                        help="let the bot post duplicate content (tests that count replies)")


def run(args) -> int:
    world = World(bot_username=args.bot_username, state_path=args.state,
                  accept_duplicates=args.accept_duplicates)
    return serve_until_stopped(serve(world, port=args.port), "sandbox_listening",
                               bot=world.bot["username"],
                               accept_duplicates=world.accept_duplicates)
