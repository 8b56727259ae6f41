"""Manifest validation: defaults, relative paths, and errors that name the key and the file."""

from __future__ import annotations

import pytest

from model.data.manifest import KIND_KEYS, MODEL_KEYS, kind_hyperparameters, load_manifest
from model.errors import InputError

GOOD = """\
name: ana
sources:
  - {format: whatsapp, path: exports/chat.txt}
  - {format: chitchat}
persona: [Ana, Ana B.]
pairs: {context_turns: 3}
model: {kind: transformer, embed: 64, heads: 4}
train: {epochs: 2, lr: 0.01}
"""


def write(tmp_path, text, name="manifest.yaml"):
    (tmp_path / "exports").mkdir(exist_ok=True)
    (tmp_path / "exports" / "chat.txt").write_text("x")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths(tmp_path):
    manifest = load_manifest(write(tmp_path, GOOD))
    assert manifest.name == "ana" and manifest.persona == ["Ana", "Ana B."]
    assert manifest.sources[0].path == (tmp_path / "exports" / "chat.txt").resolve()
    assert manifest.sources[1].path is None  # the installed chitchat corpus
    assert manifest.pairs["context_turns"] == 3 and manifest.pairs["session_gap_hours"] == 6
    assert manifest.model["kind"] == "transformer" and manifest.model["vocab"] == 8000
    assert manifest.train == {"epochs": 2, "batch_size": 128, "lr": 0.01, "seed": 7,
                              "val_fraction": 0.05, "patience": 3, "schedule": "constant"}
    assert manifest.base is None


def test_shipped_demo_manifests_load():
    for name in ("manifest.yaml", "manifest-tiny.yaml"):
        manifest = load_manifest(f"data/demo/{name}")
        assert manifest.persona == ["Sam"] and manifest.rename


@pytest.mark.parametrize(
    "edit, message",
    [
        (("persona: [Ana, Ana B.]", "persona: [Ana, Ana B.]\ncolour: red"), "colour: unknown key"),
        (("context_turns: 3", "context_turn: 3"), "pairs.context_turn: unknown key"),
        (("context_turns: 3", "context_turns: three"), "pairs.context_turns: must be int, got str"),
        (("context_turns: 3", "context_turns: 0"), "pairs.context_turns: must be positive"),
        (("context_turns: 3", "session_gap_hours: .nan"),
         "pairs.session_gap_hours: must be positive, got nan"),
        (("context_turns: 3", "scrub_pii: 1"), "pairs.scrub_pii: must be bool, got int"),
        (("kind: transformer", "kind: gru"), "model.kind: unknown model kind 'gru'"),
        (("embed: 64", "embed: 64, vocab: 100"), "model.vocab: too small (100)"),
        (("heads: 4", "heads: 5"), "model.heads: must divide model.embed (64)"),
        (("lr: 0.01", "lr: 0.01, val_fraction: 1.5"), "train.val_fraction: must be in (0, 0.5)"),
        (("lr: 0.01", "lr: 0.01, schedule: linear"), "train.schedule: unknown schedule 'linear'"),
        (("format: whatsapp", "format: icq"), "sources[0].format: unknown format 'icq'"),
        (("exports/chat.txt", "exports/missing.txt"), "sources[0].path: no such file or folder"),
        (("{format: chitchat}", "{format: telegram}"), "sources[1].path: missing"),
        (("name: ana\n", ""), "name: missing (required)"),
        (("name: ana\n", "name: _bases\n"), "name: '_bases' must not contain a slash"),
        (("name: ana\n", "name: a/b\n"), "name: 'a/b' must not contain a slash"),
        (("persona: [Ana, Ana B.]", "persona: 3"), "persona: must be a name"),
    ],
)
def test_errors_name_the_key_and_the_file(tmp_path, edit, message):
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(InputError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_base_must_be_a_bundle(tmp_path):
    path = write(tmp_path, GOOD + "base: nowhere\n")
    with pytest.raises(InputError, match="base: no model bundle at"):
        load_manifest(path)


def test_a_pretrained_model_refuses_a_base_bundle_it_would_ignore(tmp_path):
    # fine-tuning starts from model.base; a top-level `base:` bundle used to be dropped
    # silently, training the plain base while the user believed the demo was its start
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "bundle.json").write_text("{}")
    path = write(tmp_path, GOOD.replace("model: {kind: transformer, embed: 64, heads: 4}",
                                        "model: {kind: pretrained, train_layers: 2}")
                 + "base: demo\n")
    with pytest.raises(InputError, match=r"base: .*kind pretrained.*model\.base"):
        load_manifest(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: ana\nsources: [\n  {format: whatsapp\n")
    with pytest.raises(InputError, match=r"manifest.yaml:\d+: invalid YAML"):
        load_manifest(path)


def test_a_key_given_twice_is_an_error_not_the_last_one_winning(tmp_path):
    path = write(tmp_path, GOOD + "persona: Bo\n")
    with pytest.raises(InputError, match=r"manifest.yaml:9: invalid YAML \(key 'persona' "
                                         r"appears twice\)"):
        load_manifest(path)


def test_missing_manifest(tmp_path):
    with pytest.raises(InputError, match="nope.yaml: No such file"):
        load_manifest(tmp_path / "nope.yaml")


def test_a_model_key_of_another_kind_is_named(tmp_path):
    path = write(tmp_path, GOOD.replace("model: {kind: transformer, embed: 64, heads: 4}",
                                        "model: {kind: lstm, layers: 4}"))
    with pytest.raises(InputError, match=r"model\.layers: not a setting of kind lstm"):
        load_manifest(path)


def test_bundle_hyperparameters_keep_only_their_kinds_keys():
    hp = {**{key: default for key, (_, default) in MODEL_KEYS.items()}, "kind": "pretrained",
          "base_config": {"layers": 30}}
    kept = kind_hyperparameters(hp)
    assert set(kept) == {*KIND_KEYS["pretrained"], "base_config"}
    assert "units" in kind_hyperparameters({**hp, "kind": "lstm"})


def test_a_pretrained_model_defaults_to_the_pretrained_demos_settings(tmp_path):
    """Not the LSTM's: 64 context tokens leave room for one short message after the
    prompt's frame, and 10 epochs of batches of 128 at lr 0.001 undo the base."""
    def manifest(model: str, train: str):
        return load_manifest(write(tmp_path, GOOD.replace(
            "model: {kind: transformer, embed: 64, heads: 4}", model).replace(
            "train: {epochs: 2, lr: 0.01}", train)))

    pretrained = manifest("model: {kind: pretrained}", "")
    assert (pretrained.model["max_context_tokens"], pretrained.model["max_reply_tokens"]) == (160, 48)
    assert {k: pretrained.train[k] for k in ("epochs", "batch_size", "lr", "schedule")} == \
        {"epochs": 1, "batch_size": 16, "lr": 0.0002, "schedule": "cosine"}
    # what the manifest says still wins, and other kinds keep theirs
    chosen = manifest("model: {kind: pretrained, max_context_tokens: 96}", "train: {epochs: 3}")
    assert chosen.model["max_context_tokens"] == 96 and chosen.train["epochs"] == 3
    assert chosen.train["batch_size"] == 16
    lstm = manifest("model: {kind: lstm}", "")
    assert lstm.model["max_context_tokens"] == 64 and lstm.train["batch_size"] == 128
