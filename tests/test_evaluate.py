"""`python -m model eval` on a copy of the demo bundle, with the tiny manifest's data."""

import json
import shutil
from pathlib import Path

import pytest

from model.__main__ import main
from model.data.manifest import load_manifest
from model.data.pairs import split_of
from model.errors import InputError
from model.eval.evaluate import (
    HITS_CANDIDATES,
    MODEL_SCORES,
    SWEEP_GRID,
    baselines,
    candidate_lists,
    recorded_manifest,
)
from model.eval.metrics import normalise
from model.serve.bundle import read_bundle, verify_bundle

TINY = "data/demo/manifest-tiny.yaml"
SYSTEMS = {"doppel", "doppel+grounding", "most-frequent", "retrieval", "seq2seq-greedy"}
TEXT_METRICS = {"distinct_1", "distinct_2", "generic_rate", "novel_word_share",
                "persona_share", "persona_accuracy"}
METRICS = TEXT_METRICS | {"bleu", "length_ratio"}


@pytest.fixture
def bundle_copy(demo_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy)
    return copy


def test_eval_with_sweep_writes_report_and_reports_its_pick_beside_the_default(
        run_cli, bundle_copy, tmp_path):
    default = verify_bundle(bundle_copy)["decoding"]
    report = tmp_path / "report"
    result = run_cli("model", "eval", bundle_copy, "--manifest", TINY, "--limit", "8",
                     "--report", report, "--sweep")
    assert result.returncode == 0, result.stderr
    for name in ("report.md", "metrics.json", "metrics.png", "sweep.png"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((report / "metrics.json").read_text())
    assert summary["test_pairs"] == 8
    assert set(summary["systems"]) == SYSTEMS | {"sweep-pick"}
    systems = summary["systems"]
    for name, row in systems.items():
        assert set(row) >= METRICS, name
        for key in TEXT_METRICS:
            assert 0 <= row[key] <= 1, (name, key)
    for name in ("doppel", "seq2seq-greedy"):  # the models also score the real replies
        assert set(systems[name]) >= set(MODEL_SCORES), name
        assert 0 <= systems[name]["hits_at_1"] <= 1
    doppel = systems["doppel"]
    assert doppel["perplexity"] > 1 and doppel["perplexity_word"] > 1
    assert doppel["bits_per_char"] > 0
    assert summary["hits"] == pytest.approx({"contexts": 8, "candidates": HITS_CANDIDATES,
                                             "chance": 1 / HITS_CANDIDATES})
    real = summary["real_replies"]
    assert set(real) == TEXT_METRICS and real["persona_share"] == summary["persona_share_real"]
    # training replies hold no novel word; a constant reply is all repeats and cannot win
    # the persona accuracy (its one distinct reply earns 1 of 8 hits on the persona side)
    frequent = systems["most-frequent"]
    assert frequent["novel_word_share"] == systems["retrieval"]["novel_word_share"] == 0
    assert frequent["generic_rate"] == 1.0
    assert summary["other_turns"] == 8
    assert frequent["persona_accuracy"] <= (1 / 8 + 1) / 2
    assert len(summary["sweep"]) == len(SWEEP_GRID)
    # the sweep chose on validation conversations only: none of them is a test one
    fraction = load_manifest(TINY).train["val_fraction"]
    assert summary["sweep_conversations"]
    assert {split_of(c, fraction) for c in summary["sweep_conversations"]} == {"val"}
    assert "| doppel |" in (report / "report.md").read_text()
    meta = verify_bundle(bundle_copy)  # sha list rewritten correctly
    assert meta["eval"]["test_pairs"] == 8 and "bleu" in meta["eval"]
    assert meta["eval"]["hits_at_1"] == round(doppel["hits_at_1"], 4)
    assert set(meta["eval"]["real_replies"]) == TEXT_METRICS
    assert set(meta["eval"]["baselines"]) == (SYSTEMS | {"sweep-pick"}) - {"doppel"}
    # the pick is reported, not adopted: the default stays until --adopt-sweep
    assert summary["sweep_pick"] in SWEEP_GRID
    assert meta["decoding"] == default
    assert "--adopt-sweep" in result.stdout


def test_compared_bundles_answer_the_same_pairs_in_the_same_report(run_cli, bundle_copy,
                                                                   tmp_path):
    twin = shutil.copytree(bundle_copy, tmp_path / "twin")
    report = tmp_path / "report"
    result = run_cli("model", "eval", bundle_copy, "--manifest", TINY, "--limit", "6",
                     "--hits-contexts", "6", "--report", report, "--compare", twin)
    assert result.returncode == 0, result.stderr
    summary = json.loads((report / "metrics.json").read_text())
    name = f"{read_bundle(twin)['name']} (twin)"
    assert set(summary["systems"]) == SYSTEMS | {name}
    ours, theirs = summary["systems"]["doppel"], summary["systems"][name]
    # the same model with the same seeds on the same pairs: the same replies and scores
    for key in (*METRICS, *MODEL_SCORES):
        assert theirs[key] == pytest.approx(ours[key]), key
    assert theirs["cpu_ms_per_reply"] > 0
    assert all(example[name] == example["doppel"] for example in summary["examples"])
    assert f"| {name} |" in (report / "report.md").read_text()


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
    meta = read_bundle(demo_bundle)
    assert summary["ablation"] == {"bundle": str(demo_bundle), "name": meta["name"],
                                   "tokenizer_sha256": meta["files"]["tokenizer.json"]}
    report = (bundle_copy / "eval" / "report.md").read_text()
    assert f"ablation bundle `{demo_bundle}`" in report and "| doppel | " in report
    assert summary["systems"]["doppel"]["p90_ms_per_reply"] >= \
        summary["systems"]["doppel"]["ms_per_reply"]
    # reports are about the bundle, not in it: dropping them leaves it loadable
    assert not [name for name in verify_bundle(bundle_copy)["files"] if name.startswith("eval/")]
    shutil.rmtree(bundle_copy / "eval")
    verify_bundle(bundle_copy)


def test_eval_names_a_bad_pairs_line(run_cli, bundle_copy, tmp_path):
    pairs = tmp_path / "bad.jsonl"
    pairs.write_text('{"persona": "x"}\n')
    result = run_cli("model", "eval", bundle_copy, "--manifest", TINY, "--pairs", pairs)
    assert result.returncode == 2
    assert f"{pairs}:1:" in result.stderr
    adopt_alone = run_cli("model", "eval", bundle_copy, "--adopt-sweep")
    assert adopt_alone.returncode == 2 and "--adopt-sweep only works with --sweep" in \
        adopt_alone.stderr


def test_baselines_answer_with_training_replies_of_the_persona():
    train = [{"persona": "Ana", "context": ["are you coming tonight?"], "reply": "yes!"},
             {"persona": "Ana", "context": ["what did you cook"], "reply": "pasta"},
             {"persona": "Ana", "context": ["and tomorrow?"], "reply": "yes!"},
             {"persona": "Bo", "context": ["what did you cook"], "reply": "rice"}]
    test = [{"persona": "Ana", "context": ["so what did you cook today"]},
            {"persona": "Ana", "context": ["zzz"]},
            {"persona": "Bo", "context": ["so what did you cook today"]}]
    got = baselines(train, test)  # each pair answered as its own persona
    assert got["most-frequent"] == ["yes!", "yes!", "rice"]
    assert got["retrieval"] == ["pasta", "yes!", "rice"]  # no overlap: most frequent reply
    with pytest.raises(InputError, match="no training pairs answered by 'Cy'"):
        baselines(train, [{"persona": "Cy", "context": ["hi"]}])


def test_hits_candidates_are_distinct_other_replies_drawn_with_the_seed():
    pool = ["yes", "Yes!", "no", "maybe"] + [f"reply {i}" for i in range(30)]
    lists = candidate_lists(["yes", "no"], pool, seed=3)
    assert [len(listed) for listed in lists] == [HITS_CANDIDATES] * 2
    for gold, listed in zip(["yes", "no"], lists, strict=True):
        assert listed[0] == gold  # the real reply first, never again as a distractor
        assert len({normalise(reply) for reply in listed}) == HITS_CANDIDATES
    assert candidate_lists(["yes", "no"], pool, seed=3) == lists
    assert candidate_lists(["yes", "no"], pool, seed=4) != lists
    assert candidate_lists(["yes"], ["YES", "no"], seed=0) == [["yes", "no"]]  # few to draw


def test_the_manifest_is_found_from_bundle_json():
    assert recorded_manifest({"data": {"manifest": "x/m.yaml"}}) == Path("x/m.yaml")
    assert recorded_manifest({"command": f"python -m model train {TINY} --out o"}) == Path(TINY)
    assert recorded_manifest({"command": "python -m model train m.yaml"}) == Path("m.yaml")
    assert recorded_manifest({}) is None


def test_a_recorded_manifest_not_found_from_here_is_named(bundle_copy, tmp_path):
    """Trained as `python -m model train data/demo/manifest.yaml` and evaluated from
    elsewhere, eval said the bundle did not record its manifest at all."""
    import os
    import subprocess
    import sys

    meta = read_bundle(bundle_copy)
    result = subprocess.run(  # from another folder, as a user who cd'd away
        [sys.executable, "-m", "model", "eval", str(bundle_copy.resolve()), "--blind",
         str(tmp_path / "sheet")], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())}, timeout=120)
    assert result.returncode == 2
    recorded = meta["command"].split()[4]
    assert (f"bundle.json records its manifest as {recorded}, which is not a file from here"
            in result.stderr), result.stderr


@pytest.mark.parametrize("value", ["0", "-5"])
@pytest.mark.parametrize("flag", ["--contexts", "--limit", "--hits-contexts", "--batch-size"])
def test_counts_below_one_are_refused_before_anything_runs(demo_bundle, tmp_path, capsys,
                                                            flag, value):
    """--contexts 0 once wrote "no held-out pairs … to grade" although there were 56."""
    with pytest.raises(SystemExit) as exited:
        main(["eval", str(demo_bundle), "--blind", str(tmp_path / "sheet"), flag, value])
    assert exited.value.code == 2
    assert f"{flag}: expected a positive whole number, got '{value}'" in capsys.readouterr().err
    assert not (tmp_path / "sheet").exists()


def test_negative_threads_are_refused(demo_bundle, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:  # --blind: were it run, it writes only there
        main(["eval", str(demo_bundle), "--blind", str(tmp_path), "--threads", "-1"])
    assert exited.value.code == 2
    assert "--threads: expected a whole number (0 or more), got '-1'" in capsys.readouterr().err


def test_eval_warns_when_the_bundles_own_sources_changed_since_training(run_cli, bundle_copy,
                                                                         tmp_path):
    """A chat re-exported after training moves sessions between splits; eval said nothing."""
    from model.data.pairs import PairSummary, build_pairs_from_manifest

    summary = PairSummary()
    build_pairs_from_manifest(load_manifest(TINY), summary, augment=False)
    meta_path = bundle_copy / "bundle.json"
    meta = json.loads(meta_path.read_text())
    meta["data"].update(manifest=str(Path(TINY).resolve()), conversations=summary.conversations,
                        sessions=summary.sessions, turns=summary.turns)
    for sessions, warned in ((summary.sessions, False), (summary.sessions - 3, True)):
        meta["data"]["sessions"] = sessions
        meta_path.write_text(json.dumps(meta))
        result = run_cli("model", "eval", bundle_copy, "--blind", tmp_path / str(sessions),
                         "--contexts", "2")
        assert result.returncode == 0, result.stderr
        assert ("warning: " in result.stderr) == warned, result.stderr
    assert (f"now give {summary.conversations} conversations, {summary.sessions} sessions, "
            f"{summary.turns} turns, but the bundle trained on {summary.conversations} "
            f"conversations, {summary.sessions - 3} sessions") in result.stderr
