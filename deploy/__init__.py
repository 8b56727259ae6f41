"""Doppel on AWS: S3 model artifacts, Lambda through Zappa, EC2 and SageMaker through boto3.

Every command honours `--endpoint-url` / `AWS_ENDPOINT_URL`, which is how the tests
run all of it against a moto server on 127.0.0.1. Nothing here imports TensorFlow;
`deploy.lambda_entry` (and what it imports) is the only part that ships to Lambda.
"""
