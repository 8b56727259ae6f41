"""A pretrained bundle behind the same Replier interface as the LSTM (TF-free).

The decoder's contract is a step function over batch-first state (model/serve/decode.py). For
a decoder-only LM the "encoder" is the prefill: every prompt but its last token runs
through the graph once (left-padded, so each row's newest token is last), and the state
is the KV cache. The last prompt token (the newline that opens the persona's turn) is
the same for every row, so it is the decoder's "bos": the first step feeds it.

    state = {key.l, value.l [N, KV, P, D] for each block l, key_mask [N, P], position [N]}
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

from model.serve.bundle import BundleError
from model.serve.decode import State, TokenRules
from model.serve.pretrained.assemble import GRAPH_FILE, TOKENIZER_FILE, serving_graph
from model.serve.pretrained.prompt import PromptCodec, as_lines
from model.serve.runtime import Replier, ReplyRequest
from model.serve.tokenizer import Tokenizer

REQUIRED_FILES = ("decoder.onnx", "weights_layout.json", "delta.npz")
logger = logging.getLogger("doppel.model")


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
    # 24 GB. 32 rows (8 requests at beam 4) peaked at 877 MB with 129-token prompts and
    # 48-token replies, and served 17.1-18.4 replies/s over HTTP against 14.6-14.7 for 16
    # rows and 16.1 for 48 (bench/serve.py, 2026-12-01, the same sitting).
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
        missing = {f"past_{name}" for name in self._cache_names} - \
            {i.name for i in session.get_inputs()}
        if missing:
            raise BundleError(f"{GRAPH_FILE} lacks the per-block KV-cache inputs this version "
                              f"serves ({sorted(missing)[0]} …): re-export it with "
                              f"`python -m model export {bundle_dir}`", str(bundle_dir))
        # control tokens (<|im_start|>, <|endoftext|> …) are never written, but the end
        control = {i for i, t in codec.hf.get_added_tokens_decoder().items() if t.special}
        banned = sorted(control - {codec.end_id})
        self.rules = TokenRules(bos=codec.newline_id, eos=codec.end_id, brk=codec.newline_id,
                                banned=tuple(banned))
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
        the rest runs here, left-padded after the (left-padded) cached blocks.
        """
        for prompt in ids:
            if not prompt or prompt[-1] != self.rules.bos:
                raise ValueError("a prompt must end with the newline of the persona's turn")
        prefixes = [self._system_cache(p) for p in personas]
        if not all(prompt[:len(head)] == head for prompt, (head, _) in
                   zip(ids, prefixes, strict=True)):  # a prompt of another shape: no reuse
            prefixes = [([], None)] * len(ids)
        rests = [prompt[len(head):-1] for prompt, (head, _) in zip(ids, prefixes, strict=True)]
        cached = max(len(head) for head, _ in prefixes)
        width = max(len(rest) for rest in rests)
        kv_heads, dim = self._cache_shape
        past = {name: np.zeros((len(ids), kv_heads, cached, dim), np.float32)
                for name in self._cache_names}
        mask = np.zeros((len(ids), cached + width), np.float32)
        tokens = np.zeros((len(ids), width), np.int64)  # [N, W]
        positions = np.zeros((len(ids), width), np.int64)
        for row, ((head, system), rest) in enumerate(zip(prefixes, rests, strict=True)):
            for name in system or ():
                past[name][row, :, cached - len(head):] = system[name][0]
            mask[row, cached - len(head):cached] = 1.0
            mask[row, cached + width - len(rest):] = 1.0
            tokens[row, width - len(rest):] = rest
            positions[row, width - len(rest):] = np.arange(len(head), len(head) + len(rest))
        _, cache = self._run(tokens, positions, mask, past)
        return {**cache, "key_mask": mask,
                "position": np.array([len(prompt) - 1 for prompt in ids], np.int64)}

    def _run(self, tokens: np.ndarray, positions: np.ndarray, mask: np.ndarray,
             past: State) -> tuple[np.ndarray, State]:
        """The graph once: (logits [N, V], the cache grown by the new tokens)."""
        feeds = {f"past_{name}": past[name] for name in self._cache_names}
        logits, *presents = self._session.run(
            ["logits", *(f"present_{name}" for name in self._cache_names)],
            {"input_ids": tokens, "positions": positions, "key_mask": mask, **feeds})
        return logits, dict(zip(self._cache_names, presents, strict=True))

    def _system_cache(self, persona: str) -> tuple[list[int], State | None]:
        """(system block ids, its cache {key.l, value.l: [1, KV, P, D]}), computed once."""
        with self._system_lock:
            if persona not in self._system:
                head = self.codec.system_ids(persona)
                kv_heads, dim = self._cache_shape
                empty = np.zeros((1, kv_heads, 0, dim), np.float32)
                _, cache = self._run(np.array([head], np.int64),
                                     np.arange(len(head), dtype=np.int64)[None],
                                     np.ones((1, len(head)), np.float32),
                                     dict.fromkeys(self._cache_names, empty))
                self._system[persona] = (head, cache)
            return self._system[persona]

    def empty_context(self, personas: Sequence[str]) -> State:
        """The anti-LM of MMI reranking: the persona's prompt with no conversation."""
        return self.encode([self.codec.prompt_ids([], None, p) for p in personas], personas)

    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One token per row: tokens [N] -> logits [N, V], the cache one longer."""
        mask = np.concatenate([state["key_mask"], np.ones((len(tokens), 1), np.float32)], axis=1)
        logits, cache = self._run(tokens.astype(np.int64)[:, None], state["position"][:, None],
                                  mask, state)
        return logits, {**cache, "key_mask": mask, "position": state["position"] + 1}
