"""Makes moto's S3 server check credentials, and prints the one access key it then accepts.

usage: test-credentials.py <endpoint>   (run with the moto venv's python; prints "KEY_ID SECRET")

moto accepts any credentials until IAM authentication is switched on. The tests of tidemark's S3
errors need a server that refuses a wrong key, so: authentication off, an IAM user
"tidemark-test" with an s3:* policy and a new access key, then authentication on for every
request (/moto-api/reset-auth 0). Idempotent: run again against the same server, it adds a key.
"""
import json
import sys
import urllib.request

import boto3


def reset_auth(endpoint, count):
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req, timeout=10).read()


def main():
    endpoint = sys.argv[1].rstrip("/")
    reset_auth(endpoint, "inf")
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="AKIATIDEMARKBOOTSTRAP", aws_secret_access_key="bootstrap",
    )
    user = "tidemark-test"
    try:
        iam.create_user(UserName=user)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3-all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    reset_auth(endpoint, "0")
    print(key["AccessKeyId"], key["SecretAccessKey"])


if __name__ == "__main__":
    main()
