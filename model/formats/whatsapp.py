"""Placeholder until the whatsapp parser lands."""

NAME = "whatsapp"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
