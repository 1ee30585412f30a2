"""Encrypts and decrypts a message with the AWS Encryption SDK for Python through Strongroom's KMS.

Reads the key ARN from argv[1]; the endpoint and credentials come from the environment
(AWS_ENDPOINT_URL_KMS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION).
Prints one JSON line describing what happened.
"""
import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy

key_arn = sys.argv[1]
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
context = {"purpose": "esdk-test"}
plaintext = b"MARKER-ESDK-MESSAGE " * 40

ciphertext, enc_header = client.encrypt(source=plaintext, key_provider=provider, encryption_context=context)
decrypted, dec_header = client.decrypt(source=ciphertext, key_provider=provider)

print(json.dumps({
    "round_trip": decrypted == plaintext,
    "ciphertext_differs": plaintext not in ciphertext,
    "context_kept": all(dec_header.encryption_context.get(k) == v for k, v in context.items()),
    "data_keys": [k.key_provider.key_info.decode() for k in enc_header.encrypted_data_keys],
}))
