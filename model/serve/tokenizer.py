"""Byte-level BPE tokenizer and the context encoding shared by training and serving.

TF-free on purpose: the runtime imports this module. The HuggingFace `tokenizers` model
is byte-level, so any script and every emoji round-trips. Special tokens have fixed ids
(`<pad>`=0 … `<sep>`=5), then the PII placeholders, then one speaker token per persona
(`<p:Ana>`), then the learned merges.

`<brk>` (a message break inside one turn) absorbs the spaces around it, so "a <brk> b"
costs three tokens and `decode` writes it back in the canonical " <brk> " form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import AddedToken, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from model.errors import InputError
from model.files import atomic_output
from model.pii import PII_TOKENS
from model.text import BRK, bubbles, join_bubbles

PAD, BOS, EOS, UNK, SEP = "<pad>", "<s>", "</s>", "<unk>", "<sep>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, BRK, SEP]
BYTE_ALPHABET = len(pre_tokenizers.ByteLevel.alphabet())


def without_broken_bytes(text: str) -> str:
    """Byte-level decoding writes U+FFFD for bytes that make no UTF-8 character (a reply
    stopped inside an emoji, a stray sampled byte); the reader sees them dropped instead."""
    return text.replace("\ufffd", "")


def speaker_token(persona: str) -> str:
    return f"<p:{persona}>"


def min_vocab_size(n_personas: int) -> int:
    """The smallest vocab that holds every byte, every fixed token and the speakers."""
    return BYTE_ALPHABET + len(SPECIAL_TOKENS) + len(PII_TOKENS) + n_personas


class Tokenizer:
    """Wraps a HF tokenizer with the Doppel conventions (specials, speakers, context).

    `max_context_tokens` / `max_reply_tokens` come from the bundle's bundle.json when
    `load` finds one beside tokenizer.json; `encode_context` keeps the newest tokens.
    """

    def __init__(self, hf: HFTokenizer, max_context_tokens: int = 64, max_reply_tokens: int = 32):
        self.hf = hf
        self.max_context_tokens = max_context_tokens
        self.max_reply_tokens = max_reply_tokens
        ids = [hf.token_to_id(token) for token in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise InputError(f"tokenizer special tokens are not {SPECIAL_TOKENS} at ids 0..5")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id, self.brk_id, self.sep_id = ids
        vocab = hf.get_vocab(with_added_tokens=True)
        self.speaker_ids = {
            token[3:-1]: index
            for token, index in vocab.items()
            if token.startswith("<p:") and token.endswith(">")
        }
        # dropped by decode: everything special except <brk> (it marks bubbles)
        self._hidden_ids = {self.pad_id, self.bos_id, self.eos_id, self.sep_id}
        self._hidden_ids.update(self.speaker_ids.values())
        # Of the special tokens only <brk> and the PII placeholders stand for text where
        # they appear; "</s>" or a speaker's "<p:Sam>" typed in a message is only text, so
        # text between them is encoded with special tokens off (<brk> takes the spaces
        # around it, as its AddedToken does)
        self._text_token_ids = {token: vocab[token] for token in (BRK, *PII_TOKENS)
                                if token in vocab}
        self._text_tokens = re.compile("(" + "|".join(
            rf"\s*{re.escape(token)}\s*" if token == BRK else re.escape(token)
            for token in self._text_token_ids) + ")")
        self._plain = HFTokenizer.from_str(hf.to_str())
        self._plain.encode_special_tokens = True

    # --- building and files -------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, personas: Sequence[str],
              max_context_tokens: int = 64, max_reply_tokens: int = 32) -> Tokenizer:
        """Learn byte-level BPE merges from `texts` (replies and context turns)."""
        needed = min_vocab_size(len(personas))
        if vocab_size < needed:
            raise InputError(
                f"model.vocab: {vocab_size} is too small; at least {needed} are needed "
                f"(256 bytes + {needed - BYTE_ALPHABET} special and speaker tokens)"
            )
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        fixed = _special_added_tokens(personas)
        hf.add_special_tokens(fixed)
        # listing them in the trainer too pins their ids to 0.. in this order
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=fixed,
        )
        hf.train_from_iterator(texts, trainer=trainer)
        return cls(hf, max_context_tokens, max_reply_tokens)

    def add_personas(self, personas: Sequence[str]) -> list[str]:
        """Give new personas speaker tokens (appended ids); returns the names added."""
        new = [name for name in personas if name not in self.speaker_ids]
        if new:
            self.hf.add_special_tokens(_special_added_tokens(new, with_fixed=False))
            self.__init__(self.hf, self.max_context_tokens, self.max_reply_tokens)
        return new

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Load tokenizer.json (or a bundle directory holding it)."""
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        try:
            hf = HFTokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise InputError(f"cannot read tokenizer: {exc}", path=str(path)) from exc
        limits = {}
        bundle_json = path.parent / "bundle.json"
        if bundle_json.exists():
            meta = json.loads(bundle_json.read_text(encoding="utf-8"))
            limits = {key: meta[key] for key in ("max_context_tokens", "max_reply_tokens")
                      if key in meta}
        return cls(hf, **limits)

    def save(self, path: str | Path) -> None:
        with atomic_output(path) as handle:
            handle.write(self.hf.to_str(pretty=False))

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    # --- encoding -----------------------------------------------------------------

    def encode_text(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self._text_tokens.split(text):
            token = self._text_token_ids.get(piece.strip() if BRK in piece else piece)
            if token is not None:
                ids.append(token)
            elif piece:
                ids += self._plain.encode(piece, add_special_tokens=False).ids
        return ids

    def encode_reply(self, text: str) -> list[int]:
        """Reply ids without <s>/</s>, cut to leave room for both in max_reply_tokens."""
        return self.encode_text(text)[: max(self.max_reply_tokens - 2, 1)]

    def encode_context(self, turns: Sequence[str], speakers: Sequence[str | None] | None = None,
                       max_tokens: int | None = None) -> list[int]:
        """Turns (oldest first) joined by <sep>, each led by its speaker's token when known.

        Keeps the newest `max_tokens` (default max_context_tokens) ids: the end of a
        conversation says most about the reply.
        """
        if speakers is not None and len(speakers) != len(turns):
            raise ValueError(f"{len(turns)} context turns but {len(speakers)} speakers")
        ids: list[int] = []
        for index, turn in enumerate(turns):
            if index:
                ids.append(self.sep_id)
            speaker = speakers[index] if speakers is not None else None
            if speaker in self.speaker_ids:
                ids.append(self.speaker_ids[speaker])
            ids.extend(self.encode_text(turn))
        limit = self.max_context_tokens if max_tokens is None else max_tokens
        return ids[-limit:] if limit else ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`: stops at </s>, drops other specials, writes <brk> as " <brk> "."""
        pieces: list[list[int]] = [[]]
        for token in ids:
            token = int(token)
            if token == self.eos_id:
                break
            if token == self.brk_id:
                pieces.append([])
            elif token not in self._hidden_ids:
                pieces[-1].append(token)
        texts = [without_broken_bytes(self.hf.decode(piece, skip_special_tokens=False)).strip()
                 for piece in pieces]
        return join_bubbles(texts)

    def split_messages(self, text: str) -> list[str]:
        """A decoded reply as chat bubbles."""
        return bubbles(text)


def _special_added_tokens(personas: Sequence[str], with_fixed: bool = True) -> list[AddedToken]:
    tokens = []
    if with_fixed:
        for token in SPECIAL_TOKENS:
            absorb_spaces = token in (BRK, SEP)
            tokens.append(AddedToken(token, special=True, normalized=False,
                                     lstrip=absorb_spaces, rstrip=absorb_spaces))
        tokens += [AddedToken(token, special=True, normalized=False) for token in PII_TOKENS]
    tokens += [AddedToken(speaker_token(name), special=True, normalized=False)
               for name in personas]
    return tokens
