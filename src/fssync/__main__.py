import sys

from fssync.cli.main import main

sys.exit(main())
