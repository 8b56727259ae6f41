"""`python -m model chat BUNDLE` — talk to a bundle in the terminal.

Each reply bubble is printed on its own line as "Persona: text". Commands: `/persona NAME`
(switch persona, keeps the conversation), `/reset` (forget the conversation), `/quit`.
In a terminal, readline gives line editing and a history file; with stdin piped, every
line is one message and only the replies are printed, so scripts and tests can drive it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path

from model.cli import positive_int, whole_number
from model.errors import InputError
from model.serve.decode import STRATEGIES, Decoding
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest, UnknownPersona

HISTORY_FILE = Path.home() / ".doppel_chat_history"
HELP = "commands: /persona NAME, /reset, /quit"


def add_arguments(parser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle directory")
    parser.add_argument("--persona", help="who answers (default: the bundle's persona)")
    parser.add_argument("--context-turns", type=whole_number, default=4,
                        help="earlier turns sent with each message (default 4)")
    parser.add_argument("--threads", type=positive_int, default=1, help="onnxruntime threads")
    add_decoding_arguments(parser)


class Conversation:
    """The turns so far and who said them (None = the human)."""

    def __init__(self, keep: int):
        self.keep = keep
        self.turns: list[str] = []
        self.speakers: list[str | None] = []

    def add(self, text: str, speaker: str | None) -> None:
        self.turns.append(text)
        self.speakers.append(speaker)

    def recent(self) -> tuple[list[str], list[str | None]]:
        if self.keep <= 0:
            return [], []
        return self.turns[-self.keep:], self.speakers[-self.keep:]


def run(args) -> int:
    replier = load_replier(args.bundle, threads=args.threads)
    decoding = decoding_from_args(args)
    try:
        Decoding.from_dict(decoding, base=replier.decoding)  # a bad flag fails here, once
        persona = replier.persona_name(args.persona)
    except (ValueError, UnknownPersona) as exc:
        raise InputError(str(exc)) from None
    interactive = sys.stdin.isatty()
    if interactive:
        _enable_readline()
        print(f"{replier.name}: talking as {persona}. {HELP}")
    conversation = Conversation(args.context_turns)
    for turn, line in enumerate(_lines(interactive)):
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, argument = line.partition(" ")
            if command == "/quit":
                break
            if command == "/reset":
                conversation = Conversation(args.context_turns)
                print("(conversation reset)")
            elif command == "/persona":
                try:
                    persona = replier.persona_name(argument.strip() or None)
                    print(f"(now talking as {persona})")
                except UnknownPersona as exc:
                    print(f"({exc})")
            else:
                print(f"(unknown command {command}; {HELP})")
            continue
        context, speakers = conversation.recent()
        settings = dict(decoding)
        if "seed" in settings:  # reproducible, but not the same draw every turn
            settings["seed"] += turn
        reply = replier.reply_batch([ReplyRequest(line, context, persona, settings,
                                                  [*speakers, None])])[0]
        conversation.add(line, None)
        conversation.add(reply.text, persona)
        for bubble in reply.messages or ["…"]:
            print(f"{persona}: {bubble}", flush=True)
    if interactive:
        _save_history()
    return 0


def _lines(interactive: bool):
    if not interactive:
        yield from sys.stdin
        return
    while True:
        try:
            yield input("you> ")
        except EOFError:
            print()
            return


def _enable_readline() -> None:
    with contextlib.suppress(ImportError, OSError):
        import readline

        readline.set_history_length(1000)
        if HISTORY_FILE.exists():
            readline.read_history_file(HISTORY_FILE)


def _save_history() -> None:
    with contextlib.suppress(ImportError, OSError):
        import readline

        readline.write_history_file(HISTORY_FILE)


# --- decoding flags ---------------------------------------------------------------------


FLAG_HELP = {
    "strategy": "greedy, beam search or sampling", "beam_width": "beams per reply",
    "temperature": "sampling temperature",
    "top_k": "sample from the k likeliest tokens (0: all)",
    "top_p": "sample from the smallest set holding this much probability",
    "repetition_penalty": "CTRL penalty on tokens already generated (1: off)",
    "no_repeat_ngram": "never repeat an n-gram of this size (0: off)",
    "no_copy_ngram": "never copy an n-gram of this size from the conversation, in any "
                     "case (0: off)",
    "min_len": "tokens before </s> is allowed", "max_len": "most tokens per reply",
    "rerank": "MMI-antiLM rerank of N candidates (0: off)",
    "mmi_lambda": "weight of the anti-LM", "mmi_gamma": "tokens the anti-LM penalises",
    "length_bonus": "per-token bonus when reranking (default: automatic)",
    "length_penalty": "beam score / length**this", "seed": "sampling seed",
    "early_stopping": "beam: stop once the best beam has ended (faster, replies shorter)",
    "ground": "retrieval grounding above this similarity (0: off)",
}


def add_decoding_arguments(parser) -> None:
    """--strategy, --temperature, ... for every Decoding field; unset flags stay None."""
    group = parser.add_argument_group("decoding (defaults: the bundle's, else the module's)")
    for f in dataclasses.fields(Decoding):
        kind = {"seed": int, "length_bonus": float}.get(f.name, type(f.default))
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=FLAG_HELP.get(f.name))
            continue
        choices = STRATEGIES if f.name == "strategy" else None
        group.add_argument(flag, dest=f.name, type=kind,
                           choices=choices, default=None, metavar=None if choices else "X",
                           help=FLAG_HELP.get(f.name))


def decoding_from_args(args) -> dict:
    """The decoding flags that were given, as a settings dict for Decoding.from_dict."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(Decoding)
            if getattr(args, f.name, None) is not None}
