"""Serve a model bundle without TensorFlow: numpy + onnxruntime + tokenizers.

    load_replier(bundle_dir)            (model/serve/load.py) verify sha256s, open the
                                        graphs once, and the memorisation guard
    replier.reply("hi", context=[...])  one Reply(text, messages, persona)
    replier.reply_batch([ReplyRequest]) many at once; requests whose decoding settings
                                        differ only in the seed share one batched run

The encoder graph turns context ids [B, S] into `memory` [B, S, H] and the initial
decoder `state_*`; the step graph maps (token, persona, memory, memory_mask, state_*) to
(logits, state_*). `model.serve.decode` drives the step graph as a step function. A Replier
holds no per-request state, and onnxruntime sessions may be run from several threads at
once, so one Replier is shared by every thread of a server.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from model.pii import PII_TOKENS, strip_placeholders
from model.serve import beam, decode, generate
from model.serve.bundle import BundleError, verify_bundle
from model.serve.decode import Decoding, State, TokenRules, case_fold_table
from model.serve.memorisation import MemorisationGuard
from model.serve.retrieval import FILE_NAME as RETRIEVAL_FILE
from model.serve.retrieval import Hit, RetrievalIndex
from model.serve.tokenizer import Tokenizer
from model.text import words

REQUIRED_FILES = ("tokenizer.json", "encoder.onnx", "decoder_step.onnx")
# A reply the memorisation guard withholds, or one that says again what the persona
# already said in this chat, is drawn again this many times, by sampling: beam search
# would find the same reply, a sample takes another path.
GUARD_REDRAWS = 3
REDRAW = {"strategy": "sample", "temperature": 0.8, "top_p": 0.9, "rerank": 0}
logger = logging.getLogger("doppel.model")


class UnknownPersona(ValueError):
    """A persona the bundle was not trained on; the message lists the known ones."""


@dataclass
class ReplyRequest:
    message: str
    context: list[str] = field(default_factory=list)  # earlier turns, oldest first
    persona: str | None = None  # None: the bundle's default persona
    decoding: dict = field(default_factory=dict)  # Decoding settings, e.g. {"seed": 3}
    speakers: list[str | None] | None = None  # speaker of each of context + [message]

    @classmethod
    def from_turns(cls, message: str, turns: Sequence[tuple[str, str | None]],
                   persona: str | None = None, decoding: dict | None = None) -> ReplyRequest:
        """A reply to `message` after `turns` (text, speaker), oldest first: the speaker is
        the persona for the bot's own turns, None for the people it talks to."""
        speakers = [speaker for _, speaker in turns] + [None]
        return cls(message, [text for text, _ in turns], persona, dict(decoding or {}),
                   speakers if any(speakers) else None)


@dataclass
class Reply:
    text: str  # bubbles joined by " <brk> "
    messages: list[str]  # the bubbles
    persona: str


class Replier:
    """A loaded bundle that answers messages. Thread-safe; load once, share."""

    MAX_DECODE_ROWS = 1024  # an LSTM row's state is a few kB: the batcher's size rules

    def __init__(self, bundle_dir: Path, meta: dict, tokenizer: Tokenizer,
                 encoder: ort.InferenceSession, step: ort.InferenceSession):
        self._bundle_settings(bundle_dir, meta, max_len=meta.get("max_reply_tokens", 42) - 2)
        self.tokenizer = tokenizer
        self._encoder = encoder
        self._step = step
        self._encoder_outputs = [o.name for o in encoder.get_outputs()]
        self._step_inputs = [i.name for i in step.get_inputs()]
        self._step_outputs = [o.name for o in step.get_outputs()]
        self._state_of_output = _match_states(self._step_inputs, self._step_outputs,
                                              bundle_dir / "decoder_step.onnx")
        # Besides the specials, PII placeholders: "<phone>" is no answer to anybody.
        placeholders = {tokenizer.hf.token_to_id(token) for token in PII_TOKENS} - {None}
        banned = {tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.sep_id,
                  *tokenizer.speaker_ids.values(), *placeholders}
        self.rules = TokenRules(bos=tokenizer.bos_id, eos=tokenizer.eos_id,
                                brk=tokenizer.brk_id, banned=tuple(sorted(banned)),
                                fold=case_fold_table(tokenizer.hf.get_vocab(with_added_tokens=True)))

    def _bundle_settings(self, bundle_dir: Path, meta: dict, max_len: int) -> None:
        """What every kind of bundle shares: names, personas, default decoding, retrieval."""
        self.bundle_dir = bundle_dir
        self.meta = meta
        self.name: str = meta["name"]
        self.personas: list[str] = list(meta["personas"])
        self.default_persona: str = meta.get("default_persona") or self.personas[0]
        try:
            self.decoding = Decoding.from_dict(meta.get("decoding"),
                                               base=Decoding(max_len=max(max_len, 1)))
        except ValueError as exc:
            raise BundleError(f"decoding: {exc}", path=str(bundle_dir / "bundle.json")) from None
        self._retrieval: RetrievalIndex | None = None
        self._retrieval_lock = threading.Lock()
        self.guard: MemorisationGuard | None = None  # set by load_replier()

    @classmethod
    def load(cls, bundle_dir: Path, threads: int = 1) -> Replier:
        """An LSTM or Transformer bundle: its tokenizer and its two ONNX graphs
        (model/serve/load.py's load_replier opens a bundle of any kind)."""
        meta = verify_bundle(bundle_dir, required=REQUIRED_FILES)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

        def session(name: str) -> ort.InferenceSession:
            return ort.InferenceSession(str(bundle_dir / name), options,
                                        providers=["CPUExecutionProvider"])

        return cls(bundle_dir, meta, Tokenizer.load(bundle_dir), session("encoder.onnx"),
                   session("decoder_step.onnx"))

    # --- public API ---------------------------------------------------------------------

    def reply(self, message: str, context: Sequence[str] = (), persona: str | None = None,
              **decoding) -> Reply:
        return self.reply_batch([ReplyRequest(message, list(context), persona, decoding)])[0]

    def reply_batch(self, requests: Sequence[ReplyRequest]) -> list[Reply]:
        """Replies in request order. Bad settings raise ValueError, bad personas UnknownPersona."""
        settings = [Decoding.from_dict(r.decoding, base=self.decoding) for r in requests]
        personas = [self.persona_name(r.persona) for r in requests]
        groups: dict[Decoding, list[int]] = {}
        for index, cfg in enumerate(settings):
            groups.setdefault(cfg.without_seed(), []).append(index)
        replies: list[Reply | None] = [None] * len(requests)
        ids = {i: self.context_ids(requests[i], personas[i], cfg.ground)
               for cfg, members in groups.items() for i in members}
        for cfg, members in groups.items():
            # a run pads its prompts to the longest: prompts of like length run together
            # (the 256 bench messages in runs of 8 were 58% padding in request order, 18%
            # sorted within each 32)
            members = sorted(members, key=lambda i: len(ids[i]))
            seeds = [settings[i].seed for i in members]
            prompts = [ids[i] for i in members]
            texts = self._decode(personas, cfg, members, seeds, prompts)
            texts = self._redraw_unfit(requests, personas, cfg, members, seeds, prompts, texts)
            for i, text in zip(members, texts, strict=True):
                replies[i] = self._reply(text, personas[i])
        return replies

    @property
    def continuous(self) -> bool:
        """Whether `reply_stream` keeps one search running: the bundle's default decoding
        is a beam search without reranking (generate.admits)."""
        return generate.admits(self.decoding)

    def reply_stream(self, take: Callable[[int, bool], list[tuple[ReplyRequest, Any]]],
                     give: Callable[[Any, Reply | Exception], None]) -> None:
        """Answer requests as they come, until `take` gives none with nothing in flight.

        `take(count, wait)`: at most `count` waiting (request, tag) pairs; with `wait`
        (nothing in flight) it blocks for one, and none ends the stream. `give(tag, reply
        or exception)` answers one. Requests with the bundle's default decoding join one
        running beam search as its rows free up (beam.Admission), and each reply goes
        back as soon as it is done: no request waits for a slower batch-mate, and the batch
        stays full under load. Any other request (sampling, reranking) is answered with
        `reply_batch` beside those taken with it; a bad one gets its own error.
        """
        default = self.decoding.without_seed()
        admitted: dict[int, tuple[ReplyRequest, Any, str, Decoding, list[int]]] = {}
        taken = 0

        def admit(count: int, wait: bool) -> tuple[State, list[np.ndarray]] | None:
            nonlocal taken
            while items := take(count, wait):
                joining, others = [], []
                for request, tag in items:
                    try:
                        settings = Decoding.from_dict(request.decoding, base=self.decoding)
                        persona = self.persona_name(request.persona)
                    except ValueError as exc:  # bad settings, UnknownPersona
                        give(tag, exc)
                        continue
                    if settings.without_seed() != default:
                        others.append((request, tag))
                        continue
                    ids = self.context_ids(request, persona, settings.ground)
                    joining.append((request, tag, persona, settings, ids))
                answer_each(self.reply_batch, others, give)
                if joining:
                    for item in joining:
                        admitted[taken] = item
                        taken += 1
                    return (self.encode([ids for *_, ids in joining],
                                        [persona for _, _, persona, _, _ in joining]),
                            [np.asarray(ids, np.int64) for *_, ids in joining])
                if not wait:
                    break
            return None

        def done(prompt: int, result: list[tuple[list[int], float]]) -> None:
            request, tag, persona, settings, ids = admitted.pop(prompt)
            (text,) = self._redraw_unfit([request], [persona], default, [0], [settings.seed],
                                         [ids], [self._text(result[0][0] if result else [])])
            give(tag, self._reply(text, persona))

        first = admit(self._requests_per_run(default), True)
        if first is not None:
            state, contexts = first
            generate.generate(self.step, state, self.rules, default, [None] * len(contexts),
                              contexts=contexts,
                              admission=beam.Admission(admit, self.join, self.MAX_DECODE_ROWS,
                                                       done))

    def _decode(self, personas: Sequence[str], cfg: Decoding, members: Sequence[int],
                seeds: Sequence[int | None], ids: Sequence[list[int]]) -> list[str]:
        """The reply text of each request in `members` (prompt `ids`), decoded with `cfg`
        at most `_requests_per_run` at a time: a beam search starts the next prompt as
        soon as a reply is done (beam.Admission), other strategies run in turn."""
        names = [personas[i] for i in members]
        size = self._requests_per_run(cfg)

        def encode(prompts: Sequence[int]) -> State:
            return self.encode([ids[p] for p in prompts], [names[p] for p in prompts])

        if generate.admits(cfg):
            first = range(min(size, len(ids)))
            admission = beam.Admission(beam.admit_from(ids, encode, first.stop), self.join,
                                       self.MAX_DECODE_ROWS)
            outputs = generate.generate(self.step, encode(first), self.rules, cfg, seeds,
                                        contexts=[ids[p] for p in first], admission=admission)
        else:
            outputs = []
            for start in range(0, len(ids), size):
                run = range(start, min(start + size, len(ids)))
                lm_state = (self.scoring(self.empty_context([names[p] for p in run]),
                                         range(len(run)), [ids[p] for p in run])
                            if cfg.rerank > 1 and cfg.mmi_lambda != 0 else None)
                outputs += generate.generate(self.step, encode(run), self.rules, cfg,
                                             seeds[run.start:run.stop], lm_state=lm_state,
                                             contexts=[ids[p] for p in run])
        return [self._text(tokens) for tokens in outputs]

    def _text(self, tokens: list[int]) -> str:
        """A reply's text from its token ids (PII placeholders never reach a person)."""
        return strip_placeholders(self.tokenizer.decode(tokens))

    def _reply(self, text: str, persona: str) -> Reply:
        return Reply(text, self.tokenizer.split_messages(text), persona)

    def copies(self, text: str) -> bool:
        """Whether `text` repeats a rare stretch of a training reply (never without a guard)."""
        return self.guard is not None and self.guard.copies(self.tokenizer.encode_text(text))

    def says_again(self, request: ReplyRequest, persona: str, text: str) -> bool:
        """Whether `text` is, word for word (case and punctuation aside), one of the
        persona's own earlier turns in this chat: the turns whose speaker is the persona,
        as the chat page and the bots record the bot's replies. Meena removes such
        cross-turn repetitions too; the demo repeated itself in 3 of 200 validation
        contexts ("yeah I agree" after "yeah i agree"), the real replies in none."""
        said = _wording(text)
        # zip stops at the context's end: speakers has one more entry, the message's
        return bool(said) and request.speakers is not None and any(
            speaker == persona and _wording(turn) == said
            for turn, speaker in zip(request.context, request.speakers, strict=False))

    def _redraw_unfit(self, requests: Sequence[ReplyRequest], personas: Sequence[str],
                      cfg: Decoding, members: Sequence[int], seeds: Sequence[int | None],
                      ids: Sequence[list[int]], texts: list[str]) -> list[str]:
        """`texts` with each unfit reply drawn again: one that repeats a rare stretch of a
        training reply (`copies`) or says again what the persona said earlier in the chat
        (`says_again`). Up to GUARD_REDRAWS samples (REDRAW settings, the request's seed
        + k), the first that is fit. When none is: a copy is withheld (no reply, empty,
        as when the model says nothing), a repeat is sent after all (the first draw that
        copies nothing), since saying it twice beats silence. Withholding alone left the
        person with silence (2 of 120 validation chats for the pretrained demo)."""
        texts = list(texts)
        copied = [bool(text) and self.copies(text) for text in texts]  # once per draw

        def unfit(k: int) -> bool:
            return copied[k] or self.says_again(requests[members[k]], personas[members[k]],
                                                texts[k])

        fallback = {k: texts[k] for k in range(len(texts)) if not copied[k]}
        redo = [k for k in range(len(texts)) if unfit(k)]
        redraw = dataclasses.replace(cfg, **REDRAW)
        for attempt in range(1, GUARD_REDRAWS + 1):
            if not redo:
                break
            copying = sum(copied[k] for k in redo)
            logger.info("drawing %d of %d replies again: %d repeat a rare stretch of a "
                        "training reply, %d what the persona already said", len(redo),
                        len(texts), copying, len(redo) - copying)
            again = self._decode(personas, redraw, [members[k] for k in redo],
                                 [None if seeds[k] is None else seeds[k] + attempt
                                  for k in redo], [ids[k] for k in redo])
            for k, text in zip(redo, again, strict=True):
                texts[k], copied[k] = text, bool(text) and self.copies(text)
                if not copied[k]:
                    fallback.setdefault(k, text)
            redo = [k for k in redo if unfit(k)]  # the new draws only
        if redo:
            withheld = [k for k in redo if k not in fallback]
            logger.info("after %d draws, %d of %d replies still unfit: %d withheld (every draw "
                        "repeats a rare stretch of a training reply)", GUARD_REDRAWS + 1,
                        len(redo), len(texts), len(withheld))
            for k in redo:
                texts[k] = fallback.get(k, "")
        return texts

    def _requests_per_run(self, cfg: Decoding) -> int:
        """How many requests decode together: beams and rerank candidates are rows too,
        and the decoder state of every row is in memory at once (MAX_DECODE_ROWS)."""
        rows_each = max(cfg.beam_width if cfg.strategy == "beam" else 1, cfg.rerank, 1)
        return max(self.MAX_DECODE_ROWS // rows_each, 1)

    def persona_name(self, persona: str | None) -> str:
        if persona is None:
            return self.default_persona
        if persona not in self.personas:
            raise UnknownPersona(
                f"unknown persona {persona!r}; this bundle knows: {', '.join(self.personas)}")
        return persona

    def retrieve(self, message: str, context: Sequence[str] = ()) -> Hit | None:
        """Nearest training context's reply, if the bundle ships retrieval.json."""
        with self._retrieval_lock:
            if self._retrieval is None:
                path = self.bundle_dir / RETRIEVAL_FILE
                if not path.is_file():
                    return None
                self._retrieval = RetrievalIndex.load(path)
        return self._retrieval.search([*context, message])

    def context_ids(self, request: ReplyRequest, persona: str, ground: float = 0.0) -> list[int]:
        """Encoder input of a request: its turns (the message last) as token ids.

        With `ground` > 0, retrieval grounding: when the nearest training context is at
        least that similar, its reply goes first, in the persona's mouth (their speaker
        token), so the decoder sees "this is what I said to something like this" without
        being forced to copy it. It takes at most half the context budget and is kept
        whole while the conversation is cut from the left.
        """
        texts = [*request.context, request.message]
        tokenizer = self.tokenizer
        ids = tokenizer.encode_context(texts, request.speakers)
        hit = self.retrieve(request.message, request.context) if ground else None
        if hit is not None and hit.similarity >= ground:
            budget = tokenizer.max_context_tokens
            prefix = tokenizer.encode_context([hit.reply], [persona], max_tokens=0)[:budget // 2]
            rest = max(budget - len(prefix) - 1, 1)  # (max_tokens=0 would mean "all")
            ids = prefix + [tokenizer.sep_id] + tokenizer.encode_context(
                texts, request.speakers, max_tokens=rest)
        return ids or [tokenizer.sep_id]

    def token_logprobs(self, requests: Sequence[ReplyRequest],
                       replies: Sequence[str]) -> list[np.ndarray]:
        """Teacher-forced log p of each token of `reply + </s>` (perplexity, ranking).

        Replies are scored whole, past the reply limit: a cut reply would be scored as if
        it ended there, which flatters a model. A prompt repeated in the batch (one
        context ranked against many candidate replies) is encoded once.
        """
        personas = [self.persona_name(r.persona) for r in requests]
        prompts: dict[tuple[str, tuple[int, ...]], int] = {}  # (persona, ids) -> state row
        rows = [prompts.setdefault((persona, tuple(self.context_ids(request, persona))),
                                   len(prompts))
                for request, persona in zip(requests, personas, strict=True)]
        state = self.encode([list(ids) for _, ids in prompts], [p for p, _ in prompts])
        targets = [self.tokenizer.encode_text(reply) for reply in replies]
        state = self.scoring(state, rows, targets)
        return decode.sequence_logprobs(self.step, decode.take_rows(state, np.array(rows)),
                                        targets, self.rules)

    def join(self, state: State, more: State) -> State:
        """One decode state of two batches' rows, `more`'s after `state`'s."""
        return beam.join_rows(state, more)

    def scoring(self, state: State, prompts: Sequence[int], tokens: Sequence[list[int]]
                ) -> State:
        """The encoded state of some prompts, made to score `tokens[i]` after prompt
        `prompts[i]` too. Every token is scored here; a pretrained head that scores a
        token list and each prompt's own tokens (LMReplier) adds them."""
        return state

    # --- the two graphs -----------------------------------------------------------------

    def encode(self, ids: Sequence[list[int]], personas: Sequence[str]) -> State:
        """Run the encoder on a batch of context ids; the decode state of each row."""
        longest = max(len(row) for row in ids)
        context = np.zeros((len(ids), longest), dtype=np.int32)  # [B, S], right-padded
        for row, tokens in enumerate(ids):
            context[row, :len(tokens)] = tokens
        outputs = self._encoder.run(None, {"context_ids": context})
        state = dict(zip(self._encoder_outputs, outputs, strict=True))
        state["memory_mask"] = (context != 0).astype(np.float32)  # [B, S]
        state["persona"] = np.array([self.personas.index(p) for p in personas], dtype=np.int32)
        return state

    def empty_context(self, personas: Sequence[str]) -> State:
        """Decode state for 'no context': a lone <sep>, the anti-LM of MMI reranking."""
        return self.encode([[self.tokenizer.sep_id]] * len(personas), personas)

    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One decoder step: tokens [N] -> logits [N, V]; state_* replaced by their update."""
        feed = {name: state[name] for name in self._step_inputs if name != "token"}
        outputs = self._step.run(None, {"token": tokens.astype(np.int32), **feed})
        new = dict(zip(self._step_outputs, outputs, strict=True))
        updated = {self._state_of_output[name]: value for name, value in new.items()
                   if name != "logits"}
        return new["logits"], {**state, **updated}


STEP_INPUTS = ("token", "persona", "memory", "memory_mask")


def _match_states(inputs: list[str], outputs: list[str], path: Path) -> dict[str, str]:
    """Which state input each state output of the step graph updates.

    The contract gives them the same names in the same order. ONNX forbids an output
    named like an input it does not pass through, so exporters may rename the outputs
    (`state_h` -> `next_state_h`): a `next_` prefix is understood, otherwise the order
    decides.
    """
    state_inputs = [name for name in inputs if name not in STEP_INPUTS]
    state_outputs = [name for name in outputs if name != "logits"]
    if "logits" not in outputs or len(state_inputs) != len(state_outputs):
        raise BundleError(f"step graph outputs {outputs} do not match its state inputs "
                          f"{state_inputs} (expected logits + one output per state)",
                          path=str(path))
    for prefix in ("", "next_"):
        if {name.removeprefix(prefix) for name in state_outputs} == set(state_inputs):
            return {name: name.removeprefix(prefix) for name in state_outputs}
    return dict(zip(state_outputs, state_inputs, strict=True))


def answer_each(reply_batch: Callable[[Sequence[ReplyRequest]], list[Reply]],
                items: Sequence[tuple[ReplyRequest, Any]],
                give: Callable[[Any, Reply | Exception], None]) -> None:
    """Answer (request, tag) items with one `reply_batch` call; if it fails, each alone,
    so that one bad request cannot fail the others. `give(tag, reply or exception)`."""
    if not items:
        return
    try:
        replies = reply_batch([request for request, _ in items])
        if len(replies) != len(items):
            raise RuntimeError(f"reply_batch gave {len(replies)} replies for {len(items)} "
                               "requests")
    except Exception as exc:
        if len(items) == 1:
            give(items[0][1], exc)
        else:
            for item in items:
                answer_each(reply_batch, [item], give)
        return
    for (_, tag), reply in zip(items, replies, strict=True):
        give(tag, reply)


def _wording(text: str) -> tuple[str, ...]:
    """A reply's words, lower-cased, without punctuation (what `says_again` compares)."""
    return tuple(word for word in words(text) if word[0].isalnum() or word[0] == "<")
