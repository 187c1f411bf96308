"""What fssync keeps between runs, in the one state SQLite file: records, the upload journal, temporary names, locks."""
