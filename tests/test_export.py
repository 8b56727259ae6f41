"""ONNX export: the graph contract, Keras parity, atomic failure, bundle verification."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from model.serve.bundle import BundleError, read_bundle, verify_bundle, write_bundle
from model.serve.tokenizer import Tokenizer
from model.train.export import ExportError, export_bundle
from model.train.nets import build_model, setup_tensorflow
from model.train.training_data import KERAS_FILE

pytestmark = pytest.mark.slow

PERSONAS = ["Ana", "Bo", "Cy"]
CORPUS = ["are you coming tonight?", "yes! <brk> see you at 8", "haha 😂 no way",
          "bring snacks", "ok"] * 5


def make_bundle(folder, kind: str, persona_embedding: bool = True):
    """A bundle with an untrained (seeded) model: export does not care about training."""
    setup_tensorflow(seed=11, threads=1)
    hp = {"kind": kind, "embed": 16, "units": 24, "heads": 2, "layers": 1, "dropout": 0.1,
          "attention": "luong", "persona_embedding": persona_embedding, "tie_embeddings": True,
          "max_context_tokens": 20, "max_reply_tokens": 8}
    tokenizer = Tokenizer.train(CORPUS, 300, PERSONAS, max_context_tokens=20, max_reply_tokens=8)
    folder.mkdir(parents=True)
    tokenizer.save(folder / "tokenizer.json")
    model = build_model(hp, tokenizer.vocab_size, len(PERSONAS))
    (folder / "keras").mkdir()
    model.save(folder / KERAS_FILE)
    write_bundle(folder, {"name": "t", "kind": kind, "hyperparameters": hp,
                          "special_tokens": {}, "personas": PERSONAS, "default_persona": "Ana",
                          "max_context_tokens": 20, "max_reply_tokens": 8})
    return folder, model, tokenizer


@pytest.fixture(scope="module")
def lstm_bundle(tmp_path_factory):
    folder, model, tokenizer = make_bundle(tmp_path_factory.mktemp("lstm") / "b", "lstm")
    report = export_bundle(folder)
    return folder, model, tokenizer, report


@pytest.fixture(scope="module")
def transformer_bundle(tmp_path_factory):
    folder, model, tokenizer = make_bundle(tmp_path_factory.mktemp("tr") / "b", "transformer",
                                           persona_embedding=False)
    report = export_bundle(folder)
    return folder, model, tokenizer, report


def io(session, kind):
    items = session.get_inputs() if kind == "in" else session.get_outputs()
    return [(item.name, item.type) for item in items]


def test_lstm_graphs_follow_the_contract(lstm_bundle):
    folder = lstm_bundle[0]
    encoder = ort.InferenceSession(str(folder / "encoder.onnx"))
    step = ort.InferenceSession(str(folder / "decoder_step.onnx"))
    assert io(encoder, "in") == [("context_ids", "tensor(int32)")]
    assert io(encoder, "out") == [("memory", "tensor(float)"), ("state_c", "tensor(float)"),
                                  ("state_h", "tensor(float)")]
    assert io(step, "in") == [("token", "tensor(int32)"), ("persona", "tensor(int32)"),
                              ("memory", "tensor(float)"), ("memory_mask", "tensor(float)"),
                              ("state_c", "tensor(float)"), ("state_h", "tensor(float)")]
    assert io(step, "out") == [("logits", "tensor(float)"), ("next_state_c", "tensor(float)"),
                               ("next_state_h", "tensor(float)")]
    # batch and length axes are dynamic
    assert not isinstance(encoder.get_inputs()[0].shape[0], int)
    assert not isinstance(encoder.get_inputs()[0].shape[1], int)
    assert step.get_outputs()[0].shape[1] == lstm_bundle[2].vocab_size


def test_transformer_keeps_its_tokens_as_state(transformer_bundle):
    folder = transformer_bundle[0]
    encoder = ort.InferenceSession(str(folder / "encoder.onnx"))
    step = ort.InferenceSession(str(folder / "decoder_step.onnx"))
    assert [name for name, _ in io(encoder, "out")] == ["memory", "state_tokens"]
    assert io(step, "in")[-1] == ("state_tokens", "tensor(int32)")
    # the no-persona ablation still takes a persona input (one graph contract for all)
    assert ("persona", "tensor(int32)") in io(step, "in")
    assert [name for name, _ in io(step, "out")] == ["logits", "next_state_tokens"]


@pytest.mark.parametrize("which", ["lstm_bundle", "transformer_bundle"])
def test_bundle_records_parity_and_new_hashes(which, request):
    folder, _, _, report = request.getfixturevalue(which)
    meta = verify_bundle(folder, required=("encoder.onnx", "decoder_step.onnx"))
    assert meta["export"]["greedy_identical"] is True
    assert meta["export"]["max_logit_diff"] <= 1e-4 and report == {
        key: meta["export"][key] for key in report}


@pytest.mark.parametrize("which", ["lstm_bundle", "transformer_bundle"])
def test_onnx_matches_keras_teacher_forcing_on_a_padded_batch(which, request):
    """Independent of the exporter's own check: ONNX step-by-step = Keras full sequence."""
    folder, model, tokenizer, _ = request.getfixturevalue(which)
    contexts = [tokenizer.encode_context(["are you coming tonight?"]),
                tokenizer.encode_context(["ok", "bring snacks 😂"], ["Bo", "Ana"])]
    width = max(map(len, contexts)) + 3  # extra padding on every row
    context_ids = np.array([c + [0] * (width - len(c)) for c in contexts], np.int32)
    reply_in = np.array([[1, *tokenizer.encode_text("yes see")][:4],
                         [1, *tokenizer.encode_text("haha ok")][:4]], np.int32)
    persona = np.array([2, 0], np.int32)
    expected = np.asarray(model({"context_ids": context_ids, "reply_in": reply_in,
                                 "persona": persona}, training=False))

    encoder = ort.InferenceSession(str(folder / "encoder.onnx"))
    step = ort.InferenceSession(str(folder / "decoder_step.onnx"))
    encoded = dict(zip([o.name for o in encoder.get_outputs()],
                       encoder.run(None, {"context_ids": context_ids}), strict=True))
    states = {name: value for name, value in encoded.items() if name.startswith("state_")}
    for position in range(reply_in.shape[1]):
        outputs = dict(zip([o.name for o in step.get_outputs()], step.run(None, {
            "token": reply_in[:, position], "persona": persona, "memory": encoded["memory"],
            "memory_mask": (context_ids != 0).astype(np.float32), **states}), strict=True))
        np.testing.assert_allclose(outputs["logits"], expected[:, position], atol=1e-4)
        states = {name: outputs["next_" + name] for name in states}


def test_failed_parity_leaves_the_bundle_unchanged(lstm_bundle, tmp_path, monkeypatch):
    import model.train.export

    folder = tmp_path / "copy"
    shutil.copytree(lstm_bundle[0], folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    monkeypatch.setattr(model.train.export, "TOLERANCE", -1.0)  # no graph can pass
    with pytest.raises(ExportError, match="ONNX disagrees with Keras"):
        export_bundle(folder)
    after = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    assert after == before
    verify_bundle(folder)


def test_verify_names_the_damaged_or_missing_file(lstm_bundle, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(lstm_bundle[0], folder)
    with open(folder / "decoder_step.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=r"decoder_step\.onnx: sha256 does not match"):
        verify_bundle(folder)
    (folder / "decoder_step.onnx").unlink()
    with pytest.raises(BundleError, match=r"decoder_step\.onnx: file listed in bundle.json is missing"):
        verify_bundle(folder)
    meta = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(BundleError, match="format_version 99 is not supported"):
        read_bundle(folder)


def test_export_cli_reports_a_folder_that_is_not_a_bundle(run_cli, tmp_path):
    result = run_cli("model", "export", tmp_path)
    assert result.returncode == 2
    assert f"{tmp_path}: not a model bundle (no bundle.json)" in result.stderr


def snapshot(folder):
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def wrong_sha(folder, name):
    meta = json.loads((folder / "bundle.json").read_text())
    meta["files"][name] = "0" * 64
    (folder / "bundle.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(("damage", "name", "message"), [
    (lambda path: path.write_bytes(path.read_bytes()[:100]), "memorisation.npz", "sha256"),
    (lambda path: path.write_bytes(path.read_bytes()[:100]), "retrieval.json", "sha256"),
    (lambda path: path.unlink(), "retrieval.json", "missing"),
    (lambda path: wrong_sha(path.parent, path.name), "memorisation.npz", "sha256"),
], ids=["truncated-memorisation", "truncated-retrieval", "deleted-retrieval", "wrong-sha"])
def test_export_refuses_a_damaged_bundle_before_writing(demo_bundle, tmp_path, damage, name,
                                                       message):
    """Export records hashes: it must not vouch for (or drop) a file damaged since."""
    folder = tmp_path / "copy"
    shutil.copytree(demo_bundle, folder)
    damage(folder / name)
    before = snapshot(folder)
    with pytest.raises(BundleError, match=rf"{name}: .*{message}"):
        export_bundle(folder)
    assert snapshot(folder) == before


@pytest.mark.parametrize("demo", ["demo", "demo-pretrained"])
def test_export_cli_names_the_damaged_file(run_cli, demo_bundle, tmp_path, demo):
    folder = tmp_path / demo
    shutil.copytree(demo_bundle.parent / demo, folder)
    with open(folder / "memorisation.npz", "r+b") as handle:
        handle.truncate(100)
    before = snapshot(folder)
    result = run_cli("model", "export", folder)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {folder / 'memorisation.npz'}: sha256 does not match bundle.json "
        "(damaged or replaced file)"]
    assert snapshot(folder) == before


def test_export_records_only_the_graphs_it_wrote(lstm_bundle, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(lstm_bundle[0], folder)
    listed = read_bundle(folder)["files"]
    (folder / "notes.txt").write_text("not part of the model\n")
    export_bundle(folder)
    files = verify_bundle(folder)["files"]  # the graphs' new hashes are recorded
    assert "notes.txt" not in files
    assert files.keys() == listed.keys()
