"""Object stores for the landing prefix: LocalStore (default) and S3Store (boto3)."""
