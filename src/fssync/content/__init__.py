"""What a file holds: content hashes, S3 ETags, metadata hashes and mtimes, verified reads."""
