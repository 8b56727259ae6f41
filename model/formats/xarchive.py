"""Placeholder until the xarchive parser lands."""

NAME = "x-archive"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
