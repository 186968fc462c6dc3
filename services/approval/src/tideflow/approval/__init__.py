"""The approval service: the inbox of pending human approvals, who may decide, quorums.

It reads approval requests and outcomes from the public event stream into the `approvals`
table, serves `/approvals`, and sends each closed approval's decision to its run as an
`ApprovalDecision` command on `tideflow.runs`.
"""
