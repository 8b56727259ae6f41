"""chitchat-dataset JSON: the MIT sample, turns flattened, and the installed corpus path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.data.formats import chitchat
from model.data.ingest import ingest
from model.data.report import Report
from model.data.sources import open_tree

SAMPLE = Path(__file__).parent / "fixtures" / "chitchat" / "chitchat_sample_top_speaker.json"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def test_sample_matches_the_raw_json():
    raw = json.loads(SAMPLE.read_text(encoding="utf-8"))
    expected = [
        (conv_id, item["timestamp"][:-1], item["sender"], item["text"])
        for conv_id, record in raw.items()
        for turn in record["messages"]
        for item in turn
        if item["text"]
    ]
    messages, report = read(SAMPLE)
    assert [(m.conversation, m.time, m.sender, m.text) for m in messages] == expected
    assert len(messages) == 3073 and len(raw) == 50
    assert report.skipped == {"chitchat message without text or sender": 1}  # one empty text
    assert {m.kind for m in messages} == {"text"} and {m.source for m in messages} == {"chitchat"}


def test_time_drops_only_the_z():
    messages, _ = read(SAMPLE)
    assert messages[0].time == "2018-05-07T04:58:13"


def test_installed_corpus_path_is_the_package_data():
    path = Path(chitchat.installed_corpus_path())
    assert path.name == "dataset.json" and path.parent.name == "chitchat_dataset"
    with open(path, encoding="utf-8") as handle:
        head = handle.read(4096)
    assert '"messages"' in head


def test_sniffer_accepts_extra_keys_before_messages(tmp_path):
    path = tmp_path / "conv.json"
    record = {"start": "2018-01-01T00:00:00Z", "messages": [[{"text": "hi", "sender": "a",
                                                                "timestamp": "2018-01-01T00:00:01Z"}]]}  # fmt: skip
    path.write_text(json.dumps({"c1": record}))
    messages, _ = read(path)
    assert [(m.source, m.conversation, m.sender, m.text) for m in messages] == [
        ("chitchat", "c1", "a", "hi")
    ]


@pytest.mark.timeout(60)  # guards against the sniffer regex backtracking without bound
def test_sniffer_rejects_a_long_object_of_other_shape(tmp_path):
    path = tmp_path / "settings.json"
    body = ", ".join(f'"key{i}": {i}' for i in range(2000))
    path.write_text('{"profile": {' + body + "}}")
    assert not chitchat.sniff(open_tree(path).entries[0])
