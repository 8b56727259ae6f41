"""The poller's state store: SQLite file and DynamoDB (on a moto server on 127.0.0.1)."""

from __future__ import annotations

import threading

import boto3
import pytest

from backend.bots.ledger.dynamo import DynamoState, create_table
from backend.bots.ledger.records import CLAIMED, DONE, SKIPPED
from backend.bots.ledger.sqlite import SqliteState
from backend.bots.ledger.stores import open_state
from model.errors import InputError


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def dynamo_client(endpoint: str):
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


_tables = iter(range(10_000))


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        state = open_state(f"sqlite:///{tmp_path}/state.sqlite")
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        name = f"doppel-state-{next(_tables)}"
        create_table(dynamo_client(endpoint), name)
        state = open_state(f"dynamodb://{name}", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        assert isinstance(state, DynamoState)
    yield state
    state.close()


def test_poll_position_only_moves_forward(store):
    assert not store.initialized() and store.since_id() is None
    store.initialize(None)
    assert store.initialized() and store.since_id() is None
    store.advance_since_id("1800000000000000005")
    store.advance_since_id("999")  # shorter id = older: a string comparison would move back
    assert store.since_id() == "1800000000000000005"
    store.advance_since_id("1800000000000000010")
    assert store.since_id() == "1800000000000000010"
    store.set_reset_time(1234.5)
    assert store.reset_time() == 1234.5


def test_claim_is_exclusive_and_confirm_counts_the_reply(store):
    assert store.claim("11", "alice", "run-a", now=100.0)
    assert not store.claim("11", "alice", "run-b", now=101.0)
    record = store.mention("11")
    assert (record.status, record.owner, record.claimed_at) == (CLAIMED, "run-a", 100.0)
    assert store.confirm("11", "99", now=102.0)
    assert not store.confirm("11", "98", now=103.0)  # already done: the first reply stands
    record = store.mention("11")
    assert (record.status, record.reply_id) == (DONE, "99")
    assert store.replies_since("alice", 50.0) == 1
    assert store.replies_since("alice", 102.5) == 0
    assert store.stale_claims(claimed_before=1e9) == []


def test_skips_never_overwrite_a_done_mention(store):
    assert store.skip("21", "bob", "too_old", now=1.0)
    assert store.mention("21").reason == "too_old"
    assert store.claim("22", "bob", "run-a", now=1.0)
    assert store.skip("22", "bob", "blocked_outgoing", now=2.0)  # our claim becomes a skip
    assert (store.mention("22").status, store.mention("22").reason) == (SKIPPED, "blocked_outgoing")
    assert store.claim("23", "bob", "run-a", now=1.0) and store.confirm("23", "7", now=2.0)
    assert not store.skip("23", "bob", "too_old", now=3.0)
    assert store.mention("23").status == DONE
    assert not store.claim("21", "bob", "run-a", now=4.0)  # a skipped mention stays skipped


def test_stale_claim_is_taken_over_by_exactly_one_poller(store):
    assert store.claim("31", "carol", "dead-run", now=10.0)
    assert store.claim("32", "carol", "dead-run", now=50.0)
    stale = store.stale_claims(claimed_before=20.0)
    assert [r.mention_id for r in stale] == ["31"]
    assert store.take_over(stale[0], "run-b", now=60.0)
    assert not store.take_over(stale[0], "run-c", now=61.0)  # stale copy: condition fails
    assert store.mention("31").owner == "run-b"
    assert store.confirm("31", "500", now=62.0)
    assert [r.mention_id for r in store.stale_claims(claimed_before=1e9)] == ["32"]


def test_opt_out_and_per_user_window(store):
    assert not store.opted_out("dave")
    store.set_opted_out("dave", True, now=1.0)
    assert store.opted_out("dave") and not store.opted_out("erin")
    store.set_opted_out("dave", False, now=2.0)
    assert not store.opted_out("dave")
    for i, when in enumerate([100.0, 200.0, 3000.0, 3700.0]):
        assert store.claim(f"4{i}", "erin", "run", now=when)
        assert store.confirm(f"4{i}", f"9{i}", now=when)
    assert store.replies_since("erin", 3700.0 - 3600) == 4
    assert store.replies_since("erin", 201.0) == 2
    assert store.replies_since("dave", 0.0) == 0


def test_concurrent_claims_on_one_sqlite_file_have_one_winner(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.sqlite"
    stores = [open_state(url) for _ in range(4)]
    wins: list[int] = []
    barrier = threading.Barrier(len(stores))

    def contend(index: int) -> None:
        barrier.wait()
        for n in range(30):
            if stores[index].claim(f"m{n}", "u", f"run-{index}", now=1.0):
                wins.append(n)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == list(range(30))
    assert isinstance(stores[0], SqliteState)


@pytest.mark.parametrize("url", ["sqlite://", "postgres://x/y", "dynamodb://", "state.db"])
def test_bad_state_url_is_an_input_error(url):
    with pytest.raises(InputError, match="BOT_STATE"):
        open_state(url)
