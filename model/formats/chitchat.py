"""Placeholder until the chitchat parser lands."""

NAME = "chitchat"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
