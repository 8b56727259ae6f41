"""Replies per second of the demo in one process: 64 bench messages in one reply_batch,
three timed runs, with the decoding changed by SETTINGS (JSON).

    OMP_NUM_THREADS=1 taskset -c 1 python speed.py '{"beam_width": 3}'  (repository root)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
from serve import MESSAGES

from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest

settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
replier = load_replier("data/models/demo-pretrained", threads=1)
requests = [ReplyRequest(m, [], decoding={"seed": i, **settings})
            for i, m in enumerate(MESSAGES[:64])]
replier.reply_batch(requests[:4])  # warm-up
rates = []
for _ in range(3):
    started = time.perf_counter()
    replier.reply_batch(requests)
    rates.append(round(len(requests) / (time.perf_counter() - started), 2))
print(json.dumps({"settings": settings, "replies_per_s": rates}))
