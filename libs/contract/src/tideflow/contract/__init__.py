"""The API's contract with its clients that both sides import: the stable error codes.

A library with no dependencies, so the client (which may not import a service) and the
services (which answer with these codes) share one list instead of keeping two in step.
"""

from tideflow.contract._errors import ErrorCode

__all__ = ["ErrorCode"]
