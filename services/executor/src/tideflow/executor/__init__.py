"""The executor: runs node handlers for its task queues and reports step results."""
