"""Placeholder until the telegram parser lands."""

NAME = "telegram"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
