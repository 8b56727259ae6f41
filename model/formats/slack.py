"""Placeholder until the slack parser lands."""

NAME = "slack"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
