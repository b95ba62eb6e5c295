"""S3 storage: a configured boto3 client, error mapping, safe keys, archive reading, uploads.

Everything that talks to an S3-compatible endpoint (AWS, MinIO, Ceph RGW)
goes through ``client.make_client`` so that retries, timeouts and addressing
are set in one place, and every failure becomes an ``S3Error`` whose message
names the bucket and key but never a credential.
"""
