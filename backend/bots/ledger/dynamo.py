"""The poller's state in one DynamoDB table, with conditional writes (see records.py).

Table: partition key `pk` (S), sort key `sk` (S), TTL attribute `expires_at`.
Items:
  pk="kv",            sk=initialized | since_id (num) | reset_time (num)
  pk="mention#<id>",  sk="-"   author_id, status, reason, reply_id, owner, claimed_at
  pk="claims",        sk=<id>  one per mention currently claimed (the recovery list)
  pk="optout#<user>", sk="-"
  pk="replies#<user>", sk="<time>#<mention id>"  one per reply, expires after a day
Every multi-item change is one TransactWriteItems call, so it happens entirely or not at all.
"""

from __future__ import annotations

from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from backend.bots.ledger.records import CLAIMED, DONE, REPLY_HISTORY_S, SKIPPED, MentionRecord

_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def _dump(item: dict) -> dict:
    return {
        key: _serializer.serialize(Decimal(repr(value)) if isinstance(value, float) else value)
        for key, value in item.items() if value is not None
    }


def _load(item: dict) -> dict:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _time_key(when: float) -> str:
    return f"{when:020.6f}"  # fixed width, so string order is time order


def _record(item: dict) -> MentionRecord:
    claimed_at = item.get("claimed_at")
    return MentionRecord(
        mention_id=item["pk"].split("#", 1)[1], author_id=item["author_id"],
        status=item["status"], reason=item.get("reason") or None,
        reply_id=item.get("reply_id") or None,
        owner=item.get("owner"), claimed_at=float(claimed_at) if claimed_at is not None else None,
    )


def create_table(client, name: str) -> None:
    """Create the state table (on-demand billing) and wait until it is usable."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def _condition_failed(error: ClientError) -> bool:
    code = error.response["Error"]["Code"]
    if code == "ConditionalCheckFailedException":
        return True
    reasons = error.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )


class DynamoState:
    def __init__(self, table: str, client=None, **client_options):
        self.table = table
        self._db = client or boto3.client("dynamodb", **client_options)

    def close(self) -> None:
        pass

    def _get_item(self, pk: str, sk: str = "-") -> dict | None:
        found = self._db.get_item(
            TableName=self.table, Key=_dump({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        return _load(found["Item"]) if "Item" in found else None

    def _conditional(self, call, **request) -> bool:
        try:
            call(**request)
            return True
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise

    def _transact(self, *operations: dict) -> bool:
        return self._conditional(self._db.transact_write_items, TransactItems=list(operations))

    # --- poll position and rate limits ---------------------------------------------------
    def initialized(self) -> bool:
        return self._get_item("kv", "initialized") is not None

    def initialize(self, since_id: str | None) -> None:
        self._db.put_item(TableName=self.table, Item=_dump({"pk": "kv", "sk": "initialized"}))
        if since_id is not None:
            self.advance_since_id(since_id)

    def since_id(self) -> str | None:
        item = self._get_item("kv", "since_id")
        return str(int(item["value"])) if item else None

    def advance_since_id(self, mention_id: str) -> None:
        # Numbers compare numerically (ids differ in length); never moves backwards.
        self._conditional(
            self._db.update_item, TableName=self.table, Key=_dump({"pk": "kv", "sk": "since_id"}),
            UpdateExpression="SET #v = :v",
            ConditionExpression="attribute_not_exists(#v) OR #v < :v",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues=_dump({":v": int(mention_id)}),
        )

    def reset_time(self) -> float:
        item = self._get_item("kv", "reset_time")
        return float(item["value"]) if item else 0.0

    def set_reset_time(self, when: float) -> None:
        self._db.put_item(
            TableName=self.table, Item=_dump({"pk": "kv", "sk": "reset_time", "value": when})
        )

    # --- mentions -----------------------------------------------------------------------
    def mention(self, mention_id: str) -> MentionRecord | None:
        item = self._get_item(f"mention#{mention_id}")
        return _record(item) if item else None

    def _mention_key(self, mention_id: str) -> dict:
        return _dump({"pk": f"mention#{mention_id}", "sk": "-"})

    def _claims_put(self, mention_id: str) -> dict:
        return {"Put": {"TableName": self.table, "Item": _dump({"pk": "claims", "sk": mention_id})}}

    def _claims_delete(self, mention_id: str) -> dict:
        return {"Delete": {"TableName": self.table, "Key": _dump({"pk": "claims", "sk": mention_id})}}

    def claim(self, mention_id: str, author_id: str, owner: str, now: float) -> bool:
        item = {"pk": f"mention#{mention_id}", "sk": "-", "author_id": author_id,
                "status": CLAIMED, "owner": owner, "claimed_at": now}
        return self._transact(
            {"Put": {"TableName": self.table, "Item": _dump(item),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            self._claims_put(mention_id),
        )

    def take_over(self, record: MentionRecord, owner: str, now: float) -> bool:
        return self._conditional(
            self._db.update_item, TableName=self.table, Key=self._mention_key(record.mention_id),
            UpdateExpression="SET #owner = :new_owner, claimed_at = :now",
            ConditionExpression="#status = :claimed AND #owner = :old_owner AND claimed_at = :at",
            ExpressionAttributeNames={"#owner": "owner", "#status": "status"},
            ExpressionAttributeValues=_dump({
                ":new_owner": owner, ":now": now, ":claimed": CLAIMED,
                ":old_owner": record.owner, ":at": record.claimed_at,
            }),
        )

    def confirm(self, mention_id: str, reply_id: str | None, now: float,
                reason: str | None = None) -> bool:
        record = self.mention(mention_id)
        if record is None or record.status != CLAIMED:
            return False
        done = {":done": DONE, ":claimed": CLAIMED, ":reply": reply_id or "", ":reason": reason or ""}
        reply_item = {"pk": f"replies#{record.author_id}", "sk": f"{_time_key(now)}#{mention_id}",
                      "expires_at": int(now) + REPLY_HISTORY_S}
        return self._transact(
            {"Update": {
                "TableName": self.table, "Key": self._mention_key(mention_id),
                "UpdateExpression": "SET #status = :done, reply_id = :reply, reason = :reason",
                "ConditionExpression": "#status = :claimed",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": _dump(done),
            }},
            self._claims_delete(mention_id),
            {"Put": {"TableName": self.table, "Item": _dump(reply_item)}},
        )

    def skip(self, mention_id: str, author_id: str, reason: str, now: float) -> bool:
        item = {"pk": f"mention#{mention_id}", "sk": "-", "author_id": author_id,
                "status": SKIPPED, "reason": reason}
        if self._conditional(self._db.put_item, TableName=self.table, Item=_dump(item),
                             ConditionExpression="attribute_not_exists(pk)"):
            return True
        return self._transact(
            {"Update": {
                "TableName": self.table, "Key": self._mention_key(mention_id),
                "UpdateExpression": "SET #status = :skipped, reason = :reason",
                "ConditionExpression": "#status = :claimed",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": _dump(
                    {":skipped": SKIPPED, ":reason": reason, ":claimed": CLAIMED}
                ),
            }},
            self._claims_delete(mention_id),
        )

    def _query(self, **request) -> list[dict]:
        items, paginator = [], self._db.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True, **request):
            items.extend(_load(item) for item in page["Items"])
        return items

    def stale_claims(self, claimed_before: float) -> list[MentionRecord]:
        claimed_ids = [item["sk"] for item in self._query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues=_dump({":pk": "claims"})
        )]
        records = [self.mention(mention_id) for mention_id in claimed_ids]
        stale = [r for r in records if r and r.status == CLAIMED and r.claimed_at < claimed_before]
        return sorted(stale, key=lambda r: r.claimed_at)

    def all_mentions(self) -> list[MentionRecord]:
        items, paginator = [], self._db.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table, ConsistentRead=True, FilterExpression="begins_with(pk, :m)",
            ExpressionAttributeValues=_dump({":m": "mention#"}),
        ):
            items.extend(_record(_load(item)) for item in page["Items"])
        return items

    # --- people ------------------------------------------------------------------------
    def set_opted_out(self, user_id: str, opted_out: bool, now: float) -> None:
        key = {"pk": f"optout#{user_id}", "sk": "-"}
        if opted_out:
            self._db.put_item(TableName=self.table, Item=_dump({**key, "at": now}))
        else:
            self._db.delete_item(TableName=self.table, Key=_dump(key))

    def opted_out(self, user_id: str) -> bool:
        return self._get_item(f"optout#{user_id}") is not None

    def replies_since(self, user_id: str, since: float) -> int:
        return len(self._query(
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues=_dump({":pk": f"replies#{user_id}", ":since": _time_key(since)}),
        ))
