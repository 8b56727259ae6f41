"""Beam search over a one-step decoder, and continuous batching: prompts that start as
rows free up (`Admission`), their states joined to the running batch's (`join_rows`).

Built on model/serve/decode.py (the step-function contract, constraints, settings);
`generate.generate` calls `beam_search` for `strategy: beam`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from model.serve.decode import (
    PAD,
    SHARED,
    Decoding,
    State,
    StepFn,
    TokenRules,
    constrain,
    log_softmax,
    strip_tokens,
    take_rows,
)


def top_k_ids(values: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """The ids of the k largest entries along the last axis, unordered: [..., V] -> [..., k].

    The k largest lie in the k blocks of `block` entries with the largest maxima, so one
    max per block and a partition of those k blocks' entries find them (ties aside) without
    partitioning all V: np.argpartition over the demo's 49,152 tokens took 9 ms of a 32-row
    beam step. A remainder past the last whole block always stays a candidate.
    """
    size = values.shape[-1]
    whole = size // block
    if whole <= 4 * k:  # a small vocabulary (the LSTM's): partition it all
        return np.argpartition(-values, k - 1, axis=-1)[..., :k]
    lead = values.shape[:-1]
    grouped = values[..., :whole * block].reshape(*lead, whole, block)
    blocks = np.argpartition(-grouped.max(axis=-1), k - 1, axis=-1)[..., :k]  # [..., k]
    ids = (blocks[..., None] * block + np.arange(block)).reshape(*lead, k * block)
    ids = np.concatenate([ids, np.broadcast_to(np.arange(whole * block, size),
                                               (*lead, size - whole * block))], axis=-1)
    candidates = np.take_along_axis(values, ids, axis=-1)
    return np.take_along_axis(ids, np.argpartition(-candidates, k - 1, axis=-1)[..., :k],
                              axis=-1)



def beam_search(step: StepFn, state: State, rules: TokenRules, cfg: Decoding,
                keep: int = 1, contexts: Sequence[np.ndarray] | None = None,
                admission: Admission | None = None,
                ) -> list[list[tuple[list[int], float]]]:
    """Length-normalised beam search; for each prompt, the best `keep` (tokens, score) pairs.

    Rows are expanded to [B*k]. A beam that emitted </s> is frozen: its only continuation
    is another </s> at no cost, and its length stops growing. Candidates are ranked by
    raw log-probability / length**length_penalty, so finished and live beams compete fairly.

    A row is done when all k beams have ended (nothing alive outranks them at its current
    length, as in Hugging Face's default), or with `cfg.early_stopping` as soon as its
    best `keep` have: an average log-probability can still rise, so a live beam might have
    won later, but the tail where losing beams run on to max_len is gone (a demo reply of
    7 tokens took 23 steps on average). Done rows leave the batch, so the graph only runs
    for rows still searching; without early stopping the result is the same either way.
    With `admission`, more prompts start as their k rows free up, a quarter of the slots
    at a time (each start copies the batch's caches once), or as soon as the batch is
    empty. Every row is searched on its own, so a
    prompt's result does not depend on when it started or beside whom (as far as its
    step's logits do not).
    """
    k = max(cfg.beam_width, keep)
    started = next(value for name, value in state.items() if not name.startswith(SHARED)
                   ).shape[0]
    # each searching prompt's context ids (no_copy_ngram), dropped when it is done: a
    # server's search takes prompts for ever
    context_of = None if contexts is None else dict(enumerate(contexts))
    state = take_rows(state, np.repeat(np.arange(started), k))
    scores = np.zeros((0, k), dtype=np.float64)  # [B, k] raw log-probability
    lengths = np.zeros((0, k), dtype=np.int64)  # [B, k] tokens, </s> included
    finished = np.zeros((0, k), dtype=bool)
    written = np.zeros(0, dtype=np.int64)  # [B] steps each row has taken
    history = np.zeros((0, k, 0), dtype=np.int32)  # [B, k, t], PAD before a late row
    tokens = np.zeros(0, dtype=np.int32)
    searching = np.zeros(0, dtype=np.int64)  # the prompt of each row still in the batch
    results: dict[int, list[tuple[list[int], float]]] = {}

    def start(first: int, count: int) -> None:
        nonlocal scores, lengths, finished, written, history, tokens, searching
        fresh = np.zeros((count, k), dtype=np.float64)
        fresh[:, 1:] = -np.inf  # at the start only beam 0 is real
        scores = np.concatenate([scores, fresh])
        lengths = np.concatenate([lengths, np.zeros((count, k), dtype=np.int64)])
        finished = np.concatenate([finished, np.zeros((count, k), dtype=bool)])
        written = np.concatenate([written, np.zeros(count, dtype=np.int64)])
        history = np.concatenate([history, np.full((count, k, history.shape[2]), PAD,
                                                   dtype=np.int32)])
        tokens = np.concatenate([tokens, np.full(count * k, rules.bos, dtype=np.int32)])
        searching = np.concatenate([searching, np.arange(first, first + count)])

    def settle(rows: np.ndarray) -> None:
        final = scores[rows] / np.maximum(lengths[rows], 1) ** cfg.length_penalty  # [r, k]
        for row, ranked, beams in zip(rows, final, history[rows], strict=True):
            order = np.argsort(-ranked, kind="stable")[:keep]
            own = beams[:, beams.shape[1] - written[row]:]
            result = [(strip_tokens(own[i].tolist(), rules), float(ranked[i]))
                      for i in order if np.isfinite(ranked[i])]
            prompt = int(searching[row])
            if context_of is not None:
                del context_of[prompt]
            if admission and admission.done:
                admission.done(prompt, result)
            else:
                results[prompt] = result

    start(0, started)
    slots = max(admission.rows // k, 1) if admission else 0
    while True:
        free = slots - len(searching)
        if free > 0 and (not len(searching) or free >= max(slots // 4, 1)):
            more = admission.take(free, not len(searching))
            if more is not None:
                fresh, fresh_contexts = more
                count = len(fresh_contexts)
                state = admission.join(state, take_rows(fresh, np.repeat(np.arange(count), k)))
                if context_of is not None:
                    context_of.update(zip(range(started, started + count), fresh_contexts,
                                          strict=True))
                start(started, count)
                started += count
        if not len(searching):
            break
        logits, state = step(tokens, state)
        logits = np.array(logits, dtype=np.float32)
        beam_contexts = None if context_of is None else [context_of[b] for b in searching
                                                         for _ in range(k)]
        rows_now = len(searching)
        constrain(logits, history.reshape(rows_now * k, history.shape[2]), rules, cfg,
                  beam_contexts, np.repeat(written, k))
        logp = log_softmax(logits).reshape(rows_now, k, -1)  # [B, k, V]
        frozen = np.full(logp.shape[-1], -np.inf, dtype=logp.dtype)
        frozen[rules.eos] = 0.0
        logp[finished] = frozen
        # Every token of a beam gets the same new length, so only a beam's k most likely
        # tokens can be among the row's k best: rank those k*k candidates, not k*V
        # (partitioning all [B, k*V] in float64 took 7% of a demo batch's time).
        width = min(k, logp.shape[-1])  # a beam wider than the vocabulary: every token
        tokens_k = top_k_ids(logp, width)  # [B, k, w] ids
        raw = scores[:, :, None] + np.take_along_axis(logp, tokens_k, axis=-1)  # float64
        new_len = np.broadcast_to((lengths + ~finished)[:, :, None], raw.shape)  # [B, k, w]
        normalised = raw / np.maximum(new_len, 1) ** cfg.length_penalty
        flat = normalised.reshape(rows_now, -1)  # [B, k*w]
        top = np.argpartition(-flat, k - 1, axis=-1)[:, :k]  # the k best, unordered
        order = np.argsort(-np.take_along_axis(flat, top, axis=-1), axis=-1, kind="stable")
        best = np.take_along_axis(top, order, axis=-1)  # [B, k], best first
        parent = best // width
        token = np.take_along_axis(tokens_k.reshape(rows_now, -1), best, axis=-1)
        scores = np.take_along_axis(raw.reshape(rows_now, -1), best, axis=-1)
        lengths = np.take_along_axis(new_len.reshape(rows_now, -1), best, axis=-1)
        finished = np.take_along_axis(finished, parent, axis=-1) | (token == rules.eos)
        history = np.concatenate([np.take_along_axis(history, parent[:, :, None], axis=1),
                                  token[:, :, None].astype(np.int32)], axis=2)
        written = written + 1
        done = finished[:, :keep].all(axis=1) if cfg.early_stopping else finished.all(axis=1)
        done |= written >= cfg.max_len
        stay = np.flatnonzero(~done)
        if done.any():
            settle(np.flatnonzero(done))
            scores, lengths, finished = scores[stay], lengths[stay], finished[stay]
            history, parent, token = history[stay], parent[stay], token[stay]
            written, searching = written[stay], searching[stay]
            history = history[:, :, history.shape[2] - written.max(initial=0):]
        state = take_rows(state, (stay[:, None] * k + parent).reshape(-1))
        tokens = token.reshape(-1).astype(np.int32)
    return [results[prompt] for prompt in range(len(results))]



# --- continuous batching -----------------------------------------------------------------


def join_rows(state: State, more: State) -> State:
    """Two states as one, `more`'s rows (and shared entries) after `state`'s, each entry
    padded with zeros after its end on its other axes (what every state here masks: a
    shorter context's memory, a shorter past)."""
    return {name: stack([value, more[name]]) for name, value in state.items()}


def stack(parts: Sequence[np.ndarray], fill: float = 0) -> np.ndarray:
    """`parts` concatenated on axis 0, each padded with `fill` after its end on the other
    axes; one copy of each part (np.pad, then np.concatenate, made two)."""
    shape = np.max([part.shape for part in parts], axis=0)
    shape[0] = sum(len(part) for part in parts)
    out = np.zeros(shape, parts[0].dtype) if fill == 0 else np.full(shape, fill,
                                                                     parts[0].dtype)
    start = 0
    for part in parts:
        out[(slice(start, start + len(part)), *map(slice, part.shape[1:]))] = part
        start += len(part)
    return out


@dataclass(frozen=True)
class Admission:
    """Where a beam search gets prompts beyond those it starts with, as rows free up.

    A run whose rows ended one by one used to finish its last reply alone: on 64 bench
    messages, 66 of 140 graph steps ran 4 rows. With admission the batch stays full
    (continuous batching). `take(count, wait)` gives the state of at most `count` more
    prompts (one row each) and their context ids, or None when there are none; with
    `wait` (nothing else to do) it may block until one comes. `join(state, more)` appends
    rows (`join_rows`, or the replier's own). With `done`, each prompt's result goes
    there (with the prompt's index in the order taken) as soon as it is settled, instead
    of being returned at the end: a server's search can run for ever.
    """

    take: Callable[[int, bool], tuple[State, list[np.ndarray]] | None]
    join: Callable[[State, State], State]
    rows: int  # most rows at once
    done: Callable[[int, list[tuple[list[int], float]]], None] | None = None


def admit_from(prompts: Sequence[Sequence[int]], encode: Callable[[Sequence[int]], State],
               start: int) -> Callable[[int, bool], tuple[State, list[np.ndarray]] | None]:
    """An Admission's `take` over a list of prompts from index `start` on; `encode`
    gives the state of some of their indices."""
    taken = start

    def take(count: int, wait: bool) -> tuple[State, list[np.ndarray]] | None:
        nonlocal taken
        chosen = range(taken, min(taken + count, len(prompts)))
        taken = chosen.stop
        return (encode(chosen), [np.asarray(prompts[p], dtype=np.int64) for p in chosen]
                ) if len(chosen) else None

    return take
