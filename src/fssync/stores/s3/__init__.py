"""S3: one set of object rules (`objects`) over two transports; the s3fs path is `s3fs_path`."""
