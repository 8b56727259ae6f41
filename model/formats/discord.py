"""Placeholder until the discord parser lands."""

NAME = "discord"


def sniff(entry):
    return False


def parse(entry, ctx):
    return iter(())
