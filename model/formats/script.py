"""Placeholder until the script parser lands."""

NAME = "script"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
