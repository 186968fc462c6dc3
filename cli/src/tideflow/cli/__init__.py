"""The `tide` command line: one entry point for running, operating and using Tideflow."""
