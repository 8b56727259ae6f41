"""`python -m deploy COMMAND ...` — put Doppel on AWS (S3, Lambda, EC2, SageMaker).

The dispatch (one module per command, imported only when chosen) is model/cli.py.
"""

from __future__ import annotations

import sys

from model.cli import dispatch

COMMANDS = {
    "artifacts": ("deploy.artifacts", "upload, download or list model bundles in S3"),
    "lambda": ("deploy.lambda_cli", "package the serving code for Lambda and deploy it with Zappa"),
    "ec2": ("deploy.ec2", "launch, inspect or tear down the bot on one EC2 instance"),
    "sagemaker": ("deploy.sagemaker", "train a bundle on a SageMaker training job"),
    "secrets": ("deploy.secrets_store", "store the X and Telegram credentials in SSM Parameter Store"),
    "state": ("deploy.state", "create, inspect or delete the poller's DynamoDB table"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m deploy", __doc__, COMMANDS, argv, remote_errors=("botocore", "boto3"),
                    remote_label="AWS: ")


if __name__ == "__main__":
    sys.exit(main())
