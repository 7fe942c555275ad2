"""The execution engine: trigger runner, step tasks, delivery ledger and execution records."""
