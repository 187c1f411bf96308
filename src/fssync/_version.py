"""fssync's version, written here and nowhere else.

The distribution's metadata reads it at build time (pyproject's ``dynamic`` version), and
``fssync.__version__``, ``fssync --version``, the run report, the log header and the
User-Agent all come from it. It imports nothing, so a build can read it without fssync's
dependencies installed.
"""

__version__ = "0.1.0"
