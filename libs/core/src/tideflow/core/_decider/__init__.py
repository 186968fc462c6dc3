"""The working half of `decide`, one module per concern.

`_decision` holds the working state of one decision; the rules are functions of it:
`_start` (StartRun), `_flow` (readiness, skipping, run success), `_steps` (starting an
attempt per node type), `_attempts` (results, retries, failures), `_foreach`, `_agent`
(the model/tool loop of `agent` steps), `_saga`
(compensation and cancel), `_timers` (set, cancel, fire) and `_waits` (signals,
approvals). The modules call each other freely: each imports its siblings as modules.
"""
