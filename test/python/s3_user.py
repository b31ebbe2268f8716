"""Creates an IAM user with an access key allowed every S3 action, and prints the key as JSON.

  python s3_user.py ENDPOINT_URL

Meant for moto in server mode with IAM authentication on, while its first requests still run
unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT): this script makes three. Prints {"id": ..., "secret": ...}.
"""
import json
import sys

import boto3

endpoint = sys.argv[1]
iam = boto3.client(
    "iam",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="setup",
    aws_secret_access_key="setup",
)
iam.create_user(UserName="kserve")
key = iam.create_access_key(UserName="kserve")["AccessKey"]
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam.put_user_policy(UserName="kserve", PolicyName="s3", PolicyDocument=json.dumps(policy))
print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
