"""Match, decide and filter: the plan of a run, without I/O (a test checks it, transitively)."""
