"""The scheduler: the single writer of each run's event log, and the owner of timers."""
