"""`python -m deploy COMMAND ...` — put Doppel on AWS (S3, Lambda, EC2, SageMaker).

Each command lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; only the chosen one is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from model.errors import InputError

COMMANDS = {
    "artifacts": ("deploy.artifacts", "upload, download or list model bundles in S3"),
    "lambda": ("deploy.lambda_cli", "package the serving code for Lambda and deploy it with Zappa"),
    "ec2": ("deploy.ec2", "launch, inspect or tear down the bot on one EC2 instance"),
    "sagemaker": ("deploy.sagemaker", "train a bundle on a SageMaker training job"),
    "secrets": ("deploy.secrets_store", "store the X credentials in SSM Parameter Store"),
    "state": ("deploy.state", "create, inspect or delete the poller's DynamoDB table"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    module = None
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
    args = parser.parse_args(argv)
    try:
        return module.run(args) or 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # AWS said no (permissions, throttling, a missing resource): one line, not a trace.
        if type(exc).__module__.startswith(("botocore", "boto3")):
            print(f"error: AWS: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
