"""Batched decoding over a one-step decoder: greedy, beam, sampling, MMI-antiLM reranking.

Everything here is numpy. The model is seen only through a *step function*:

    step(tokens, state) -> (logits, new_state)
        tokens  int32 [N]          previous token of each row (<s> first)
        state   {name: [N, ...]}   everything the step needs, batch on axis 0
        logits  float32 [N, V]

Because every state tensor has batch on axis 0, beam search and candidate expansion are
plain fancy indexing (`take_rows`). The ONNX runtime and the toy LMs in the tests are
both just step functions. Beam search and continuous batching are in beam.py, and
generate.py picks the strategy.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

State = dict[str, np.ndarray]
StepFn = Callable[[np.ndarray, State], tuple[np.ndarray, State]]

STRATEGIES = ("greedy", "beam", "sample")
NULLABLE = ("seed", "length_bonus")
MAX_SEED = 2**32 - 1  # numpy's generators take seeds in [0, 2**32)
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
            "seed": self.seed is not None and not 0 <= self.seed <= MAX_SEED,
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
    # [V]: each token's id with its capitals lowered (case_fold_table), so no_copy_ngram
    # also catches a copy that only changed case; None compares ids as they are
    fold: np.ndarray | None = field(default=None, compare=False, repr=False)


def case_fold_table(vocab: dict[str, int]) -> np.ndarray:
    """[V]: the id of each token with its ASCII capitals lowered where the vocabulary has
    that token, else its own id ("ĠParis" -> "Ġparis"). Only ASCII: a byte-level BPE
    writes other bytes as stand-in characters, which lowering would turn into other bytes."""
    lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    fold = np.arange(max(vocab.values()) + 1)
    for token, token_id in vocab.items():
        fold[token_id] = vocab.get(token.translate(lower), token_id)
    return fold


SHARED = "shared:"  # a state entry not per row (a pretrained prompt's cache): never reindexed
PAD = -1  # in a history, before the first token of a row that started later


def take_rows(state: State, rows: np.ndarray) -> State:
    return {name: value if name.startswith(SHARED) else value[rows]
            for name, value in state.items()}


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
        block_copied_ngrams(logits, history, contexts, cfg.no_copy_ngram, rules.fold)
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
                        contexts: Sequence[np.ndarray], n: int,
                        fold: np.ndarray | None = None) -> None:
    """Ban every token that would complete an n-gram of the row's context.

    A reply that repeats the message it answers ("I wouldnt have expected you to be in
    south carolina" to "I wouldnt have expected you to / Its in south carolina") is the
    commonest nonsense of likelihood-seeking decoding (beam, sample-and-rank). n >= 2.
    With `fold` (case_fold_table) tokens compare without case, and every case of the
    completing token is banned: "i am going to paris" is not answered "I am going to Paris".
    """
    prefixes = history[:, history.shape[1] - n + 1:]  # [N, n-1]: the last generated tokens
    if fold is not None:
        prefixes = np.where(prefixes == PAD, PAD, fold[prefixes])
    for row, context in enumerate(contexts):
        if len(context) < n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(
            context if fold is None else fold[context], n)  # [W, n]
        completing = windows[(windows[:, :-1] == prefixes[row]).all(axis=-1), -1]
        if fold is not None and len(completing):
            completing = np.flatnonzero(np.isin(fold, completing))  # every case of them
        logits[row, completing] = NEG_INF


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
