"""Two-way sync (``fssync bisync A B``): a pure decision per path, a per-path state, and the
run that carries the decisions out with the one-way machinery."""
