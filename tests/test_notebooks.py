"""The training notebooks run end to end (nbclient, the venv's python3 kernel) on a tiny
configuration, and the committed ones carry no outputs. Plus model.eval.explore on real exports."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from model.data.ingest import ingest
from model.eval import explore

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"

TINY_TRAIN = {"epochs": 2, "batch_size": 64, "lr": 0.005, "seed": 7, "val_fraction": 0.1,
              "patience": 2}


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    assert {path.name for path in NOTEBOOKS} >= {"01_train_your_own.ipynb",
                                                 "02_evaluate_and_tune.ipynb"}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        first = notebook.cells[0]
        assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", []), path
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path, cell.id)


# --- executed notebooks ---------------------------------------------------------------------


def execute(name: str, parameters: dict, out: Path):
    """Run notebooks/NAME from the repository root with the parameters cell replaced."""
    from nbclient import NotebookClient

    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    notebook.cells[0].source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    client = NotebookClient(notebook, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(ROOT)}})
    with pytest.MonkeyPatch.context() as env:
        # the kernelspec says "python": make sure that is this venv's interpreter
        env.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        env.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        env.setenv("OMP_NUM_THREADS", "1")
        env.delenv("MPLBACKEND", raising=False)
        client.execute()
    nbformat.write(notebook, out / name)  # kept beside the outputs for a look after a failure
    return notebook


def outputs(notebook, output_type: str | None = None):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output_type is None or output.output_type == output_type:
                yield output


def images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for output in outputs(notebook))


def text_of(notebook) -> str:
    parts = []
    for output in outputs(notebook):
        parts.append(output.get("text", ""))
        parts.extend(output.get("data", {}).get(kind, "") for kind in ("text/markdown",
                                                                       "text/plain"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Both notebooks, 02 evaluating the bundle 01 trained (one tiny training run)."""
    from model.serve.load import load_replier

    out = tmp_path_factory.mktemp("notebooks")
    train = execute("01_train_your_own.ipynb", {
        "SOURCES": [{"format": "chitchat", "path": "data/demo/chitchat_sample.json"}],
        "PERSONA": "Sam",
        "RENAME": {"31267496-e50f-4f91-a197-c5b1bfde803b": "Sam"},
        "NAME": "nb",
        "OUT_DIR": str(out),
        "PAIRS": {"context_turns": 2, "extra_personas": 1},
        "MODEL": {"kind": "lstm", "embed": 16, "units": 16, "vocab": 400,
                  "max_context_tokens": 24, "max_reply_tokens": 12},
        "TRAIN": TINY_TRAIN,
        "BASE": None,
        "THREADS": 1,
        "INTERACTIVE": False,
    }, out)
    # before 02's sweep changes the bundle's default decoding
    reply = load_replier(out / "nb").reply("hey, how are you?", seed=0)
    evaluation = execute("02_evaluate_and_tune.ipynb", {
        "BUNDLE": str(out / "nb"), "MANIFEST": None, "REPORT_DIR": str(out / "eval"),
        "SWEEP": True, "ADOPT": True, "LIMIT": 20, "THREADS": 1,
    }, out)
    return out, train, evaluation, reply


@pytest.mark.slow
def test_train_notebook_explores_trains_and_chats(executed):
    out, notebook, _, reply = executed
    assert not list(outputs(notebook, "error"))
    text = text_of(notebook)
    senders = next(o.data["text/markdown"] for o in outputs(notebook, "display_data")
                   if "text/markdown" in o.get("data", {}))
    assert senders.startswith("| sender |") and "| Sam |" in senders
    assert "persona: Sam" in text
    # senders, busiest hours, reply lengths, loss curve
    assert images(notebook) >= 4
    meta = json.loads((out / "nb" / "bundle.json").read_text(encoding="utf-8"))
    assert meta["default_persona"] == "Sam" and meta["training"]["epochs_run"] == 2
    assert str(out / "nb.yaml") in meta["command"]  # the notebook's manifest, recorded
    assert reply.persona == "Sam" and reply.text.strip()
    assert f"you: hey, how are you?\nSam: {' / '.join(reply.messages)}\n" in text  # chat cell


@pytest.mark.slow
def test_evaluate_notebook_reports_baselines_sweep_and_samples(executed):
    out, _, notebook, _ = executed
    assert not list(outputs(notebook, "error"))
    metrics = json.loads((out / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert {"doppel", "most-frequent", "retrieval", "seq2seq-greedy"} <= set(metrics["systems"])
    for key in ("bleu", "distinct_2", "persona_share", "perplexity", "cpu_ms_per_reply"):
        assert key in metrics["systems"]["doppel"]
    assert metrics["sweep"] and 0 < metrics["test_pairs"] <= 20
    assert (out / "eval" / "sweep.png").is_file()
    # the sweep's choice became the bundle's default decoding
    meta = json.loads((out / "nb" / "bundle.json").read_text(encoding="utf-8"))
    assert meta["decoding"] in [row["decoding"] for row in metrics["sweep"]]
    assert images(notebook) >= 2  # metrics.png and the sweep panels
    text = text_of(notebook)
    assert "| system |" in text and "| decoding | quality |" in text
    first = metrics["examples"][0]
    assert "| message | real reply | doppel |" in text
    assert explore.markdown_table([{"x": first["gold"]}]).splitlines()[-1][2:-2] in text


# --- model.eval.explore on real exports (no TensorFlow) --------------------------------------------


def test_senders_and_hours_of_a_whatsapp_export():
    messages = list(ingest([str(FIXTURES / "whatsapp" / "ios_en_crlf.txt")]))
    rows = explore.senders_table(messages)
    ana = next(row for row in rows if row["sender"] == "Ana")
    # two text messages; the deleted one and the group notices are not text
    assert ana["text messages"] == 2 and ana["media/system/deleted"] >= 1
    assert rows[0]["sender"] == "Ana"
    hours = explore.hour_counts(messages)
    assert hours[21] == 2 and sum(hours) == sum(row["text messages"] for row in rows)


def test_markdown_table_shows_bubbles_and_escapes_html_and_pipes():
    table = explore.markdown_table([{"reply": "yes! <brk> a|b <i>\nok"}])
    assert table.splitlines()[-1] == "| yes! / a\\|b &lt;i&gt; ok |"


def test_reply_lengths_split_persona_from_the_rest():
    pairs = [{"persona": "Ana", "reply": "see you <brk> at 8"},
             {"persona": "Bo", "reply": "ok"}]
    assert explore.reply_lengths(pairs, "Ana") == {"Ana": [4], "others": [1]}


def test_write_manifest_makes_paths_absolute_and_validates(tmp_path, monkeypatch):
    from model.errors import InputError

    monkeypatch.chdir(ROOT)
    manifest = explore.write_manifest(
        tmp_path / "m.yaml", name="x", persona="Ana",
        sources=[{"format": "whatsapp", "path": "tests/fixtures/whatsapp/ios_en_crlf.txt"}])
    assert manifest.sources[0].path == FIXTURES / "whatsapp" / "ios_en_crlf.txt"
    with pytest.raises(InputError, match="epochs"):
        explore.write_manifest(tmp_path / "bad.yaml", name="x", persona="Ana",
                               sources=[{"format": "auto", "path": "data"}],
                               train={"epochs": 0})
