"""Who may decide an approval: the one place that rule lives.

Deciding needs the `approver` grant of the caller's tenant (an `approver` or an `admin`;
the route refuses anyone else with 403). The node then narrows it down:
- `assignees` (user names): only those people, and/or
- `role`: only callers whose role includes it (`role: admin` leaves approvers out).
With both, either qualifies. A tenant admin may always decide (someone must be able to
unblock a run whose assignees left); their vote counts like anyone's.
Approvals of another tenant do not exist for a caller (404, never 403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.auth import Role

if TYPE_CHECKING:
    from tideflow.auth import Principal
    from tideflow.store import ApprovalRecord

DECIDES = Role.APPROVER
"""The grant deciding needs at all."""


def may_decide(principal: Principal, approval: ApprovalRecord) -> bool:
    """Whether `principal` may cast a vote on `approval`."""
    if principal.tenant_id != approval.tenant_id or not principal.allows(DECIDES):
        return False
    if principal.allows(Role.ADMIN):
        return True
    if approval.assignees and principal.subject in approval.assignees:
        return True
    if approval.role is not None:
        try:
            return principal.allows(Role(approval.role))
        except ValueError:
            return False
    return not approval.assignees
