"""Dataset folders: Parquet shards under data/, a manifest and statistics."""
