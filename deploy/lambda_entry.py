"""The Lambda function's application module: cold-start setup, then the Flask app.

Zappa's handler imports this module (settings APP_MODULE) once per container, before it
looks at any event, so a web request and the scheduled poll
(`backend.poller.handle_scheduled`) both find the setup done:
1. the stage's secrets from SSM into the environment (DOPPEL_SECRETS_STAGE);
2. the model bundle from S3 into /tmp, verified by sha256 (DOPPEL_BUNDLE_S3), and
   DOPPEL_BUNDLE pointed at it;
3. `app`: Zappa wraps whatever `app_function` names in its WSGI middleware and calls it
   per request, so it must name the app object, not the `create_app` factory.
Deploy-time values come from the function's environment, never from the zip.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

import boto3

from backend.app import create_app
from deploy.artifacts import download_bundle
from deploy.secrets_store import load_secrets

BUNDLE_CACHE = "/tmp/doppel-bundles"  # Lambda's only writable place; survives warm starts


def cold_start(environ: MutableMapping[str, str] = os.environ) -> None:
    stage = environ.get("DOPPEL_SECRETS_STAGE")
    if stage:
        load_secrets(boto3.client("ssm"), stage, environ)
    url = environ.get("DOPPEL_BUNDLE_S3")
    if url:
        cache = environ.get("DOPPEL_BUNDLE_CACHE", BUNDLE_CACHE)
        environ["DOPPEL_BUNDLE"] = str(download_bundle(boto3.client("s3"), url, cache))


cold_start()
app = create_app()  # reads the environment set up above
