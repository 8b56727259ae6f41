"""Chat export formats. Each module is one format and exposes the same small surface:

    NAME: str                        # the --format name
    sniff(entry: Entry) -> bool      # decide from content (entry.head()/head_text()), never the file name
    parse(entry: Entry, ctx: Context) -> Iterator[Message]

Formats whose export is a whole folder (Slack, Meta's threads split over several files)
also expose

    sniff_tree(tree: Tree) -> bool
    parse_tree(tree: Tree, ctx: Context) -> Iterator[Message]

`parse_tree` adds the relative paths of the files it consumed to `ctx.claimed`; every
other file of the tree is still detected file by file, so a Slack export can sit in a
folder beside other chats. Only the first tree format that recognises a tree reads it
as a tree; the others' files then go through `parse` one by one.
`ctx` (model.data.ingest.Context) carries the report, the Tree the entry came from (for
side files such as an X archive's account.js) and `ctx.me`, the owner's display name
for exports that only say "me" (iMessage is_from_me, X archive own account,
signal-export's "Me").
`parse` streams Messages in export order. Lines it cannot use are reported with
`ctx.report.skip(entry.name, line_number, reason)`, never silently dropped; input that is
wrong as a whole (invalid JSON, truncated file) raises model.errors.InputError naming
the entry and, where there is one, the line.
"""

from model.data.formats import (
    chitchat,
    discord,
    discord_export,
    imessage,
    jsonl,
    line,
    meta,
    meta_html,
    script,
    signal,
    slack,
    telegram,
    telegram_html,
    whatsapp,
    xarchive,
)

# Detection order matters only where two sniffers could both say yes: the most specific
# content checks come first, plain-text formats with loose shapes (play scripts) last.
# Signal before WhatsApp: an ISO-date WhatsApp header looks like signal-export's, and
# Signal's sniffer only says yes to what WhatsApp never writes.
FORMATS = {
    module.NAME: module
    for module in (
        jsonl,
        slack,  # before meta: the first tree format to recognise a folder reads it
        meta,
        meta_html,
        telegram,
        telegram_html,
        chitchat,
        discord,
        discord_export,  # before script: its CSV has an author and a content column
        xarchive,
        imessage,
        signal,
        line,
        whatsapp,
        script,
    )
}
