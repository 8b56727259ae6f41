"""Command line of `python -m model ingest`."""

from __future__ import annotations

import sys

from model.files import atomic_output
from model.formats import FORMATS
from model.ingest import DEFAULT_ME, ingest
from model.messages import write_jsonl
from model.report import Report


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="export file, .zip or folder")
    parser.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    parser.add_argument("--out", help="output JSONL (default: stdout); written atomically")
    parser.add_argument(
        "--me", default=DEFAULT_ME, help=f"name for the owner's own messages (default {DEFAULT_ME!r})"
    )


def run(args) -> int:
    report = Report()
    with atomic_output(args.out) as out:
        write_jsonl(ingest(args.paths, args.format, report, me=args.me), out)
    print(report.render(), file=sys.stderr)
    return 0
