"""Every state-changing operation of the flows app, named as a domain verb."""
