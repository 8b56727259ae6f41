"""The dispatcher behind `python -m model|backend|deploy`: what a user sees when it fails."""

import pytest

from model.cli import dispatch

DOC = "test commands"


@pytest.fixture
def command_module(tmp_path, monkeypatch):
    """Write a command module importing `imported` (at import or in run) on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, imported: str, lazily: bool = False) -> str:
        body = (f"def add_arguments(parser):\n    pass\n\n"
                f"def run(args):\n    import {imported}\n    return 0\n")
        if not lazily:
            body = f"import {imported}\n\n" + body
        (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
        return name

    return write


@pytest.mark.parametrize("lazily", [False, True], ids=["at-import", "in-run"])
def test_a_missing_third_party_package_is_one_line_naming_it_and_the_virtualenv(
        command_module, capsys, lazily):
    module = command_module(f"cmd_missing_{lazily}", "doppel_no_such_package.sub", lazily)
    assert dispatch("python -m model", DOC, {"go": (module, "go")}, ["go"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "python -m model go needs the Python package 'doppel_no_such_package'" in err
    assert "make venv" in err and ".venv/bin/activate" in err


def test_one_of_our_own_modules_missing_is_a_bug_and_raises(command_module):
    module = command_module("cmd_missing_ours", "model.no_such_module")
    with pytest.raises(ModuleNotFoundError, match="model.no_such_module"):
        dispatch("python -m model", DOC, {"go": (module, "go")}, ["go"])
