"""Command line of `python -m model pairs`."""

from __future__ import annotations

import argparse
import sys

from model.cli import positive_float, positive_int, whole_number
from model.data.ingest import ingest
from model.data.manifest import load_manifest
from model.data.messages import write_jsonl
from model.data.pairs import PairOptions, PairSummary, build_pairs, build_pairs_from_manifest
from model.data.report import Report
from model.errors import InputError
from model.files import atomic_output, check_not_input


def add_arguments(parser) -> None:
    parser.add_argument("messages", nargs="*", metavar="MESSAGES",
                        help="message JSONL from `ingest` (or any export `ingest` reads)")
    parser.add_argument("--manifest", help="take sources, persona and pair settings from a manifest")
    parser.add_argument("--persona", help="whose replies to learn ('auto' = most active sender)")
    parser.add_argument("--alias", action="append", default=[], help="another name of the persona")
    parser.add_argument("--context-turns", type=positive_int, default=5)
    parser.add_argument("--session-gap-hours", type=positive_float, default=6)
    parser.add_argument("--min-reply-chars", type=positive_int, default=1)
    parser.add_argument("--extra-personas", type=whole_number, default=0,
                        help="also emit pairs for the N most active other senders")
    parser.add_argument("--scrub-pii", action=argparse.BooleanOptionalAction, default=True,
                        help="replace phones, e-mails, URLs, card numbers, IBANs, "
                        "addresses, passwords/codes and long numbers with placeholders")
    parser.add_argument("--augment", action="store_true", help="also emit shorter-context variants")
    parser.add_argument("--out", help="output JSONL (default: stdout); written atomically")


def run(args) -> int:
    summary = PairSummary()
    if args.manifest:
        if args.messages or args.persona:
            raise InputError("give either --manifest or MESSAGES with --persona, not both")
        pairs = build_pairs_from_manifest(load_manifest(args.manifest), summary)
    else:
        if not args.messages or not args.persona:
            raise InputError("need MESSAGES and --persona (or --manifest)")
        check_not_input(args.out, args.messages)
        options = PairOptions(
            persona=[args.persona, *args.alias],
            context_turns=args.context_turns,
            session_gap_hours=args.session_gap_hours,
            min_reply_chars=args.min_reply_chars,
            scrub_pii=args.scrub_pii,
            extra_personas=args.extra_personas,
            augment=args.augment,
        )
        messages = list(ingest(args.messages, "auto", Report(),
                               exclude=[args.out] if args.out else ()))
        pairs = list(build_pairs(messages, options, summary))
    print(summary.render(), file=sys.stderr)
    if not pairs:  # an empty file would only fail later, in `train`
        raise InputError("no pairs: the persona never replies to someone else's turn in "
                         "these messages (see the summary above)",
                         args.manifest or ", ".join(args.messages))
    with atomic_output(args.out) as out:
        write_jsonl(pairs, out)
    return 0
