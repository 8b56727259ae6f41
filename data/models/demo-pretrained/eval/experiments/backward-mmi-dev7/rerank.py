"""Dev sheet: forward candidates reranked by a backward model P(message | reply).

    PYTHONPATH=. python rerank.py FORWARD_BUNDLE BACKWARD_BUNDLE OUT_DIR SEED COUNT [dev|test]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from model.eval import blind
from model.eval.evaluate import baselines, generate, load_split
from model.eval.scores import request_for
from model.serve import beam, decode
from model.serve.decode import Decoding
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest

FORWARD, BACKWARD, OUT, SEED, COUNT = (Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]),
                                       int(sys.argv[4]), int(sys.argv[5]))
LAMBDA = 1.0
fwd = load_replier(FORWARD, threads=1)
bwd = load_replier(BACKWARD, threads=1, guard=False)
persona = fwd.default_persona
SPLIT = sys.argv[6] if len(sys.argv) > 6 else "dev"
train, dev = load_split(fwd.meta, FORWARD, None, None, SPLIT)
contexts = blind.pick_contexts(dev, [persona], COUNT, SEED)


def candidates(pair, settings, n, seed):
    """(texts, forward mean logp) of n candidates for one context."""
    request = request_for(pair, persona, {}, seed)
    cfg = Decoding.from_dict(settings, base=fwd.decoding)
    ids = fwd.context_ids(request, persona)
    state = fwd.encode([ids], [persona])
    ctx = [np.asarray(ids, dtype=np.int64)]
    if cfg.strategy == "beam":
        rows = beam.beam_search(fwd.step, state, fwd.rules, cfg, keep=n, contexts=ctx)[0]
        toks = [t for t, _ in rows]
    else:
        rngs = [np.random.default_rng([seed, j]) for j in range(n)]
        toks = decode.sample_or_greedy(fwd.step, decode.take_rows(state, np.zeros(n, int)),
                                       fwd.rules, cfg, rngs, contexts=ctx * n)
    texts = [t for t in map(fwd.tokenizer.decode, toks) if not fwd.copies(t)]
    keep = [i for i, t in enumerate(texts) if t.strip()]
    texts = [texts[i] for i in keep]
    forward = [float(np.mean(lp)) for lp in fwd.token_logprobs([request] * len(texts), texts)]
    return texts, forward


def backward_scores(pair, texts):
    message = pair["context"][-1]
    requests = [ReplyRequest(text, [], bwd.default_persona, {}, [persona]) for text in texts]
    return [float(np.mean(lp)) for lp in bwd.token_logprobs(requests, [message] * len(texts))]


systems = {"shipped-beam4": generate(fwd, contexts, {}, SEED, 8, persona),
           "early-beam4": generate(fwd, contexts, {"early_stopping": True}, SEED, 8, persona)}
log = []
for name, settings, n in (("beam4-backward", {"strategy": "beam", "beam_width": 4}, 4),
                          ("sample12-backward", {"strategy": "sample", "temperature": 0.7,
                                                 "top_p": 0.9}, 12)):
    picked = []
    started = time.perf_counter()
    for i, pair in enumerate(contexts):
        texts, forward = candidates(pair, settings, n, SEED + i)
        if not texts:
            picked.append("")
            continue
        back = backward_scores(pair, texts)
        total = [f + LAMBDA * b for f, b in zip(forward, back, strict=True)]
        best = int(np.argmax(total))
        picked.append(texts[best])
        log.append({"system": name, "item": i, "message": pair["context"][-1],
                    "candidates": [{"text": t, "forward": f, "backward": b}
                                   for t, f, b in zip(texts, forward, back, strict=True)], "picked": best})
    print(name, f"{(time.perf_counter() - started) / len(contexts):.2f} s/context", flush=True)
    systems[name] = picked
systems["retrieval"] = baselines(train, contexts)["retrieval"]
systems["real"] = [p["reply"] for p in contexts]
blind.write_sheet(OUT, contexts, systems, SEED)
(OUT.parent / f"{OUT.name}-candidates.json").write_text(json.dumps(log, indent=1))
print("wrote", OUT)
