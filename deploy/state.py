"""The poller's DynamoDB table (`BOT_STATE=dynamodb://<table>`): create, inspect, delete.

The schema is backend/bots/ledger/dynamo.py's (`create_table`), so the table the deploy
command makes is exactly the one the poller reads and writes.
"""

from __future__ import annotations

import argparse

from botocore.exceptions import ClientError

from backend.bots.ledger.dynamo import create_table
from deploy.aws import Aws, add_actions, is_missing


def table_name(stage: str) -> str:
    return f"doppel-{stage}-state"


def describe(dynamodb, table: str) -> dict | None:
    try:
        return dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def ensure_table(dynamodb, table: str) -> bool:
    """Create the table unless it exists; True if it was created."""
    if describe(dynamodb, table) is not None:
        return False
    create_table(dynamodb, table)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--stage", default="dev", help="stage; names the table doppel-STAGE-state")
    options.add_argument("--table", default=None, help="table name (overrides --stage)")
    add_actions(parser, {"create": "create the table unless it exists",
                         "status": "show the table (exit 1 when absent)",
                         "delete": "delete the table"}, options)


def run(args: argparse.Namespace) -> int:
    dynamodb = Aws.from_args(args).client("dynamodb")
    table = args.table or table_name(args.stage)
    if args.action == "create":
        created = ensure_table(dynamodb, table)
        print(f"{table}: {'created' if created else 'exists'} (BOT_STATE=dynamodb://{table})")
        return 0
    found = describe(dynamodb, table)
    if found is None:
        print(f"{table}: absent")
        return 1 if args.action == "status" else 0
    if args.action == "status":
        keys = ", ".join(f"{k['AttributeName']} ({k['KeyType']})" for k in found["KeySchema"])
        print(f"{table}: {found['TableStatus']}, keys {keys}, "
              f"{found.get('ItemCount', 0)} items")
    else:
        dynamodb.delete_table(TableName=table)
        print(f"{table}: deleted")
    return 0
