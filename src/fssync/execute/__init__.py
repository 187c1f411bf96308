"""Where the work runs: the executor interface, Dask workers' side, sharding, Ctrl-C."""
