"""`python -m model train`: bundle contents, resume, fine-tuning, manifest errors."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from model.__main__ import main as model_cli
from model.serve.load import load_replier

pytestmark = pytest.mark.slow

OPENERS = ["hey are you free tonight?", "did you see the game", "lunch tomorrow?",
           "what are you reading", "how was the trip 🏔️", "call me at +1 555 123 4567"]
ANA = ["yes! <brk> see you at 8", "haha no way 😂", "sure, pizza?", "not yet <brk> tell me",
       "it was great, so much snow", "ok ok"]
BO = ["cool", "sounds good to me", "maybe later", "I'm in"]


def write_chats(path: Path, conversations: int = 40, seed: int = 1, replier: str = "Ana") -> None:
    """Synthetic chats: Bo opens, Ana answers, Bo answers back; Dee only ever opens one."""
    rng = random.Random(seed)
    lines = []
    for index in range(conversations):
        name = f"chat {index}"
        turns = [("Dee" if index == 0 else "Bo", rng.choice(OPENERS)),
                 (replier, rng.choice(ANA)), ("Bo", rng.choice(BO)), (replier, rng.choice(ANA))]
        for minute, (sender, text) in enumerate(turns):
            lines.append(json.dumps({
                "source": "jsonl", "conversation": name, "time": f"2024-01-01T10:{minute:02d}:00",
                "sender": sender, "text": text, "kind": "text"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


MANIFEST = """\
name: unit
sources: [{{format: jsonl, path: chats.jsonl}}]
persona: {persona}
pairs: {{context_turns: 2, extra_personas: 1}}
model: {{kind: lstm, embed: 16, units: 16, vocab: 300, dropout: 0.1,
         max_context_tokens: 16, max_reply_tokens: 10}}
train: {{epochs: 2, batch_size: 16, lr: 0.01, seed: 5, val_fraction: {val}, patience: 0}}
{extra}"""


def write_manifest(folder: Path, persona="Ana", val=0.2, extra="", replier="Ana") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "chats.jsonl").exists():
        write_chats(folder / "chats.jsonl", replier=replier)
    path = folder / "manifest.yaml"
    path.write_text(MANIFEST.format(persona=persona, val=val, extra=extra), encoding="utf-8")
    return path


def train(*args) -> None:
    assert model_cli(["train", *map(str, args), "--threads", "1"]) == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real training run (2 epochs, exported) shared by the tests below."""
    folder = tmp_path_factory.mktemp("train")
    manifest = write_manifest(folder)
    train(manifest, "--out", folder / "bundle", "--work", folder / "work")
    return folder


def test_bundle_has_every_file_and_the_contract_metadata(trained):
    from model.serve.bundle import verify_bundle

    bundle = trained / "bundle"
    meta = verify_bundle(bundle, required=("tokenizer.json", "encoder.onnx",
                                           "decoder_step.onnx", "keras/model.keras"))
    assert {"loss.png", "training_log.csv", "retrieval.json"} <= set(meta["files"])
    assert meta["kind"] == "lstm" and meta["name"] == "unit"
    assert meta["personas"] == ["Ana", "Bo"] and meta["default_persona"] == "Ana"
    assert meta["speaker_tokens"] == {"Ana": "<p:Ana>", "Bo": "<p:Bo>"}
    assert meta["special_tokens"]["brk"] == "<brk>"
    assert (meta["max_context_tokens"], meta["max_reply_tokens"]) == (16, 10)
    assert meta["data"]["train_pairs"] > 0 and meta["data"]["val_pairs"] > 0
    data = meta["data"]
    assert data["pairs"] == data["train_pairs"] + data["val_pairs"] + data["test_pairs"]
    assert meta["training"]["epochs_run"] == 2
    assert meta["export"]["greedy_identical"] and meta["export"]["max_logit_diff"] <= 1e-4
    assert meta["command"].startswith("python -m model train ")
    assert meta["hyperparameters"]["vocab_size"] <= 300
    with open(bundle / "training_log.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"] and "val_loss" in rows[0]
    assert (bundle / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((trained / "work" / "tensorboard").rglob("events.out.tfevents.*"))


def test_validation_and_test_pairs_come_from_held_out_conversations(trained):
    from model.data.pairs import split_of

    retrieval = json.loads((trained / "bundle" / "retrieval.json").read_text(encoding="utf-8"))
    splits = [split_of(f"chat {i}", 0.2) for i in range(40)]
    assert "test" in splits and "val" in splits, "the fixture needs held-out conversations"
    # retrieval indexes training pairs only: Ana's 2 replies in each training conversation
    assert len(retrieval["replies"]) == 2 * splits.count("train")
    data = json.loads((trained / "bundle" / "bundle.json").read_text(encoding="utf-8"))["data"]
    # 3 pairs a conversation (Ana twice, Bo once as the extra persona) never trained on
    assert data["test_pairs"] == 3 * splits.count("test")


def test_the_runtime_answers_with_the_trained_bundle(trained):
    replier = load_replier(trained / "bundle")
    reply = replier.reply("hey are you free tonight?")
    assert reply.persona == "Ana" and isinstance(reply.text, str)


def test_resumed_run_ends_where_an_uninterrupted_one_does(trained, tmp_path, capsys):
    from model.train.nets import load_keras_model

    manifest = write_manifest(tmp_path)
    work = tmp_path / "bundle-training"  # the default: beside --out, wherever we stand
    train(manifest, "--out", tmp_path / "bundle", "--epochs", "1", "--no-export")
    state = json.loads((work / "state.json").read_text())
    assert state["epoch"] == 1
    train(manifest, "--out", tmp_path / "bundle", "--epochs", "2", "--resume", "--no-export")
    assert "resuming at epoch 2" in capsys.readouterr().err
    state = json.loads((work / "state.json").read_text())
    assert [row["epoch"] for row in state["history"]] == [1, 2]
    train(manifest, "--out", tmp_path / "bundle", "--epochs", "2", "--resume", "--no-export")
    assert "nothing left to train: the work folder's run has done 2 of 2 epochs" in (
        capsys.readouterr().err)
    assert json.loads((work / "state.json").read_text()) == state

    resumed = load_keras_model(work / "last.keras")
    straight = load_keras_model(trained / "work" / "last.keras")
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations)
    for a, b in zip(resumed.weights, straight.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, err_msg=a.path)
    with open(work / "log.csv", encoding="utf-8") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1"]


def test_ctrl_c_during_training_says_how_to_resume(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    manifest = write_manifest(tmp_path)
    work = tmp_path / "w"
    command = [sys.executable, "-m", "model", "train", str(manifest), "--out",
               str(tmp_path / "b"), "--work", str(work), "--epochs", "500", "--no-export"]
    # Ctrl-C as a terminal sends it (a background job may have inherited SIGINT ignored)
    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (work / "state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    epoch = json.loads((work / "state.json").read_text())["epoch"]
    assert f"interrupted: the last checkpoint in {work} is at epoch {epoch}" in stderr
    assert stderr.rstrip().endswith(f"continues from it: python {' '.join(command[1:])} --resume")


def test_fine_tuning_keeps_base_personas_and_adds_new_rows(trained, tmp_path):
    from model.serve.tokenizer import Tokenizer
    from model.train.nets import build_model, load_keras_model
    from model.train.trainer import copy_base_weights

    base = trained / "bundle"
    manifest = write_manifest(tmp_path, persona="Cy", extra=f"base: {base}\n", replier="Cy")
    train(manifest, "--out", tmp_path / "bundle", "--work", tmp_path / "work", "--epochs", "1",
          "--no-export")
    meta = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert meta["personas"] == ["Ana", "Bo", "Cy"] and meta["default_persona"] == "Cy"
    assert meta["training"]["base"] == str(base)
    old, new = Tokenizer.load(base), Tokenizer.load(tmp_path / "bundle")
    assert all(new.speaker_ids[name] == old.speaker_ids[name] for name in old.speaker_ids)
    assert new.speaker_ids["Cy"] == old.vocab_size and new.vocab_size == old.vocab_size + 1

    # weight surgery: old rows copied, the grown tables keep fresh rows
    base_model = load_keras_model(base / "keras" / "model.keras", compile=False)
    hp = meta["hyperparameters"]
    grown = build_model(hp, old.vocab_size + 1, 3)
    copy_base_weights(grown, base / "keras" / "model.keras")
    old_table = np.asarray(base_model.get_layer("persona_embedding").embeddings)
    new_table = np.asarray(grown.get_layer("persona_embedding").embeddings)
    np.testing.assert_array_equal(new_table[:2], old_table)
    assert np.abs(new_table[2]).max() > 0
    np.testing.assert_array_equal(np.asarray(grown.get_layer("decoder").weights[0]),
                                  np.asarray(base_model.get_layer("decoder").weights[0]))


def test_transformer_trains_and_exports_through_the_cli(tmp_path, capsys):
    manifest = write_manifest(tmp_path)
    manifest.write_text(manifest.read_text().replace("kind: lstm", "kind: transformer"))
    train(manifest, "--out", tmp_path / "bundle", "--work", tmp_path / "work", "--epochs", "1")
    # before training: who the bot will be and from how much
    err = capsys.readouterr().err
    assert re.search(r"training data: \d+ training, \d+ validation, \d+ test examples from "
                     r"\d+ conversations \(\d+ sessions\); pairs by persona: Ana \d+", err)
    # the tiny manifest validates on a handful of replies, and is told what that means
    assert re.search(r"warning: the validation split holds only \d+ examples from \d+ "
                     r"(session|conversation)s?: its loss, which picks the weights kept", err)
    meta = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert meta["kind"] == "transformer" and meta["export"]["greedy_identical"]
    assert isinstance(load_replier(tmp_path / "bundle").reply("lunch tomorrow?").text, str)


def test_a_validation_split_of_enough_replies_is_not_warned_about():
    from model.train.training_data import THIN_VALIDATION, data_line

    summary = {"train_pairs": 900, "val_pairs": THIN_VALIDATION, "test_pairs": 40,
               "conversations": 60, "sessions": 61, "pairs_by_persona": {"Ana": 990},
               "val_units": 3, "by_session": False}
    assert "\n" not in data_line(summary)
    summary.update(val_pairs=8, val_units=1)
    assert data_line(summary).splitlines()[1].startswith(
        "warning: the validation split holds only 8 examples from 1 conversation: ")


@pytest.mark.parametrize("persona, val, expected", [
    ("Zed", 0.2, "persona: 'Zed' sent no text messages"),
    ("Dee", 0.2, "persona: no training pairs for 'Dee'"),
    ("Ana", 0.001, "train.val_fraction: 0.001 puts no conversation in the validation split"),
])
def test_manifest_mistakes_fail_before_training(run_cli, tmp_path, persona, val, expected):
    manifest = write_manifest(tmp_path, persona=persona, val=val)
    result = run_cli("model", "train", manifest, "--out", tmp_path / "b", "--work", tmp_path / "w")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and str(manifest) in result.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "b").exists()


def test_unknown_model_kind_and_missing_checkpoint_are_clear_errors(run_cli, tmp_path):
    manifest = write_manifest(tmp_path)
    manifest.write_text(manifest.read_text().replace("kind: lstm", "kind: gru"))
    result = run_cli("model", "train", manifest, "--out", tmp_path / "b")
    assert result.returncode == 2 and "model.kind" in result.stderr
    manifest = write_manifest(tmp_path)
    result = run_cli("model", "train", manifest, "--out", tmp_path / "b",
                     "--work", tmp_path / "empty", "--resume")
    assert result.returncode == 2 and "--resume: no checkpoint" in result.stderr


@pytest.mark.parametrize("kind", ["folder of the user's files", "file"])
def test_out_that_is_not_a_bundle_is_refused_before_training(run_cli, tmp_path, kind):
    """`--out .` or a typo must not delete what is there (it used to be swapped away)."""
    manifest = write_manifest(tmp_path)
    out = tmp_path / "exports"
    if kind == "file":
        out.write_text("a chat export\n")
    else:
        (out / "photos").mkdir(parents=True)
        (out / "notes.txt").write_text("mine\n")
    result = run_cli("model", "train", manifest, "--out", out, "--work", tmp_path / "w")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {out}: --out: a ") and "not a model bundle" in result.stderr
    assert not (tmp_path / "w").exists()
    if kind == "file":
        assert out.read_text() == "a chat export\n"
    else:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "photos"]


def refused(capsys, *args) -> str:
    """Run `train` in this process; it must exit 2 with one line, which is returned."""
    assert model_cli(["train", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("out, work", [("same", "same"), ("runs/b", "runs"),
                                       ("runs", "runs/b-training")])
def test_out_and_work_holding_each_other_are_refused_before_training(tmp_path, capsys, out,
                                                                     work):
    manifest = write_manifest(tmp_path)
    err = refused(capsys, manifest, "--out", tmp_path / out, "--work", tmp_path / work)
    assert "--out and --work must be separate folders" in err
    assert not (tmp_path / out).exists() and not (tmp_path / work).exists()


def test_out_naming_the_base_bundle_is_refused_before_training(trained, tmp_path, capsys):
    base = trained / "bundle"
    manifest = write_manifest(tmp_path, extra=f"base: {base}\n")
    err = refused(capsys, manifest, "--out", base, "--work", tmp_path / "work")
    assert err.startswith(f"error: {base}: --out never names an input")
    assert not (tmp_path / "work").exists()


def test_retraining_keeps_a_bundle_that_holds_the_readers_marks(trained, tmp_path, capsys):
    import shutil

    out = tmp_path / "bundle"
    shutil.copytree(trained / "bundle", out)
    (out / "eval" / "blind").mkdir(parents=True)
    (out / "eval" / "blind" / "grades-reader1.csv").write_text("1,0\n")
    err = refused(capsys, write_manifest(tmp_path), "--out", out, "--work", tmp_path / "work")
    assert "--out: eval/ would be lost: move it or choose another --out" in err
    assert (out / "eval" / "blind" / "grades-reader1.csv").read_text() == "1,0\n"
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("change, expected", [
    (("units: 16", "units: 24"), "--resume: model.units is 24 but the work folder's run was "
                                 "started with 16"),
    (("kind: lstm", "kind: transformer"), "--resume: model.kind is 'transformer' but"),
    (("batch_size: 16", "batch_size: 8"), "--resume: train.batch_size is 8 but"),
])
def test_resume_refuses_a_work_folder_started_with_another_model(trained, tmp_path, capsys,
                                                                  change, expected):
    manifest = write_manifest(tmp_path)
    manifest.write_text(manifest.read_text().replace(*change))
    work = trained / "work"
    before = (work / "state.json").read_text()
    err = refused(capsys, manifest, "--out", tmp_path / "b", "--work", work, "--resume")
    assert err.startswith(f"error: {work / 'state.json'}: {expected}")
    assert (work / "state.json").read_text() == before and not (tmp_path / "b").exists()


def test_resume_refuses_a_work_folder_that_does_not_say_how_it_started(tmp_path, capsys):
    manifest = write_manifest(tmp_path)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "state.json").write_text('{"epoch": 1, "history": []}')
    err = refused(capsys, manifest, "--out", tmp_path / "b", "--work", tmp_path / "work",
                  "--resume")
    assert "does not record what its run was started with" in err


@pytest.mark.parametrize("persona, chats_seed, expected", [
    # the same two personas, their ids swapped: the persona table's rows would swap too
    ("Bo", 1, "--resume: personas are ['Bo', 'Ana'] but the work folder's run was started "
              "with ['Ana', 'Bo']; train afresh"),
    ("Ana", 2, "--resume: the training examples are not those the work folder's run was "
               "started with (a source's chats, rename, pairs or train.val_fraction changed)"),
])
def test_resume_refuses_a_work_folder_that_trained_other_personas_or_pairs(
        trained, tmp_path, capsys, persona, chats_seed, expected):
    write_chats(tmp_path / "chats.jsonl", seed=chats_seed)
    manifest = write_manifest(tmp_path, persona=persona)
    work = trained / "work"
    before = (work / "state.json").read_text()
    err = refused(capsys, manifest, "--out", tmp_path / "b", "--work", work, "--resume")
    assert err.startswith(f"error: {work / 'state.json'}: {expected}")
    assert (work / "state.json").read_text() == before and not (tmp_path / "b").exists()


def test_resume_refuses_a_work_folder_that_does_not_say_what_it_trained_on(trained, tmp_path,
                                                                           capsys):
    state = json.loads((trained / "work" / "state.json").read_text())
    del state["trained_on"]  # as written before personas and examples were recorded
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "state.json").write_text(json.dumps(state))
    err = refused(capsys, write_manifest(tmp_path), "--out", tmp_path / "b", "--work",
                  tmp_path / "work", "--resume")
    assert "does not record the personas and examples its run trained on" in err
    assert not (tmp_path / "b").exists()
