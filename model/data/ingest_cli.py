"""Command line of `python -m model ingest`."""

from __future__ import annotations

import sys

from model.cli import positive_int
from model.data.formats import FORMATS
from model.data.ingest import DEFAULT_ME, ingest
from model.data.messages import write_jsonl
from model.data.report import Report
from model.data.sources import Limits
from model.files import atomic_output, check_not_input


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="export file, .zip or folder")
    parser.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    parser.add_argument("--out", help="output JSONL (default: stdout); written atomically")
    parser.add_argument(
        "--me", default=DEFAULT_ME, help=f"name for the owner's own messages (default {DEFAULT_ME!r})"
    )
    limits = parser.add_argument_group("limits (README, \"Ingest limits\")")
    for flag, help_text in (
        ("max_member_mb", "largest zip member read, uncompressed MiB"),
        ("max_zip_ratio", "highest compression ratio of a zip member over --ratio-from-mb"),
        ("ratio_from_mb", "zip members smaller than this (MiB) skip the ratio check"),
        ("max_json_mb", "largest JSON or X archive .js file read whole, MiB"),
        ("max_line_chars", "longest line of a text export; longer lines are skipped"),
    ):
        default = getattr(Limits, flag)
        limits.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=positive_int, default=default,
                            metavar="N", help=f"{help_text} (default {default:,})")


def run(args) -> int:
    check_not_input(args.out, args.paths)
    report = Report()
    with atomic_output(args.out) as out:
        limits = Limits(**{name: getattr(args, name) for name in Limits.__dataclass_fields__})
        write_jsonl(ingest(args.paths, args.format, report, me=args.me, limits=limits,
                           exclude=[args.out] if args.out else ()), out)
    print(report.render(), file=sys.stderr)
    return 0
