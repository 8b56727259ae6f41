"""LINE chat history text: English, Japanese and Traditional Chinese UI, 12- and 24-hour
times, quoted multi-line messages, LINE's own lines, and files that are not LINE's."""

from __future__ import annotations

from pathlib import Path

from model.data.formats import line
from model.data.ingest import detect, ingest
from model.data.report import Report
from model.data.sources import open_tree

FIXTURES = Path(__file__).parent / "fixtures" / "line"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def rows(messages):
    return [(m.time, m.sender, m.kind, m.text) for m in messages]


def test_english_export():
    # Android: BOM, CRLF, "Mon, 01/01/2024" date lines, 12-hour times
    messages, report = read(FIXTURES / "en_android.txt")
    assert rows(messages) == [
        ("2024-01-01T09:15", "Ana", "text", "Happy new year!! 🎉"),
        ("2024-01-01T09:16", "Kenji", "text", "Happy new year 🎍"),
        ("2024-01-01T09:16", "Kenji", "media", "[Sticker]"),
        ("2024-01-01T12:02", "Ana", "media", "[Photo]"),
        # quoted over three lines; its last line starts like a date line
        ("2024-01-01T12:30", "Ana", "text", "lunch at 1?\nthe place near the station\n2024/01/01(Mon) was fully booked"),
        ("2024-01-01T13:05", "Kenji", "system", "☎ Missed call"),
        ("2024-01-01T13:20", "Kenji", "system", "☎ Call time 12:31"),
        ("2024-01-02T00:00", "Ana", "text", "still awake?"),  # 12:00 AM
        ("2024-01-02T20:45", "Kenji", "deleted", "Kenji unsent a message."),  # no sender column
        # an opening quote never closed was the sender's own: the next message stays one
        ("2024-01-02T20:46", "Kenji", "text", '"see you at 8'),
        ("2024-01-02T23:59", "Ana", "text", "ok"),
    ]  # fmt: skip
    assert {m.conversation for m in messages} == {"Ana"}
    assert not report.skipped


def test_japanese_group_export():
    messages, report = read(FIXTURES / "ja_group.txt")
    assert rows(messages) == [
        ("2024-05-04T08:05", "さくら", "text", "おはよう！"),
        ("2024-05-04T08:06", "健太", "media", "[スタンプ]"),
        # a pasted chat inside quotes: its date and message lines are text
        ("2024-05-04T08:10", "健太", "text", "持ち物リスト\n2024/05/03(金)\n20:00\tさくら\tテント\n寝袋"),
        ("2024-05-04T12:15", "さくら", "media", "[写真]"),  # 午後0:15
        ("2024-05-04T13:40", "さくら", "system", "☎ 通話時間 3:05"),
        ("2024-05-04T14:00", "健太", "deleted", "健太がメッセージの送信を取り消しました"),
        ("2024-05-04T14:01", "", "system", "美咲がグループに参加しました。"),
        ("2024-05-05T23:59", "美咲", "text", "おやすみ〜"),
    ]  # fmt: skip
    assert {m.conversation for m in messages} == {"週末キャンプ"}
    path = FIXTURES / "ja_group.txt"
    assert report.examples == {"LINE message with an impossible time": [f"{path}:18"]}


def test_traditional_chinese_export():
    messages, _ = read(FIXTURES / "zh_tw.txt")
    assert rows(messages) == [
        ("2024-02-09T10:02", "小明", "text", "早安"),
        ("2024-02-09T16:46", "阿華", "media", "[貼圖]"),
        ("2024-02-09T16:47", "阿華", "system", "☎ 通話時間0:53"),
        ("2024-02-09T16:50", "小明", "deleted", "小明已收回訊息"),
    ]
    assert {m.conversation for m in messages} == {"小明"}


def test_weekday_decides_a_day_first_date(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(
        "[LINE] Chat history with Bo\nSaved on: 2016/08/06 10:00\n\n"
        "Fri, 05/08/2016\n10:00\tBo\thi\n"  # 5 August 2016 was a Friday, 8 May a Sunday
        "Sun, 05/08/2016\n10:00\tBo\thi again\n",
        encoding="utf-8",
    )
    messages, _ = read(path)
    assert [m.time for m in messages] == ["2016-08-05T10:00", "2016-05-08T10:00"]


def test_file_without_its_title_lines(tmp_path):
    path = tmp_path / "talk.txt"
    path.write_text("2024/01/01(Mon)\n10:00\tAna\thi\n10:01\tBo\thello\n", encoding="utf-8")
    assert detect(open_tree(path).entries[0]) == "line"
    messages, _ = read(path)
    assert [(m.conversation, m.sender) for m in messages] == [("talk", "Ana"), ("talk", "Bo")]


def test_messages_before_any_date_line_are_one_line_exit_2_and_no_output(run_cli, tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text("[LINE] Chat history with Ana\nSaved on: 2024/01/03 22:10\n\n09:15\tAna\thi\n")
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("model", "ingest", path, "--out", out / "messages.jsonl")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {path}:4: expected a LINE date line such as 2024/01/01(Mon) before the messages"
    )
    assert list(out.iterdir()) == []


def test_no_other_format_is_taken_for_line():
    others = [p for p in FIXTURES.parent.rglob("*") if p.is_file() and FIXTURES not in p.parents]
    assert [p for p in others if line.sniff(open_tree(p).entries[0])] == []


def test_ios_english_and_simplified_chinese_layouts(tmp_path):
    # iOS English writes "2025.12.10 Wednesday" and "09:15am"; Simplified Chinese "2026/1/30周五"
    (tmp_path / "ios.txt").write_text(
        "[LINE] Chat history with Ana\nSaved on: 2025/12/11 10:00\n\n2025.12.10 Wednesday\n"
        "09:15am\tAna\tmorning\n01:05pm\tBo\t[Photo]\n", encoding="utf-8")
    (tmp_path / "zh_cn.txt").write_text(
        "[LINE] 与小明的聊天记录\n保存日期：2026/01/31 10:00\n\n2026/1/30周五\n"
        "下午07:04\t\t小明已加入该群\n下午07:05\t小明\t[贴图]\n", encoding="utf-8")
    messages, _ = read(tmp_path)
    assert [(m.conversation, m.time, m.sender, m.kind, m.text) for m in messages] == [
        ("Ana", "2025-12-10T09:15", "Ana", "text", "morning"),
        ("Ana", "2025-12-10T13:05", "Bo", "media", "[Photo]"),
        ("小明", "2026-01-30T19:04", "", "system", "小明已加入该群"),
        ("小明", "2026-01-30T19:05", "小明", "media", "[贴图]"),
    ]  # fmt: skip
