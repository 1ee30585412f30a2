"""The DynamoDB Encryption Client for Python (PyPI dynamodb-encryption-sdk) against Strongroom: items
encrypted and signed on the client under a KMS materials provider backed by Strongroom's KMS, stored in a
Strongroom table, read back. Endpoints come from AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_KMS.
Usage: ddb_encryption_client.py TABLE KEY_ARN; prints one JSON object."""

import json
import sys

import boto3
from boto3.dynamodb.types import Binary
from dynamodb_encryption_sdk.encrypted.table import EncryptedTable
from dynamodb_encryption_sdk.material_providers.aws_kms import AwsKmsCryptographicMaterialsProvider

table_name, key_arn = sys.argv[1], sys.argv[2]
table = boto3.resource("dynamodb").Table(table_name)
encrypted = EncryptedTable(
    table=table,
    materials_provider=AwsKmsCryptographicMaterialsProvider(key_id=key_arn),
)
item = {"id": "client-side", "secret": "CLIENT-SIDE-MARKER", "count": 7}
encrypted.put_item(Item=item)
got = encrypted.get_item(Key={"id": "client-side"})["Item"]
raw = table.get_item(Key={"id": "client-side"})["Item"]
print(
    json.dumps(
        {
            "round_trip": got["secret"] == item["secret"] and int(got["count"]) == 7,
            "stored_encrypted": isinstance(raw["secret"], Binary)
            and b"CLIENT-SIDE-MARKER" not in bytes(raw["secret"]),
            "signed": "*amzn-ddb-map-sig*" in raw,
            "key_in_clear_for_dynamodb": raw["id"] == "client-side",
        }
    )
)
