"""How a stand-in runs as a command: one "listening" line on stdout, then serve until stopped.

`make run` and the tests wait for that line (its `url` says where the stand-in is).
"""

from __future__ import annotations

import json


def serve_until_stopped(server, event: str, **fields) -> int:
    """`server`: a running stand-in (`url`, `thread`, `stop()`)."""
    print(json.dumps({"event": event, "url": server.url, **fields}), flush=True)
    try:
        server.thread.join()
    finally:
        server.stop()
    return 0
