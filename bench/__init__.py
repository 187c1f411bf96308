"""Side-by-side benchmarks of fssync against the anchors (aws, s5cmd, rclone, s3cmd).

Run ``python -m bench --help`` from the repository root; see bench/README.md.
"""
