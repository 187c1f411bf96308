"""Settings and where they come from: config layers, the option parser, remotes, locations, units, credentials."""
