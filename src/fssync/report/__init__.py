"""The run's report: the tally of its events and the text it is printed as."""
