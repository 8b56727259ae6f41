"""Batched decoding over a one-step decoder: greedy, beam, sampling, MMI-antiLM reranking.

Everything here is numpy. The model is seen only through a *step function*:

    step(tokens, state) -> (logits, new_state)
        tokens  int32 [N]          previous token of each row (<s> first)
        state   {name: [N, ...]}   everything the step needs, batch on axis 0
        logits  float32 [N, V]

Because every state tensor has batch on axis 0, beam search and candidate expansion are
plain fancy indexing (`take_rows`). The ONNX runtime and the toy LMs in the tests are
both just step functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

State = dict[str, np.ndarray]
StepFn = Callable[[np.ndarray, State], tuple[np.ndarray, State]]

STRATEGIES = ("greedy", "beam", "sample")
NULLABLE = ("seed", "length_bonus")
NEG_INF = np.float32(-1e9)  # finite, so sums of banned scores never turn into NaN


@dataclass(frozen=True)
class Decoding:
    """How to turn logits into a reply. `from_dict` validates user-supplied settings.

    The defaults are what `python -m model eval data/models/demo --sweep` chose on the
    demo bundle (plain sampling at temperature 1 with the repetition guards: best quality
    within the 20 ms budget; see model/eval/evaluate.py). A bundle's `decoding` overrides them.
    """

    strategy: str = "sample"
    beam_width: int = 4
    temperature: float = 1.0
    top_k: int = 0  # 0 = no top-k cut
    top_p: float = 1.0  # 1.0 = no nucleus cut
    repetition_penalty: float = 1.2  # CTRL-style; 1.0 = off
    no_repeat_ngram: int = 3  # 0 = off
    no_copy_ngram: int = 0  # n >= 2: never repeat an n-gram of the context (no parroting); 0 = off
    min_len: int = 1
    max_len: int = 40
    rerank: int = 0  # N candidates reranked with MMI-antiLM; 0 or 1 = off
    mmi_lambda: float = 0.5
    mmi_gamma: int = 5  # the anti-LM penalises only the first gamma tokens (Li et al. 2016a)
    length_bonus: float | None = None  # per token in the rerank score; None: automatic
    length_penalty: float = 1.0  # beam: score / length**length_penalty
    early_stopping: bool = False  # beam: a row ends once its best `rerank or 1` beams ended
    ground: float = 0.0  # runtime: retrieval similarity above which the hit is grounding
    seed: int | None = None

    @classmethod
    def from_dict(cls, settings: dict | None, base: Decoding | None = None) -> Decoding:
        """`base` updated with `settings`; unknown keys or bad values raise ValueError."""
        base = base or cls()
        settings = dict(settings or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in settings.items():
            if key not in fields:
                raise ValueError(f"unknown decoding setting {key!r}; known: {', '.join(fields)}")
            settings[key] = _coerce(key, value, getattr(base, key))
        if settings.get("strategy") == "greedy":
            # greedy has one candidate: a base's sample-and-rank (say, a bundle default a
            # sweep chose) does not carry over to a request for greedy decoding
            settings.setdefault("rerank", 0)
        decoding = dataclasses.replace(base, **settings)
        decoding.check()
        return decoding

    def check(self) -> None:
        problems = {
            "strategy": self.strategy not in STRATEGIES,
            "beam_width": self.beam_width < 1,
            "temperature": self.temperature <= 0,
            "top_k": self.top_k < 0,
            "top_p": not 0 < self.top_p <= 1,
            "repetition_penalty": self.repetition_penalty <= 0,
            "no_repeat_ngram": self.no_repeat_ngram < 0,
            "no_copy_ngram": self.no_copy_ngram < 0 or self.no_copy_ngram == 1,
            "min_len": self.min_len < 0,
            "max_len": self.max_len < 1,
            "rerank": self.rerank < 0 or (self.rerank > 1 and self.strategy == "greedy"),
            "mmi_gamma": self.mmi_gamma < 0,
            "ground": not 0 <= self.ground <= 1,
        }
        for key, bad in problems.items():
            if bad:
                hint = " (rerank needs strategy 'sample' or 'beam')" if key == "rerank" else ""
                raise ValueError(f"bad decoding setting {key}={getattr(self, key)!r}{hint}")

    def without_seed(self) -> Decoding:
        """Requests whose settings differ only in the seed can share one batched run."""
        return dataclasses.replace(self, seed=None)


def _coerce(key: str, value, default):
    if key in NULLABLE and value is None:
        return None
    if key == "seed":
        kind = int
    elif key == "length_bonus":
        kind = float
    elif key == "strategy":
        kind = str
    else:
        kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"bad decoding setting {key}={value!r}: expected true or false")
        return value
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise ValueError(f"bad decoding setting {key}={value!r}: expected {kind.__name__}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad decoding setting {key}={value!r}: expected {kind.__name__}") from None


@dataclass(frozen=True)
class TokenRules:
    """Token ids the decoder treats specially."""

    bos: int
    eos: int
    brk: int
    banned: tuple[int, ...]  # never generated: <pad>, <unk>, <s>, <sep>, speakers, PII


SHARED = "shared:"  # a state entry not per row (a pretrained prompt's cache): never reindexed
PAD = -1  # in a history, before the first token of a row that started later


def take_rows(state: State, rows: np.ndarray) -> State:
    return {name: value if name.startswith(SHARED) else value[rows]
            for name, value in state.items()}


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
    there as soon as it is settled, in the order prompts were taken, instead of being
    returned at the end: a server's search can run for ever.
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


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --- constraints shared by every strategy -------------------------------------------------


def constrain(logits: np.ndarray, history: np.ndarray, rules: TokenRules, cfg: Decoding,
              contexts: Sequence[np.ndarray] | None = None,
              lengths: np.ndarray | None = None) -> None:
    """Apply bans and penalties in place. logits [N, V]; history [N, t] generated so far;
    contexts: each row's context ids (for no_copy_ngram). Rows that started later (a beam
    search's admitted prompts) give their `lengths` [N]: their history's last tokens,
    after PAD."""
    rows, length = history.shape
    lengths = np.full(rows, length) if lengths is None else lengths
    logits[:, list(rules.banned)] = NEG_INF
    if cfg.repetition_penalty != 1.0 and length:
        # only the tokens each row wrote, not [N, V] masks: a token written twice gets the
        # same value twice (each computed from the logit before the penalty)
        written = (history != rules.brk) & (history != PAD)  # bubbles may always break again
        row, token = np.nonzero(written)[0], history[written]
        seen = logits[row, token]
        logits[row, token] = np.where(seen > 0, seen / cfg.repetition_penalty,
                                      seen * cfg.repetition_penalty)
    if cfg.no_repeat_ngram and length >= cfg.no_repeat_ngram:
        block_repeated_ngrams(logits, history, cfg.no_repeat_ngram)
    if cfg.no_copy_ngram and contexts is not None and length >= cfg.no_copy_ngram - 1:
        block_copied_ngrams(logits, history, contexts, cfg.no_copy_ngram)
    logits[lengths < cfg.min_len, rules.eos] = NEG_INF
    logits[lengths == 0, rules.brk] = NEG_INF  # never start with a bubble break
    if length:
        after_break = history[:, -1] == rules.brk
        logits[after_break, rules.brk] = NEG_INF  # no empty bubbles
        logits[after_break, rules.eos] = NEG_INF  # never end on a break


def block_repeated_ngrams(logits: np.ndarray, history: np.ndarray, n: int) -> None:
    """Ban every token that would complete an n-gram already in the row's history
    (n-grams with PAD, before a late row's first token, are none)."""
    windows = np.lib.stride_tricks.sliding_window_view(history, n, axis=1)  # [N, W, n]
    real = windows[:, :, 0] != PAD  # PAD only leads a row, so a window's first tells
    if n == 1:
        rows, cols = np.nonzero(real)
    else:
        prefix = history[:, history.shape[1] - n + 1:]  # [N, n-1]: the last n-1 tokens
        rows, cols = np.nonzero((windows[:, :, :-1] == prefix[:, None, :]).all(axis=-1) & real)
    logits[rows, windows[rows, cols, -1]] = NEG_INF


def block_copied_ngrams(logits: np.ndarray, history: np.ndarray,
                        contexts: Sequence[np.ndarray], n: int) -> None:
    """Ban every token that would complete an n-gram of the row's context.

    A reply that repeats the message it answers ("I wouldnt have expected you to be in
    south carolina" to "I wouldnt have expected you to / Its in south carolina") is the
    commonest nonsense of likelihood-seeking decoding (beam, sample-and-rank). n >= 2.
    """
    for row, context in enumerate(contexts):
        if len(context) < n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(context, n)  # [W, n]
        prefix = history[row, history.shape[1] - n + 1:]  # the last n-1 generated tokens
        logits[row, windows[(windows[:, :-1] == prefix).all(axis=-1), -1]] = NEG_INF


def filter_top(logits: np.ndarray, top_k: int, top_p: float) -> np.ndarray:
    """Keep the top-k and the nucleus (top-p) of each row; the rest become NEG_INF.

    The nucleus is the smallest set of most likely tokens whose mass reaches top_p
    (tokens tied with its least likely member stay too).
    """
    logits = logits.copy()
    if top_k and top_k < logits.shape[-1]:
        kth = np.partition(logits, -top_k, axis=-1)[:, -top_k][:, None]
        logits[logits < kth] = NEG_INF
    if top_p < 1.0:
        probs = np.exp(log_softmax(logits))  # [N, V]
        ranked = -np.sort(-probs, axis=-1)
        before = np.cumsum(ranked, axis=-1) - ranked  # mass strictly above each rank
        kept = (before < top_p).sum(axis=-1)  # >= 1: the first rank has nothing above it
        threshold = ranked[np.arange(len(ranked)), kept - 1][:, None]
        logits[probs < threshold] = NEG_INF
    return logits


# --- greedy and sampling -------------------------------------------------------------------


def sample_or_greedy(step: StepFn, state: State, rules: TokenRules, cfg: Decoding,
                     rngs: Sequence[np.random.Generator | None],
                     logprobs: list[list[float]] | None = None,
                     contexts: Sequence[np.ndarray] | None = None) -> list[list[int]]:
    """One sequence per row; a row with an rng samples, a row with None takes the argmax.

    Each sampling row draws exactly one uniform number per step from its own generator,
    so its output does not depend on which other rows share the batch. Finished rows
    leave the batch, so the graph only runs for rows still writing.

    When `logprobs` is a list, it receives per row the model's raw log-probability (no
    bans, penalties or temperature) of each generated token, </s> included: what
    `sequence_logprobs` would compute afterwards, without a second pass.
    """
    results: list[list[int]] = [[] for _ in rngs]
    scored: list[list[float]] = [[] for _ in rngs]
    active = np.arange(len(rngs))  # original row of each batch row
    tokens = np.full(len(rngs), rules.bos, dtype=np.int32)
    history = np.zeros((len(rngs), 0), dtype=np.int32)  # [N, t]
    raw = np.zeros((len(rngs), 0), dtype=np.float64)  # [N, t] raw logp of each token
    for _ in range(cfg.max_len):
        logits, state = step(tokens, state)
        logits = np.array(logits, dtype=np.float32)  # [N, V], writable copy
        if logprobs is not None:
            model_logp = log_softmax(logits.astype(np.float64))
        constrain(logits, history, rules, cfg,
                  None if contexts is None else [contexts[row] for row in active])
        chosen = logits.argmax(axis=-1)
        sampling = [i for i, row in enumerate(active) if rngs[row] is not None]
        if sampling:
            scaled = filter_top(logits[sampling] / cfg.temperature, cfg.top_k, cfg.top_p)
            cumulative = np.cumsum(np.exp(log_softmax(scaled)), axis=-1)  # [n, V]
            draws = np.array([rngs[active[i]].random() for i in sampling]) * cumulative[:, -1]
            picked = (cumulative <= draws[:, None]).sum(axis=-1)
            chosen[sampling] = np.minimum(picked, cumulative.shape[1] - 1)
        history = np.concatenate([history, chosen[:, None].astype(np.int32)], axis=1)
        if logprobs is not None:
            picked_logp = model_logp[np.arange(len(chosen)), chosen]
            raw = np.concatenate([raw, picked_logp[:, None]], axis=1)
        finished = chosen == rules.eos
        if finished.any():
            for i in np.flatnonzero(finished):
                results[active[i]], scored[active[i]] = history[i].tolist(), raw[i].tolist()
            keep = ~finished
            active, history, raw, chosen = active[keep], history[keep], raw[keep], chosen[keep]
            state = take_rows(state, keep)
            if not len(active):
                break
        tokens = chosen.astype(np.int32)
    for i, row in enumerate(active):
        results[row], scored[row] = history[i].tolist(), raw[i].tolist()
    if logprobs is not None:
        logprobs.extend(scored)
    return [strip_tokens(row, rules) for row in results]


def strip_tokens(tokens: list[int], rules: TokenRules) -> list[int]:
    """Cut at </s>; drop leading/trailing breaks and collapse repeated ones."""
    if rules.eos in tokens:
        tokens = tokens[:tokens.index(rules.eos)]
    out: list[int] = []
    for token in tokens:
        if token == rules.brk and (not out or out[-1] == rules.brk):
            continue
        out.append(token)
    while out and out[-1] == rules.brk:
        out.pop()
    return out


# --- beam search ---------------------------------------------------------------------------


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
    at a time (each start copies the batch's caches once: one at a time answered ~5%
    slower), or as soon as the batch is empty. Every row is searched on its own, so a
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


# --- teacher forcing and MMI reranking ---------------------------------------------------


def sequence_logprobs(step: StepFn, state: State, targets: Sequence[Sequence[int]],
                      rules: TokenRules) -> list[np.ndarray]:
    """Log-probability of each token of `target + </s>` under teacher forcing.

    One batched pass, raw model probabilities (no bans or penalties). Row i of `state`
    scores targets[i]. Returns one float64 array of length len(target)+1 per row.
    """
    rows = len(targets)
    longest = max(len(t) for t in targets) + 1
    gold = np.full((rows, longest), rules.eos, dtype=np.int32)
    for i, target in enumerate(targets):
        gold[i, :len(target)] = target
    tokens = np.full(rows, rules.bos, dtype=np.int32)
    logps = np.zeros((rows, longest), dtype=np.float64)
    for t in range(longest):
        logits, state = step(tokens, state)
        logp = log_softmax(np.asarray(logits, dtype=np.float64))
        logps[:, t] = logp[np.arange(rows), gold[:, t]]
        tokens = gold[:, t]
    return [logps[i, :len(target) + 1] for i, target in enumerate(targets)]


def mmi_scores(step: StepFn, state: State, lm_state: State | None,
               candidates: Sequence[Sequence[int]], owner: np.ndarray, rules: TokenRules,
               cfg: Decoding, conditional: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """score = log p(T|S) - lambda * log U(T)[first gamma tokens] + length_bonus * |T|.

    `state` has one row per candidate (its source); `lm_state` one row per candidate
    encoded from an *empty* context. Running the same decoder without a source stands in
    for the separately trained language model U(T) of Li et al. (2016a): it is what the
    decoder predicts from the persona and its own prefix alone, which is exactly the
    generic-reply prior MMI-antiLM wants to subtract. With mmi_lambda 0 this is Meena's
    sample-and-rank: no anti-LM pass, and no `lm_state` needed.

    `conditional` (per-token log p(T|S), </s> included) skips the teacher-forced pass
    when the sampler already recorded it.

    Li et al. tune the length weight on a dev set. `length_bonus=None` uses, for each
    request (`owner` groups the candidates), the mean per-token NLL of its candidates:
    a summed log p(T|S) then no longer prefers short replies just for being short.
    """
    if conditional is None:
        conditional = sequence_logprobs(step, state, candidates, rules)
    lengths = np.array([len(c) for c in candidates], dtype=np.float64)
    cond = np.array([np.sum(c) for c in conditional])
    anti = np.zeros(len(candidates))
    if cfg.mmi_lambda:
        if lm_state is None:
            raise ValueError("MMI reranking needs lm_state (the decoder state of an empty "
                             "context)")
        unconditional = sequence_logprobs(step, lm_state, candidates, rules)
        anti = np.array([u[:min(cfg.mmi_gamma, len(c))].sum()
                         for c, u in zip(candidates, unconditional, strict=True)])
    if cfg.length_bonus is not None:
        bonus = np.full(len(candidates), cfg.length_bonus)
    else:
        tokens = np.array([len(c) for c in conditional], dtype=np.float64)  # with </s>
        bonus = np.zeros(len(candidates))
        for row in np.unique(owner):
            mine = owner == row
            bonus[mine] = -cond[mine].sum() / tokens[mine].sum()
    return cond - cfg.mmi_lambda * anti + bonus * lengths


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
