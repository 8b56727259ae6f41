"""Pairs as the chat prompts a pretrained instruct model knows (ChatML), and back.

TF-free: training and serving build prompts here, so they cannot drift apart.

    <|im_start|>system
    You are Sam. …<|im_end|>
    <|im_start|>Alex                      one block per context turn, named after its
    hello! how are you?<|im_end|>         speaker ("someone" when unknown, "Friend",
                                          "Friend 2"… when the name is a machine id)
    <|im_start|>Sam
    ⟨reply: bubbles one per line⟩<|im_end|>

Every line of the persona's turn is one chat bubble, so `<brk>` is a newline in both
directions. The prompt always ends with the newline after the persona's name: that token
is the decoder's first input (the runtime's "bos"), the same for every row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from model.serve.tokenizer import without_broken_bytes
from model.text import BRK, join_bubbles

START, END = "<|im_start|>", "<|im_end|>"
UNKNOWN_SPEAKER = "someone"
ID_ALIAS = "Friend"
# Exports name some people by an id: a UUID (the chitchat corpus), a user or phone number.
# Such a name costs ~25 tokens of context per turn and means nothing to the base model.
MACHINE_ID = re.compile(r"(?=.*\d)[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{2,})*|\+?\d[\d ()-]{5,}\d")
SYSTEM = ("You are {persona}, chatting with people you know. Write {persona}'s next "
          "message: short, casual and in {persona}'s own words, never as an assistant.")


def as_lines(text: str) -> str:
    """" <brk> "-joined bubbles -> one bubble per line (other newlines become spaces)."""
    bubbles = [" ".join(part.split()) for part in text.split(BRK)]
    return "\n".join(bubble for bubble in bubbles if bubble)


def speaker_label(name: str | None) -> str:
    """A ChatML role name: one line, no markup."""
    label = " ".join((name or "").replace("<|", "").replace("|>", "").split())
    return label or UNKNOWN_SPEAKER


def speaker_labels(speakers: Sequence[str | None], persona: str) -> list[str]:
    """Role names of context turns; machine ids become "Friend", "Friend 2"… (newest first).

    The persona keeps its own name, whatever it looks like: the system line names it.
    """
    labels = [speaker_label(name) for name in speakers]
    aliases: dict[str, str] = {}
    for index in range(len(labels) - 1, -1, -1):
        label = labels[index]
        if label != speaker_label(persona) and MACHINE_ID.fullmatch(label):
            if label not in aliases:
                aliases[label] = ID_ALIAS if not aliases else f"{ID_ALIAS} {len(aliases) + 1}"
            labels[index] = aliases[label]
    return labels


class PromptCodec:
    """Turns (context, persona) into prompt ids and replies into target ids.

    `tokenizer` is the base's HF tokenizer. Context is cut from the oldest turn so the
    whole prompt fits `max_context_tokens`; the newest message is cut from its start only
    when it alone is too long.
    """

    def __init__(self, tokenizer, max_context_tokens: int, max_reply_tokens: int):
        self.hf = tokenizer
        self.max_context_tokens = max_context_tokens
        self.max_reply_tokens = max_reply_tokens
        self.start_id, self.end_id = (self._control(token) for token in (START, END))
        # Text is only ever text: a message saying "<|endoftext|>" or "<|im_end|>" must not
        # become that control token (it ended the persona's turn and the bot answered as
        # an assistant). The markup goes in by id, which tokenizes as the whole string did:
        # the tokenizer splits text at control tokens before anything else.
        tokenizer.encode_special_tokens = True
        self.newline_id = self._single("\n")
        self.closer = [self.end_id, self.newline_id]  # `<|im_end|>\n`

    def _control(self, token: str) -> int:
        token_id = self.hf.token_to_id(token)
        if token_id is None:
            raise ValueError(f"the base tokenizer has no {token} token")
        return token_id

    def _single(self, text: str) -> int:
        ids = self.encode(text)
        if len(ids) != 1:
            raise ValueError(f"the base tokenizer splits {text!r} into {len(ids)} tokens")
        return ids[0]

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def _opener(self, role: str) -> list[int]:
        """`<|im_start|>role\n` (a block ends with `self.closer`)."""
        return [self.start_id, *self.encode(f"{role}\n")]

    def system_ids(self, persona: str) -> list[int]:
        """The system block every prompt of `persona` starts with (its KV is cached)."""
        return self._opener("system") + self.encode(SYSTEM.format(persona=persona)) + self.closer

    def prompt_ids(self, turns: Sequence[str], speakers: Sequence[str | None] | None,
                   persona: str) -> list[int]:
        """Prompt ids; the last one is the newline that opens the persona's turn."""
        if speakers is not None and len(speakers) != len(turns):
            raise ValueError(f"{len(turns)} context turns but {len(speakers)} speakers")
        labels = speaker_labels(speakers if speakers is not None else [None] * len(turns),
                                persona)
        head = self.system_ids(persona)
        tail = self._opener(speaker_label(persona))
        budget = self.max_context_tokens - len(head) - len(tail)
        blocks: list[list[int]] = []
        for index in range(len(turns) - 1, -1, -1):  # newest first
            opener = self._opener(labels[index])
            text = self.encode(as_lines(turns[index]))
            size = len(opener) + len(text) + len(self.closer)
            if size > budget:
                if not blocks:  # the newest message alone is too long: keep its end
                    keep = max(budget - len(opener) - len(self.closer), 0)
                    blocks.append(opener + text[len(text) - keep:] + self.closer)
                break
            blocks.append(opener + text + self.closer)
            budget -= size
        return head + [token for block in reversed(blocks) for token in block] + tail

    def reply_ids(self, reply: str) -> list[int]:
        """Target ids of a reply, <|im_end|> included unless it had to be cut."""
        ids = self.encode(as_lines(reply)) + [self.end_id]
        return ids[:self.max_reply_tokens]

    def decode(self, ids: Sequence[int]) -> str:
        """Generated ids -> " <brk> "-joined bubbles (stops at <|im_end|>)."""
        ids = list(ids)
        if self.end_id in ids:
            ids = ids[:ids.index(self.end_id)]
        text = without_broken_bytes(self.hf.decode(ids, skip_special_tokens=True))
        return join_bubbles(line.strip() for line in text.split("\n"))
