"""A pretrained bundle behind the same Replier interface as the LSTM (TF-free).

The decoder's contract is a step function over batch-first state (model/serve/decode.py). For
a decoder-only LM the "encoder" is the prefill: every prompt but its last token runs
through the graph once (each row's own positions first, its padding after: `encode`;
the run's logits are not read), and the state is the KV cache. The last prompt token
(the newline that opens the persona's turn) is the same for every row, so it is the
decoder's "bos": the first step feeds it.

    state = {shared:key.l, shared:value.l [B, KV, Q, D]  the prompts' cache, one per prompt,
             shared:prefix_mask [B, Q]                   (decode.take_rows leaves these)
             shared:extra_ids [B, E]                     each prompt's own tokens, which a
                                                         head over a token list also scores
             prefix_row [N]                              each row's prompt
             key.l, value.l [N, KV, W, D]                what each row wrote since: its
             written [N], position [N]}                  `written` first, padding after

Beams and samples of one prompt are rows that read its cache where it is: the graph wants
the rows of each prompt together and as many for each (onnx_graph.py), which every
decoding keeps or `_grouped` restores.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer as HFTokenizer

from model.serve import beam
from model.serve.bundle import BundleError
from model.serve.decode import SHARED, State, TokenRules, case_fold_table
from model.serve.pretrained.assemble import GRAPH_FILE, TOKENIZER_FILE, serving_graph
from model.serve.pretrained.prompt import PromptCodec, as_lines
from model.serve.runtime import Replier, ReplyRequest
from model.serve.tokenizer import Tokenizer

REQUIRED_FILES = ("decoder.onnx", "weights_layout.json", "delta.npz")
# prefixes are padded to a multiple of this many positions (encode), so the positions
# after them sit in the same SIMD lanes in every batch: 16 (an AVX-512 register's floats)
# made the demo's logits independent of the batch here, 8 did not
ALIGN = 16
logger = logging.getLogger("doppel.model")


def aligned(length: int) -> int:
    """`length` rounded up to a multiple of ALIGN."""
    return -(-length // ALIGN) * ALIGN


class ReplyText:
    """What Replier.reply_batch needs of a tokenizer: ids -> text -> bubbles."""

    def __init__(self, codec: PromptCodec):
        self.codec = codec
        self.max_context_tokens = codec.max_context_tokens
        self.max_reply_tokens = codec.max_reply_tokens

    def decode(self, ids) -> str:
        return self.codec.decode(ids)

    split_messages = Tokenizer.split_messages  # bubbles are split the same for every kind

    def encode_text(self, text: str) -> list[int]:
        """A reply's ids, bubbles as lines (what the model writes)."""
        return self.codec.encode(as_lines(text))


class LMReplier(Replier):
    # A row's KV cache is ~46 kB per position (30 layers x 3 KV heads x 64 x 2 x float32),
    # and a step holds a few copies: uncapped, 32 requests with beam 6 and MMI once took
    # 24 GB. 32 rows (8 requests at beam 4) served 17.1-18.4 replies/s over HTTP against
    # 14.6-14.7 for 16 rows and 16.1 for 48 (bench/serve.py, 2026-12-01, one sitting), and
    # peak at 509 MB with 129-token prompts and 48-token replies (877 MB before the prompts'
    # cache was shared by their beams; 64 rows: 816 MB, no faster).
    MAX_DECODE_ROWS = 32

    def __init__(self, bundle_dir: Path, meta: dict, codec: PromptCodec,
                 session: ort.InferenceSession):
        self._bundle_settings(bundle_dir, meta, max_len=meta.get("max_reply_tokens", 48))
        self.codec = codec
        self.tokenizer = ReplyText(codec)
        self._session = session
        config = meta["base"]["config"]
        self._cache_shape = (config["kv_heads"], config["hidden"] // config["heads"])
        self._cache_names = [f"{kind}.{layer}" for layer in range(config["layers"])
                             for kind in ("key", "value")]  # the graph's order
        missing = {f"{kind}_{name}" for name in self._cache_names
                   for kind in ("past", "prefix")} - {i.name for i in session.get_inputs()}
        if missing:
            raise BundleError(f"{GRAPH_FILE} lacks the KV-cache inputs this version "
                              f"serves ({sorted(missing)[0]} …): re-export it with "
                              f"`python -m model export {bundle_dir}`", str(bundle_dir))
        # a head over a token list (onnx_graph.build_decoder) also scores each prompt's own
        self._extra_input = "extra_ids" in {i.name for i in session.get_inputs()}
        # control tokens (<|im_start|>, <|endoftext|> …) are never written, but the end
        control = {i for i, t in codec.hf.get_added_tokens_decoder().items() if t.special}
        banned = sorted(control - {codec.end_id})
        self.rules = TokenRules(bos=codec.newline_id, eos=codec.end_id, brk=codec.newline_id,
                                banned=tuple(banned),
                                fold=case_fold_table(codec.hf.get_vocab(with_added_tokens=True)))
        self._system: dict[str, tuple] = {}  # persona -> its system block's KV
        self._system_lock = threading.Lock()

    @classmethod
    def load(cls, bundle_dir: str | Path, threads: int = 1) -> LMReplier:
        from model.serve.bundle import verify_bundle

        bundle_dir = Path(bundle_dir)
        started = time.perf_counter()
        meta = verify_bundle(bundle_dir, required=REQUIRED_FILES)
        folder = serving_graph(bundle_dir, meta)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's buffer-reuse planning is most of the session's start (0.94 s of it
        # for the demo's graph, 0.26 s without); bench/pretrained.py shows the same RSS
        options.enable_mem_reuse = False
        session = ort.InferenceSession(str(folder / GRAPH_FILE), options,
                                       providers=["CPUExecutionProvider"])
        tokenizer = HFTokenizer.from_file(str(folder / TOKENIZER_FILE))
        codec = PromptCodec(tokenizer, meta["max_context_tokens"], meta["max_reply_tokens"])
        logger.info("loaded pretrained bundle %s in %.1f s", bundle_dir,
                    time.perf_counter() - started)
        return cls(bundle_dir, meta, codec, session)

    # --- what Replier.reply_batch calls ---------------------------------------------------

    def context_ids(self, request: ReplyRequest, persona: str, ground: float = 0.0) -> list[int]:
        """The prompt of a request (retrieval grounding does not apply to this kind)."""
        return self.codec.prompt_ids([*request.context, request.message], request.speakers,
                                     persona)

    def encode(self, ids: Sequence[list[int]], personas: Sequence[str]) -> State:
        """Prefill every prompt but its last token (the first decode step feeds it).

        A prompt starts with its persona's system block, whose keys and values are
        computed once per persona and reused (a third of a demo prompt's prefill): only
        the rest runs here, after the cached blocks.

        Every row's real positions come first and padding last, and a prefix is padded
        to a multiple of ALIGN: so a row's float sums (softmax, attention) run over its
        own values in the same SIMD lanes whatever its batch-mates' lengths, and a reply
        does not depend on them (a seed repeats a sample). Left-padded, a longer
        batch-mate moved the demo's logits by up to 0.7, and 15 of 64 bench replies
        changed with the batches' order. The padding costs about 4% of a 32-row step.
        """
        for prompt in ids:
            if not prompt or prompt[-1] != self.rules.bos:
                raise ValueError("a prompt must end with the newline of the persona's turn")
        prefixes = [self._system_cache(p) for p in personas]
        if not all(prompt[:len(head)] == head for prompt, (head, _) in
                   zip(ids, prefixes, strict=True)):  # a prompt of another shape: no reuse
            prefixes = [([], None)] * len(ids)
        rests = [prompt[len(head):-1] for prompt, (head, _) in zip(ids, prefixes, strict=True)]
        cached = aligned(max(len(head) for head, _ in prefixes))
        system = self._empty(len(ids), cached)
        system_mask = np.zeros((len(ids), cached), np.float32)
        width = max(len(rest) for rest in rests)
        mask = np.zeros((len(ids), width), np.float32)
        tokens = np.zeros((len(ids), width), np.int64)  # [N, W]
        positions = np.zeros((len(ids), width), np.int64)
        for row, ((head, block), rest) in enumerate(zip(prefixes, rests, strict=True)):
            for name in block or ():
                system[name][row, :, :len(head)] = block[name][0]
            system_mask[row, :len(head)] = 1.0
            mask[row, :len(rest)] = 1.0
            tokens[row, :len(rest)] = rest
            positions[row, :len(rest)] = np.arange(len(head), len(head) + len(rest))
        # the system blocks are the prefix of this run (each row its own); the prompt's
        # cache is each row's block followed by its rest
        nothing_written = self._empty(len(ids))
        _, rest_cache = self._run(tokens, positions, mask, nothing_written, system, system_mask)
        lengths = [(len(head), len(rest)) for (head, _), rest in zip(prefixes, rests, strict=True)]
        total = aligned(max(head + rest for head, rest in lengths))
        prompt_cache = self._empty(len(ids), total)
        prompt_mask = np.zeros((len(ids), total), np.float32)
        for row, (head, rest) in enumerate(lengths):
            for name in self._cache_names:
                prompt_cache[name][row, :, :head] = system[name][row, :, :head]
                prompt_cache[name][row, :, head:head + rest] = rest_cache[name][row, :, :rest]
            prompt_mask[row, :head + rest] = 1.0
        return {**{SHARED + name: value for name, value in prompt_cache.items()},
                SHARED + "prefix_mask": prompt_mask,
                SHARED + "extra_ids": self._extra_ids(ids),
                "prefix_row": np.arange(len(ids)), **nothing_written,
                "written": np.zeros(len(ids), np.int64),
                "position": np.array([len(prompt) - 1 for prompt in ids], np.int64)}

    def join(self, state: State, more: State) -> State:
        """`more`'s rows after `state`'s, their prompts' caches after those still read.
        Widths are padded after each row's own positions, as in `encode` and `step`."""
        read = np.unique(state["prefix_row"])  # rows stay grouped by prompt, in order
        joined = {}
        for name, value in state.items():
            if name.startswith(SHARED):  # each prompt still read, then the new ones
                fill = self.rules.eos if name == SHARED + "extra_ids" else 0
                joined[name] = beam.stack([*(value[p:p + 1] for p in read), more[name]],
                                          fill)
            else:
                joined[name] = beam.stack([value, more[name]])
        joined["prefix_row"] = np.concatenate([np.searchsorted(read, state["prefix_row"]),
                                               more["prefix_row"] + len(read)])
        return joined

    def scoring(self, state: State, prompts: Sequence[int], tokens: Sequence[list[int]]
                ) -> State:
        """The state with `tokens[i]` among prompt `prompts[i]`'s extra ids (runtime.py)."""
        extra = [list(row) for row in state[SHARED + "extra_ids"]]
        for prompt, more in zip(prompts, tokens, strict=True):
            extra[prompt] += more
        return {**state, SHARED + "extra_ids": self._extra_ids(extra)}

    def _extra_ids(self, token_lists: Sequence[Sequence[int]]) -> np.ndarray:
        """[B, E]: each list's distinct tokens, padded with the end token (always listed,
        so the head's own logit overwrites the padding's)."""
        distinct = [np.unique(np.asarray(tokens, np.int64)) for tokens in token_lists]
        extra = np.full((len(distinct), max(map(len, distinct), default=0)), self.rules.eos,
                        np.int64)
        for row, tokens in enumerate(distinct):
            extra[row, :len(tokens)] = tokens
        return extra

    def _empty(self, rows: int, positions: int = 0) -> State:
        kv_heads, dim = self._cache_shape
        return {name: np.zeros((rows, kv_heads, positions, dim), np.float32)
                for name in self._cache_names}

    def _run(self, tokens: np.ndarray, positions: np.ndarray, mask: np.ndarray,
             past: State, prefix: State, prefix_mask: np.ndarray,
             extra_ids: np.ndarray | None = None) -> tuple[np.ndarray, State]:
        """The graph once: (logits [N, V], the past grown by the new tokens). A prefill's
        logits are not read: it scores no extra tokens."""
        feeds = {f"{kind}_{name}": cache[name] for name in self._cache_names
                 for kind, cache in (("past", past), ("prefix", prefix))}
        if self._extra_input:
            feeds["extra_ids"] = (np.zeros((len(prefix_mask), 0), np.int64)
                                  if extra_ids is None else extra_ids)
        logits, *presents = self._session.run(
            ["logits", *(f"present_{name}" for name in self._cache_names)],
            {"input_ids": tokens, "positions": positions, "key_mask": mask,
             "prefix_mask": prefix_mask, **feeds})
        return logits, dict(zip(self._cache_names, presents, strict=True))

    def _system_cache(self, persona: str) -> tuple[list[int], State | None]:
        """(system block ids, its cache {key.l, value.l: [1, KV, P, D]}), computed once."""
        with self._system_lock:
            if persona not in self._system:
                head = self.codec.system_ids(persona)
                _, cache = self._run(np.array([head], np.int64),
                                     np.arange(len(head), dtype=np.int64)[None],
                                     np.ones((1, len(head)), np.float32), self._empty(1),
                                     self._empty(1), np.zeros((1, 0), np.float32))
                self._system[persona] = (head, cache)
            return self._system[persona]

    def empty_context(self, personas: Sequence[str]) -> State:
        """The anti-LM of MMI reranking: the persona's prompt with no conversation."""
        return self.encode([self.codec.prompt_ids([], None, p) for p in personas], personas)

    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One token per row: tokens [N] -> logits [N, V], one more position written.

        The reply's past is slotted like the prompt's cache (encode): [N, KV, W, D] with W
        a multiple of ALIGN, each row's `written` positions first and padding after. The
        graph appends the new keys and values at W; they move to the row's next slot. So
        a row's sums do not depend on how long its batch-mates have been writing, and a
        beam search can start a prompt while others are halfway (beam.Admission).
        """
        state = self._grouped(state)
        written = state["written"]  # [N]
        width = state[self._cache_names[0]].shape[2]  # W
        mask = np.zeros((len(tokens), width + 1), np.float32)  # [N, W+1]: own, pad, new
        mask[:, :width] = np.arange(width) < written[:, None]
        mask[:, width] = 1.0
        prefix = {name: state[SHARED + name] for name in self._cache_names}
        logits, present = self._run(tokens.astype(np.int64)[:, None], state["position"][:, None],
                                    mask, state, prefix, state[SHARED + "prefix_mask"],
                                    state[SHARED + "extra_ids"])
        rows = np.arange(len(tokens))
        grown = aligned(int(written.max(initial=0)) + 1)
        past = {}
        for name, value in present.items():  # [N, KV, W+1, D]
            value[rows, :, written] = value[:, :, width]
            past[name] = (value[:, :, :grown] if grown <= width else
                          np.pad(value, ((0, 0), (0, 0), (0, grown - width - 1), (0, 0))))
        return logits, {**state, **past, "written": written + 1,
                        "position": state["position"] + 1}

    def _grouped(self, state: State) -> State:
        """The state with its prompts' cache in the graph's order: the rows of each prompt
        together, in prompt order, as many for each (a beam search keeps that: its k beams
        are reordered within their prompt, and a prompt leaves with all of them). Else the
        cache is copied: only the prompts still read, or one prompt per row."""
        rows, prompts = state["prefix_row"], len(state[SHARED + "prefix_mask"])
        if not len(rows):
            return state
        used = np.unique(rows)
        each = len(rows) // len(used)
        if len(rows) == each * len(used) and np.array_equal(rows, np.repeat(used, each)):
            if len(used) == prompts:
                return state
            pick, rows = used, np.repeat(np.arange(len(used)), each)
        else:
            pick, rows = rows, np.arange(len(rows))
        return {**{name: value[pick] if name.startswith(SHARED) else value
                   for name, value in state.items()}, "prefix_row": rows}
