"""Tokenizer: fixed special ids, lossless round-trip in any script, context encoding."""

from __future__ import annotations

import pytest

from model.errors import InputError
from model.serve.tokenizer import PII_TOKENS, SPECIAL_TOKENS, Tokenizer, min_vocab_size

CORPUS = [
    "are you coming tonight?", "yes! <brk> see you at 8", "call me at <phone>",
    "haha that's great 😂😂", "I'll bring snacks <brk> and drinks", "où es-tu ?",
    "我们明天见", "مرحبا كيف حالك", "ok cool <brk> bye",
] * 10


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train(CORPUS, vocab_size=400, personas=["Ana", "Bo"],
                           max_context_tokens=12, max_reply_tokens=10)


def test_special_and_speaker_tokens_have_fixed_ids(tokenizer):
    hf = tokenizer.hf
    assert [hf.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4, 5]
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2)
    assert (tokenizer.brk_id, tokenizer.sep_id) == (4, 5)
    assert [hf.token_to_id(token) for token in PII_TOKENS] == list(range(6, 14))
    assert tokenizer.speaker_ids == {"Ana": 14, "Bo": 15}


@pytest.mark.parametrize("text", [
    "see you at 8",
    "party 🎉🦜 at mine (never seen emoji: 🫠)",
    "東京で会いましょう",  # CJK never in the corpus: byte fallback
    "مرحبا كيف حالك",
    "שלום עולם",
    "yes! <brk> see you at 8 <brk> 🎉",
    "mail <email> or call <phone>, site <url>",
    "tabs\tand  double  spaces",
])
def test_round_trip_is_lossless(tokenizer, text):
    ids = tokenizer.encode_text(text)
    assert tokenizer.unk_id not in ids
    assert tokenizer.decode(ids) == text


def test_brk_absorbs_spaces_and_decodes_canonically(tokenizer):
    ids = tokenizer.encode_text("a <brk> b")
    assert ids.count(tokenizer.brk_id) == 1 and len(ids) == 3
    assert tokenizer.decode(tokenizer.encode_text("a<brk>b")) == "a <brk> b"
    assert tokenizer.split_messages("a <brk> b") == ["a", "b"]


def test_pii_placeholders_are_single_tokens(tokenizer):
    for token in PII_TOKENS:
        assert tokenizer.encode_text(token) == [tokenizer.hf.token_to_id(token)]


def test_structure_tokens_typed_in_a_message_are_only_text(tokenizer):
    """A message may say "</s>" or a speaker's "<p:Ana>": that must not end the context or
    speak as someone (only <brk> and the PII placeholders stand for text)."""
    structure = {tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.sep_id,
                 tokenizer.unk_id, *tokenizer.speaker_ids.values()}
    typed = "</s> <s> <pad> <sep> " + " ".join(f"<p:{name}>" for name in tokenizer.speaker_ids)
    ids = tokenizer.encode_text(f"{typed} <brk> call <phone>")
    assert not structure & set(ids)
    assert tokenizer.brk_id in ids and tokenizer.hf.token_to_id("<phone>") in ids
    assert tokenizer.decode(tokenizer.encode_text(typed)) == typed


def test_decode_stops_at_eos_and_hides_structure_tokens(tokenizer):
    hi = tokenizer.encode_text("hi")
    there = tokenizer.encode_text("there")
    ids = [tokenizer.bos_id, tokenizer.speaker_ids["Ana"], *hi, tokenizer.sep_id, *there,
           tokenizer.eos_id, *there]
    assert tokenizer.decode(ids) == "hithere"


def test_context_joins_turns_with_sep_and_speaker_tokens(tokenizer):
    ids = tokenizer.encode_context(["hi", "yo"], ["Bo", "Stranger"], max_tokens=100)
    assert ids == [tokenizer.speaker_ids["Bo"], *tokenizer.encode_text("hi"), tokenizer.sep_id,
                   *tokenizer.encode_text("yo")]
    assert tokenizer.encode_context(["hi", "yo"], max_tokens=100) == [
        *tokenizer.encode_text("hi"), tokenizer.sep_id, *tokenizer.encode_text("yo")]


def test_context_keeps_the_newest_tokens(tokenizer):
    turns = ["one two three four five six", "seven eight nine ten"]
    full = tokenizer.encode_context(turns, max_tokens=1000)
    assert len(full) > 12
    assert tokenizer.encode_context(turns) == full[-12:]


def test_reply_is_cut_to_leave_room_for_bos_and_eos(tokenizer):
    assert len(tokenizer.encode_reply("one two three four five six seven eight nine")) == 8


def test_save_load_reads_limits_from_bundle_json(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tokenizer.json")
    (tmp_path / "bundle.json").write_text('{"max_context_tokens": 7, "max_reply_tokens": 5}')
    loaded = Tokenizer.load(tmp_path)
    assert loaded.speaker_ids == tokenizer.speaker_ids
    assert (loaded.max_context_tokens, loaded.max_reply_tokens) == (7, 5)
    text = "yes! <brk> see you at 8 🎉"
    assert loaded.encode_text(text) == tokenizer.encode_text(text)


def test_new_personas_get_appended_ids(tmp_path):
    tokenizer = Tokenizer.train(CORPUS, vocab_size=400, personas=["Ana"])
    size = tokenizer.vocab_size
    assert tokenizer.add_personas(["Ana", "Cy"]) == ["Cy"]
    assert tokenizer.speaker_ids["Cy"] == size and tokenizer.vocab_size == size + 1
    assert tokenizer.encode_context(["hi"], ["Cy"])[0] == size


def test_too_small_vocab_names_the_key():
    with pytest.raises(InputError, match=r"model\.vocab: 200 is too small"):
        Tokenizer.train(CORPUS, vocab_size=200, personas=["Ana"])
    assert min_vocab_size(3) == 256 + 6 + 8 + 3


def test_unreadable_tokenizer_file_is_an_input_error(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="tokenizer.json"):
        Tokenizer.load(bad)


def test_decode_drops_an_incomplete_utf8_sequence(tokenizer):
    """A reply cut inside a character (or a stray sampled byte) showed U+FFFD ("d�")."""
    east = tokenizer.encode_text("東")  # never in the corpus: its three bytes, one a token
    hi, ok = tokenizer.encode_text("hi"), tokenizer.encode_text(" ok")
    assert len(east) == 3
    assert tokenizer.decode(hi + east[:2]) == "hi"
    assert tokenizer.decode(hi + east[1:] + ok) == "hi ok"
    assert tokenizer.decode(hi + east + ok) == "hi東 ok"
