"""PII scrubbing (model/pii.py): what is replaced, what ordinary chat keeps, and that every
placeholder is handled wherever placeholders are (tokenizer, runtime bans, X/Telegram)."""

import pytest

from model.data.messages import Message
from model.data.pairs import PairOptions, build_pairs
from model.pii import PII_TOKENS, iban_ok, scrub_pii, strip_placeholders
from model.serve.tokenizer import Tokenizer


@pytest.mark.parametrize("text, expected", [
    # long numbers, typed together or apart
    ("my locker code 7 3 9 1 4 lol", "my locker code <number> lol"),
    ("zip 90210", "zip <number>"),
    ("ref 12 34 56", "ref <number>"),
    ("order 1234 5678 9012 3456 ok", "order <number> ok"),  # fails Luhn: not a card
    # IBANs, spaced or not, checked by mod 97
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN <iban> thanks"),
    ("send to gb82west12345698765432", "send to <iban>"),
    ("FR14 2004 1010 0505 0001 3M02 606.", "<iban>."),
    # addresses
    ("i live at 42 maple lane", "i live at <address>"),
    ("I'm at 4127 Maple Lane, come by", "I'm at <address>, come by"),
    ("10 Downing Street is famous", "<address> is famous"),
    ("send it to 350 5th Ave please", "send it to <address> please"),
    ("meet me at 9 elm st.", "meet me at <address>."),
    ("wohne in der Hauptstraße 5", "wohne in der <address>"),
    ("Berliner Str. 12, Berlin", "<address>, Berlin"),
    ("Calle Mayor 12, Madrid", "<address>, Madrid"),
    ("moro na Rua Augusta, 45", "moro na <address>"),
    ("Via Roma 10", "<address>"),
    ("12 rue de la Paix", "<address>"),
    # UK and Canadian postcodes; lower case after a cue
    ("221B Baker Street, London NW1 6XE", "<address>, London <address>"),
    ("send it to EC1A 1BB or SW1A2AA", "send it to <address> or <address>"),
    ("Ottawa ON K1A 0B1", "Ottawa ON <address>"),
    ("my postcode is nw1 6xe", "my postcode is <address>"),
    ("postal code: k1a 0b1", "postal code: <address>"),
    # passwords and codes: the cue stays, the secret goes
    ("my locker code is 7 3 9 1 4", "my locker code is <secret>"),
    ("the wifi password is hunter2!", "the wifi password is <secret>!"),
    ("password: swordfish", "password: <secret>"),
    ("pw is Tr0ub4dor&3 ok", "pw is <secret> ok"),
    ("my pin is 1234.", "my pin is <secret>."),
    ("the code is: 0451", "the code is: <secret>"),
    ("the door code's 2580 ok", "the door code's <secret> ok"),
    ("mi contraseña es gato123", "mi contraseña es <secret>"),
    # what scrubbing knew before stays as it was
    ("call me on +44 7700 900123 tonight", "call me on <phone> tonight"),
    ("call 555-0134-22 or 07700-900123.", "call <phone> or <phone>."),
    ("card 4111 1111 1111 1111 ok", "card <card> ok"),
    ("mail ana.b+x@example.co.uk now", "mail <email> now"),
])
def test_scrubs_personal_data(text, expected):
    assert scrub_pii(text) == expected


@pytest.mark.parametrize("text", [
    "I'm 25", "see you at 5", "back in 2022", "at 10:30", "room 101", "from 2019-2020",
    "1990 2000 2010", "in 2019 2020", "on 18.03.2022", "10.30-11.45", "meet at 8:30 on 2022-03-18",
    "it costs 100,000 dollars", "it was 12345.67 in the end", "pi is 3.14159", "1.234.567 people",
    "I have 12 cats and 300 dogs", "top 10 road trips", "Spring 2020 was rough", "Route 66",
    "I walked 3 blocks down the street", "a 5 hour road trip", "2 kids drive me crazy",
    "we did a 5 star street food tour", "I came via London 2 days ago",
    "So a 3 to 4 hour drive from me", "1970 Plymouth road runner",
    "the code is broken", "the code is 42 lines", "my password is wrong", "the password is in the drawer",
    "what's the wifi password?", "my pin is stuck",
    # identifiers: a hyphen-joined word is no phone number, however many digits it holds
    "31267496-e50f-4f91-a197-c5b1bfde803b", "6613498d-5412-4cd6-9ffc-0f2e7e1a0c6b joined",
    "build 20241130-rc2 is out",
    # shaped a little like postcodes: models, paper, vitamins, sizes, ordinals, times
    "my mp3 2gb", "A4 paper", "B12 vitamins", "CO2 levels", "COVID 19", "my PS4 1TB",
    "take the M25 2ND exit", "F1 at 5PM", "nw1 6xe", "M4 is closed",
])
def test_ordinary_chat_is_left_alone(text):
    assert scrub_pii(text) == text


def test_iban_checksum():
    assert iban_ok("DE89 3704 0044 0532 0130 00") and iban_ok("GB82WEST12345698765432")
    assert not iban_ok("DE89 3704 0044 0532 0130 01")  # one digit off
    assert not iban_ok("ZZ89 3704 0044 0532 0130 00")  # no such country
    # a wrong checksum is not an IBAN; its long digit groups are still a number
    assert "<iban>" not in scrub_pii("DE88 3704 0044 0532 0130 00")


def test_pairs_scrub_context_and_reply_with_the_new_placeholders():
    chat = [Message("test", "c", None, "Bo", "what's the wifi password?"),
            Message("test", "c", None, "Ana", "it's hunter22 <brk> the password is hunter22"),
            Message("test", "c", None, "Bo", "thx, I'm at 42 Maple Lane"),
            Message("test", "c", None, "Ana", "ok")]
    pairs = list(build_pairs(chat, PairOptions(persona=["Ana"])))
    assert pairs[0]["reply"] == "it's hunter22 <brk> the password is <secret>"
    assert pairs[1]["context"][-1] == "thx, I'm at <address>"
    raw = list(build_pairs(chat, PairOptions(persona=["Ana"], scrub_pii=False)))
    assert raw[1]["context"][-1] == "thx, I'm at 42 Maple Lane"


def test_every_placeholder_is_a_single_token_and_never_posted():
    tokenizer = Tokenizer.train(["hi there <secret> and <address> <number> <iban>"] * 5,
                                vocab_size=320, personas=["Ana"])
    for token in PII_TOKENS:
        assert tokenizer.encode_text(token) == [tokenizer.hf.token_to_id(token)]
        assert strip_placeholders(f"sure {token} ok") == "sure ok"


@pytest.mark.parametrize(("generated", "shown"), [
    ("call me on <phone> tonight", "call me on tonight"),
    ("<url> <brk> check it out", "<brk> check it out"),
    ("my code is <secret>", "my code is"),
    ("<3 see you", "<3 see you"),
    ("plain reply", "plain reply"),
])
def test_placeholders_a_model_writes_back_never_reach_a_reply(generated, shown):
    assert strip_placeholders(generated) == shown
    assert not any(token in strip_placeholders(generated) for token in PII_TOKENS)
