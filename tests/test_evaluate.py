"""`python -m model eval` on a copy of the demo bundle, with the tiny manifest's data."""

import json
import shutil
from pathlib import Path

import pytest

from model.bundle import read_bundle, verify_bundle
from model.evaluate import SWEEP_GRID, baselines, recorded_manifest
from model.runtime import Replier

TINY = "data/demo/manifest-tiny.yaml"
SYSTEMS = {"doppel", "doppel+grounding", "most-frequent", "retrieval", "seq2seq-greedy"}
METRICS = {"bleu", "distinct_1", "distinct_2", "length_ratio", "generic_rate", "persona_share"}


@pytest.fixture
def bundle_copy(demo_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy)
    return copy


def test_eval_with_sweep_writes_report_and_updates_the_bundle(run_cli, bundle_copy, tmp_path):
    report = tmp_path / "report"
    result = run_cli("model", "eval", bundle_copy, "--manifest", TINY, "--limit", "8",
                     "--report", report, "--sweep")
    assert result.returncode == 0, result.stderr
    for name in ("report.md", "metrics.json", "metrics.png", "sweep.png"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((report / "metrics.json").read_text())
    assert summary["test_pairs"] == 8
    assert set(summary["systems"]) == SYSTEMS
    for name, row in summary["systems"].items():
        assert set(row) >= METRICS, name
        assert 0 <= row["generic_rate"] <= 1 and 0 <= row["persona_share"] <= 1
    assert summary["systems"]["most-frequent"]["generic_rate"] == 1.0
    assert summary["systems"]["doppel"]["perplexity"] > 1
    assert len(summary["sweep"]) == len(SWEEP_GRID)
    assert "| doppel |" in (report / "report.md").read_text()
    meta = verify_bundle(bundle_copy)  # sha list rewritten correctly
    assert meta["eval"]["test_pairs"] == 8 and "bleu" in meta["eval"]
    assert set(meta["eval"]["baselines"]) == SYSTEMS - {"doppel"}
    assert meta["decoding"] in SWEEP_GRID
    chosen = Replier.load(bundle_copy).decoding
    assert all(getattr(chosen, key) == value for key, value in meta["decoding"].items())


def test_eval_on_given_pairs_defaults_report_into_the_bundle(run_cli, bundle_copy, demo_bundle,
                                                              tmp_path):
    persona = read_bundle(bundle_copy)["default_persona"]
    pairs = tmp_path / "test.jsonl"
    rows = [{"persona": persona, "context": ["hey, how are you?"], "context_speakers": ["Bo"],
             "reply": "good thanks! <brk> you?", "conversation": "c1"},
            {"persona": persona, "context": ["any plans tonight?", "movie maybe"],
             "context_speakers": ["Bo", "Bo"], "reply": "yes lets go", "conversation": "c2"},
            {"persona": "someone else", "context": ["hi"], "context_speakers": ["Bo"],
             "reply": "hello", "conversation": "c3"}]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_cli("model", "eval", bundle_copy, "--manifest", TINY, "--pairs", pairs,
                     "--ablation", demo_bundle)
    assert result.returncode == 0, result.stderr
    summary = json.loads((bundle_copy / "eval" / "metrics.json").read_text())
    assert summary["test_pairs"] == 2  # only the persona's pairs are scored
    assert summary["ablation"] == str(demo_bundle)
    assert "eval/report.md" in verify_bundle(bundle_copy)["files"]


def test_eval_names_a_bad_pairs_line(run_cli, bundle_copy, tmp_path):
    pairs = tmp_path / "bad.jsonl"
    pairs.write_text('{"persona": "x"}\n')
    result = run_cli("model", "eval", bundle_copy, "--manifest", TINY, "--pairs", pairs)
    assert result.returncode == 2
    assert f"{pairs}:1:" in result.stderr


def test_baselines_answer_with_training_replies_of_the_persona():
    train = [{"persona": "Ana", "context": ["are you coming tonight?"], "reply": "yes!"},
             {"persona": "Ana", "context": ["what did you cook"], "reply": "pasta"},
             {"persona": "Ana", "context": ["and tomorrow?"], "reply": "yes!"},
             {"persona": "Bo", "context": ["what did you cook"], "reply": "rice"}]
    test = [{"context": ["so what did you cook today"]}, {"context": ["zzz"]}]
    got = baselines(train, test, "Ana")
    assert got["most-frequent"] == ["yes!", "yes!"]
    assert got["retrieval"] == ["pasta", "yes!"]  # no overlap: most frequent reply


def test_the_manifest_is_found_from_bundle_json():
    assert recorded_manifest({"data": {"manifest": "x/m.yaml"}}) == Path("x/m.yaml")
    assert recorded_manifest({"command": f"python -m model train {TINY} --out o"}) == Path(TINY)
    assert recorded_manifest({"command": "python -m model train missing.yaml"}) is None
    assert recorded_manifest({}) is None
