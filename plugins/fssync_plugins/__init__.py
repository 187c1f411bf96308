"""fssync's first-party plugins: one subpackage each, under this one import name.

Each is declared in the ``fssync`` entry-point group and loaded through it exactly like a
third-party plugin. Nothing is imported here, so a run loads only the plugins it registers.
"""
