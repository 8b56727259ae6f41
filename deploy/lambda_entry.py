"""The Lambda function's application module: cold-start setup, then the Flask app.

Zappa's handler imports this module (settings APP_MODULE) once per container, before it
looks at any event, so a web request and the scheduled poll (`handle_scheduled` here)
both find the setup done: the stage's secrets from SSM in the environment and the bundle
from S3 in /tmp, verified (deploy.bootstrap), and the model loaded once, by the app,
for both. `app` is the app object, not the `create_app` factory: Zappa wraps whatever
`app_function` names in its WSGI middleware and calls it once per request.
Deploy-time values come from the function's environment, never from the zip.
"""

from __future__ import annotations

from backend.web.app import create_app
from deploy.bootstrap import cold_start
from model.logs import setup_logging

setup_logging(take_over_root=True)  # Zappa's handler has called basicConfig already
cold_start()
app = create_app()  # reads the environment set up above


def handle_scheduled(event=None, context=None, *args, **kwargs) -> dict:
    """The scheduled poll (Zappa event), answering with the app's model; never raises."""
    from backend.bots.x.poller import handle_scheduled as poll  # tweepy & co: not for web requests

    return poll(event, context, replier=app.extensions["doppel"].replier)
