"""One reply per prompt with any `Decoding`: greedy, sampling, beam search (beam.py),
sample-and-rank and MMI reranking (decode.py), over the same step function."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.serve.beam import Admission, beam_search
from model.serve.decode import (
    Decoding,
    State,
    StepFn,
    TokenRules,
    mmi_scores,
    sample_or_greedy,
    take_rows,
)


def admits(cfg: Decoding) -> bool:
    """Whether `generate` can start prompts as rows free up (`Admission`) with `cfg`:
    a beam search without reranking, the pretrained bundles' default. Sampling and
    reranking still decode in fixed runs."""
    return cfg.strategy == "beam" and cfg.rerank <= 1


def generate(step: StepFn, state: State, rules: TokenRules, cfg: Decoding,
             seeds: Sequence[int | None], lm_state: State | None = None,
             contexts: Sequence[Sequence[int]] | None = None,
             admission: Admission | None = None) -> list[list[int]]:
    """One reply (token ids, no specials around it) per prompt: the rows of `state`, then
    those of `admission` (only where `admits(cfg)`).

    `seeds[i]` seeds row i's sampling (None: fresh entropy). With `cfg.rerank` > 1 each
    row gets N candidates (N samples, or the beam's N best) reranked by `mmi_scores`;
    `lm_state` (one row per batch row, empty context) is then required unless
    `cfg.mmi_lambda` is 0. `contexts[i]` (row i's context ids) is what
    `cfg.no_copy_ngram` keeps the reply from copying.
    """
    if admission is not None and not admits(cfg):
        raise ValueError("only a beam search without reranking starts prompts as rows "
                         "free up")
    batch = len(seeds)
    n = cfg.rerank if cfg.rerank > 1 else 1
    contexts = None if contexts is None or not cfg.no_copy_ngram else \
        [np.asarray(c, dtype=np.int64) for c in contexts]
    conditional: list[list[float]] | None = None
    if cfg.strategy == "beam":
        beams = beam_search(step, state, rules, cfg, keep=n, contexts=contexts,
                            admission=admission)
        candidates = [[tokens for tokens, _ in row] for row in beams]
        if n == 1:
            return [row[0] for row in candidates]
    elif n == 1:
        rngs = [np.random.default_rng(seed) if cfg.strategy == "sample" else None
                for seed in seeds]
        return sample_or_greedy(step, state, rules, cfg, rngs, contexts=contexts)
    else:
        rngs = [np.random.default_rng([seed, j]) if seed is not None else
                np.random.default_rng() for seed in seeds for j in range(n)]
        expanded = take_rows(state, np.repeat(np.arange(batch), n))
        conditional = []
        flat = sample_or_greedy(step, expanded, rules, cfg, rngs, logprobs=conditional,
                                contexts=None if contexts is None else
                                [contexts[b] for b in range(batch) for _ in range(n)])
        candidates = [flat[b * n:(b + 1) * n] for b in range(batch)]
    owner = np.array([b for b, cands in enumerate(candidates) for _ in cands])
    flat = [c for cands in candidates for c in cands]
    scores = mmi_scores(step, take_rows(state, owner),
                        take_rows(lm_state, owner) if lm_state is not None else None,
                        flat, owner, rules, cfg, conditional=conditional)
    best: list[list[int]] = []
    for b in range(batch):
        mine = np.flatnonzero(owner == b)
        best.append(flat[mine[int(np.argmax(scores[mine]))]] if len(mine) else [])
    return best
