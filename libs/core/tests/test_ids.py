"""Derived identities: stable formats, and scoped as widely as where they are stored.

Ids kept inside one run (step keys, timer ids) may repeat across runs; ids that travel on
topics or sit in tables shared by every run must differ between two runs of the same
workflow with the same steps. Values are pinned: changing one changes recorded histories
and the ids of messages in flight, so it must be deliberate.
"""

import pytest

from tideflow.core import TimerRef, ids

pytestmark = pytest.mark.unit


def test_run_scoped_ids_keep_their_recorded_format() -> None:
    assert ids.timer_id("pause", "delay", 1) == "pause/delay/1"
    assert ids.item_key("each", 3) == "each[3]"
    assert ids.compensation_key("save") == "save.compensate"
    assert ids.compensated_step(ids.compensation_key("save")) == "save"


def test_derived_uuids_are_stable() -> None:
    assert ids.child_run_id("run-1", "child", 1) == "af82d44b-5582-562a-b772-8a7b68269d1e"
    assert ids.approval_id("run-1", "approve", 1) == "c1fd4f6d-3653-5796-87f0-f1d3d31ed1c3"


def test_global_ids_differ_between_runs_with_the_same_steps() -> None:
    def all_ids(run_id: str) -> list[str]:
        return [
            ids.start_command_id(run_id),
            ids.fire_timer_command_id(TimerRef(run_id, ids.timer_id("pause", "delay", 1))),
            ids.result_command_id(run_id, "fetch", 1),
            ids.task_message_id(run_id, "fetch", 1),
            ids.cancel_task_message_id(run_id, "fetch", 1),
            ids.child_run_id(run_id, "child", 1),
            ids.child_cancel_command_id(ids.child_run_id(run_id, "child", 1)),
            ids.child_ended_command_id(ids.child_run_id(run_id, "child", 1)),
            ids.child_missing_command_id(ids.child_run_id(run_id, "child", 1)),
            ids.approval_id(run_id, "approve", 1),
            ids.approval_decision_command_id(ids.approval_id(run_id, "approve", 1)),
            ids.event_message_id(run_id, 7),
        ]

    a, b = all_ids("run-a"), all_ids("run-b")
    assert len(set(a)) == len(a)
    assert not set(a) & set(b)
