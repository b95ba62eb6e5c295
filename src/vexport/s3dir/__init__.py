"""``POST /export-to-s3dir``: cut a clip out of an S3 archive and deliver it to a bucket."""
