"""Creates a bucket (if it is not there yet) and puts objects in it.

  python s3_put.py ENDPOINT_URL BUCKET KEY=BODY [KEY=BODY ...]

The key is everything before the first "=", the body (UTF-8) everything after it. The credentials come
from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as boto3 reads them.
"""
import sys

import boto3

endpoint, bucket, objects = sys.argv[1], sys.argv[2], sys.argv[3:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
for item in objects:
    key, sep, body = item.partition("=")
    if not sep or not key:
        sys.exit(f"s3_put.py: {item!r} is not KEY=BODY")
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"))
