"""Placeholder until the imessage parser lands."""

NAME = "imessage"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
