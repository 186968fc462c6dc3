"""Rooms: one shared document per workflow draft per tenant, open while someone edits it.

A room is pycrdt-websocket's `YRoom` (the y-websocket protocol: sync steps, updates and
awareness to every client) around a document loaded from the log, plus what a platform
needs on top:
- **writes are checked and recorded**: a document update from a client is applied only
  when the client may edit (viewers get y-websocket's "permission denied"), then appended
  to the log with its author and what it changed, then published to the other replicas;
- **replicas converge**: updates and awareness from other replicas (`Fanout`) are applied
  or relayed, and the room reads the log for anything pub/sub lost;
- **the log stays short**: the room compacts it into the snapshot now and then.
The room's name is `<tenant>/<workflow>`, the tenant taken from the caller's credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycrdt import Doc, create_awareness_message, merge_updates, read_message, write_message
from pycrdt import get_update as diff_update
from pycrdt.websocket import YRoom

from tideflow.collab import metrics
from tideflow.collab.changes import diff
from tideflow.collab.document import new_doc, read_definition, write_definition
from tideflow.collab.fanout import Envelope, Fanout, Kind
from tideflow.store import NotFound, StoreError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pycrdt import Channel

    from tideflow.collab.settings import CollabSettings
    from tideflow.store import CollabDocument, CollabStore, WorkflowRecord, WorkflowStore

log = logging.getLogger(__name__)

NO_ITEMS = b"\x00"
MESSAGE_AUTH = 2
"""y-protocols' auth message; its only variant is 0, permission denied."""


def permission_denied(reason: str) -> bytes:
    """The message a y-websocket client reports as "Permission denied"."""
    return bytes([MESSAGE_AUTH, 0]) + write_message(reason.encode())


def merge(updates: Sequence[bytes]) -> bytes:
    """Fold updates into one (what compaction stores as the snapshot)."""
    return merge_updates(*[u for u in updates if u])


@dataclass(frozen=True, slots=True)
class RoomKey:
    tenant_id: str
    workflow_id: str

    @property
    def name(self) -> str:
        return f"{self.tenant_id}/{self.workflow_id}"


@dataclass(slots=True)
class _Unsaved:
    payload: bytes
    author: str
    changes: list[dict[str, Any]] = field(default_factory=list)


class Room:
    """One open document; create with `Rooms.join`."""

    def __init__(
        self, key: RoomKey, doc: Doc[Any], *, last_id: int, store: CollabStore, fanout: Fanout
    ) -> None:
        self.key = key
        self.doc = doc
        self.last_id = last_id
        """Every update of the log up to this id is applied. Only reading the log moves it:
        an id learnt otherwise (our own append, pub/sub) may have a lost one below it."""
        self._applied: set[int] = set()
        """Ids above `last_id` already applied (our own appends, pub/sub): catching up
        skips them instead of applying each again."""
        self._definition: dict[str, Any] | None = read_definition(doc)
        self.yroom = YRoom(ready=True, ydoc=doc, log=log)
        self._store = store
        self._fanout = fanout
        self._unsaved: list[_Unsaved] = []
        self._write_lock = asyncio.Lock()
        self.members = 0

    @property
    def definition(self) -> dict[str, Any]:
        """The document as a definition, read again only after it changed (reading walks
        the whole document: updates from other replicas and the log only mark it stale)."""
        if self._definition is None:
            self._definition = read_definition(self.doc)
        return self._definition

    # -- edits from this replica's clients -------------------------------------------

    def news(self, update: bytes) -> bool:
        """Whether `update` holds items the document does not have yet (raises on bytes
        that are not a Yjs update). Its deletions do not count: an update carries its
        whole delete set, known or not (whether one deleted anything shows when it is
        applied: `_apply`)."""
        # the encoding starts with how many clients have items in it (a varint: 0 is 0x00)
        return diff_update(update, self.doc.get_state())[:1] != NO_ITEMS

    def _apply(self, update: bytes) -> bool:
        """Apply `update`; whether the document changed (a no-op fires no update event)."""
        if not update:
            return False
        changed: list[bool] = []
        subscription = self.doc.observe(lambda _: changed.append(True))
        try:
            self.doc.apply_update(update)
        finally:
            self.doc.unobserve(subscription)
        if changed:
            self._definition = None
        return bool(changed)

    async def receive(self, update: bytes, *, author: str) -> int | None:
        """Apply an editor's update, record it, tell the other replicas; the log id
        (None for an update with nothing new, such as a joining client's sync step 2)."""
        before = self.definition
        # items waiting for others they build on change nothing yet, and are recorded
        items = self.news(update)
        if not self._apply(update) and not items:  # YRoom relays it to this replica's clients
            return None
        changes = diff(before, self.definition)
        metrics.UPDATES.inc()
        try:
            async with self._write_lock:
                update_id = await self._store.append_update(
                    self.key.workflow_id, update, author=author, changes=changes,
                    tenant_id=self.key.tenant_id,
                )  # fmt: skip
        except StoreError as e:
            log.warning("collab: update of %s not stored yet (%s); retrying", self.key.name, e)
            self._unsaved.append(_Unsaved(update, author, changes))
            return None
        self._applied.add(update_id)
        await self._fanout.publish(self.key.name, Envelope(Kind.UPDATE, b"", update, update_id))
        return update_id

    async def share_awareness(self, message: bytes) -> None:
        await self._fanout.publish(self.key.name, Envelope(Kind.AWARENESS, b"", message))

    # -- from other replicas -----------------------------------------------------------

    def deliver(self, envelope: Envelope) -> None:
        """A message from the same room on another replica."""
        if envelope.kind is Kind.UPDATE:
            self._apply(envelope.payload)
            if envelope.update_id:
                self._applied.add(envelope.update_id)
        else:
            for client in list(self.yroom.clients):
                asyncio.get_running_loop().create_task(_send_quietly(client, envelope.payload))
            # remembered, so a client joining here later learns who is there
            with contextlib.suppress(Exception):  # pycrdt raises plain exceptions
                self.yroom.awareness.apply_awareness_update(
                    read_message(envelope.payload[1:]), "remote"
                )

    def presence(self) -> bytes | None:
        """The awareness of everyone in the room, for a client that just joined."""
        awareness = self.yroom.awareness
        others = [c for c, state in awareness.states.items() if state and c != awareness.client_id]
        if not others:
            return None
        return create_awareness_message(awareness.encode_awareness_update(others))

    async def catch_up(self) -> int:
        """Apply what the log has beyond `last_id` (pub/sub is a fast path, not a promise)."""
        missed = await self._store.updates_after(
            self.key.workflow_id, self.last_id, tenant_id=self.key.tenant_id
        )
        if missed is None:
            return 0
        self._apply(missed.state)
        applied = 0
        for update in missed.updates:
            # an update applied already is known by its id (a Yjs update carries its
            # whole delete set, so it never looks like nothing new): our own appends and
            # pub/sub were applied every time again
            if update.id not in self._applied:
                self._apply(update.payload)
                applied += 1
        self.last_id = max(self.last_id, missed.last_id)
        self._applied = {i for i in self._applied if i > self.last_id}
        return applied

    async def flush(self) -> None:
        """Store updates a failed append left behind."""
        while self._unsaved:
            item = self._unsaved[0]
            async with self._write_lock:
                update_id = await self._store.append_update(
                    self.key.workflow_id, item.payload, author=item.author,
                    changes=item.changes, tenant_id=self.key.tenant_id,
                )  # fmt: skip
            self._unsaved.pop(0)
            await self._fanout.publish(
                self.key.name, Envelope(Kind.UPDATE, b"", item.payload, update_id)
            )

    async def compact(self) -> int:
        return await self._store.compact(self.key.workflow_id, merge, tenant_id=self.key.tenant_id)

    async def replace(self, definition: dict[str, Any], *, author: str | None) -> None:
        """Make the document hold `definition` (a draft replaced outside the editor)."""
        before = self.definition
        state = self.doc.get_state()
        write_definition(self.doc, definition)
        update = self.doc.get_update(state)
        self._definition = None
        async with self._write_lock:
            update_id = await self._store.append_update(
                self.key.workflow_id, update, author=author,
                changes=diff(before, self.definition), tenant_id=self.key.tenant_id,
            )  # fmt: skip
        self._applied.add(update_id)
        await self._fanout.publish(self.key.name, Envelope(Kind.UPDATE, b"", update, update_id))


async def _send_quietly(client: Channel, message: bytes) -> None:
    with contextlib.suppress(Exception):  # a client that just left
        await client.send(message)


def document_of(stored: CollabDocument) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    if stored.state:
        doc.apply_update(stored.state)
    for update in stored.updates:
        doc.apply_update(update.payload)
    return doc


class Rooms:
    """The rooms open on this replica, opened on the first join, closed after the last."""

    def __init__(
        self,
        *,
        settings: CollabSettings,
        store: CollabStore,
        workflows: WorkflowStore,
        fanout: Fanout,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workflows = workflows
        self.fanout = fanout
        self._rooms: dict[RoomKey, Room] = {}
        self._tasks: dict[RoomKey, asyncio.Task[None]] = {}
        self._opening: dict[RoomKey, asyncio.Lock] = {}

    def get(self, key: RoomKey) -> Room | None:
        return self._rooms.get(key)

    def __len__(self) -> int:
        return len(self._rooms)

    async def load(self, key: RoomKey) -> tuple[WorkflowRecord, CollabDocument]:
        """The workflow and its document's log, seeded from the draft the first time.

        Raises `NotFound` when the tenant has no such workflow.
        """
        workflow = await self.workflows.get_workflow(key.workflow_id, tenant_id=key.tenant_id)
        stored = await self.store.load_document(key.workflow_id, tenant_id=key.tenant_id)
        if stored is None:
            # one seed wins: two replicas seeding at once would double every node
            seed = new_doc(workflow.draft).get_update()
            await self.store.seed_document(
                key.workflow_id, seed, draft_revision=workflow.revision, tenant_id=key.tenant_id
            )
            stored = await self.store.load_document(key.workflow_id, tenant_id=key.tenant_id)
            if stored is None:  # pragma: no cover - the row was just written
                raise NotFound(f"no collaborative document for {key.name}")
        return workflow, stored

    async def join(self, key: RoomKey) -> Room:
        """The open room, or open it (load, subscribe, start its upkeep)."""
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            room = self._rooms.get(key)
            if room is not None:
                room.members += 1
                return room
            room = await self._open(key)
            room.members += 1
            return room

    async def _open(self, key: RoomKey) -> Room:
        # subscribe before reading the log: an update is either in what we read or
        # arrives on the channel afterwards (writers append before they publish)
        pending: list[Envelope] = []
        await self.fanout.subscribe(key.name, pending.append)
        try:
            workflow, stored = await self.load(key)
        except BaseException:
            await self.fanout.unsubscribe(key.name)
            raise
        room = Room(
            key, document_of(stored), last_id=stored.last_id, store=self.store, fanout=self.fanout
        )
        for envelope in pending:
            room.deliver(envelope)
        await self.fanout.subscribe(key.name, room.deliver)
        if workflow.revision > stored.draft_revision:
            await self._follow_draft(room, workflow, stored)
        started = asyncio.Event()
        self._tasks[key] = asyncio.create_task(self._run(room, started), name=f"room {key.name}")
        await started.wait()
        self._rooms[key] = room
        metrics.ROOMS.set(len(self._rooms))
        return room

    async def _follow_draft(
        self, room: Room, workflow: WorkflowRecord, stored: CollabDocument
    ) -> None:
        """The draft moved since the document last matched it. Replaced outside the editor
        (API, CLI) after the last edit: the document follows it. Saved from the builder and
        edited since: the document is newer, and stays."""
        if workflow.updated_at > stored.edited_at and room.definition != workflow.draft:
            await room.replace(workflow.draft, author=None)
        await self.store.set_draft_revision(
            room.key.workflow_id, workflow.revision, tenant_id=room.key.tenant_id
        )

    async def _run(self, room: Room, started: asyncio.Event) -> None:
        """The YRoom's task group and the room's upkeep, until the room closes."""
        catch_up = self.settings.catch_up_every.total_seconds()
        compact_every = self.settings.compact_every.total_seconds()
        loop = asyncio.get_running_loop()
        next_compaction = loop.time() + compact_every
        async with room.yroom:
            started.set()
            while True:
                await asyncio.sleep(catch_up)
                try:
                    await room.flush()
                    await room.catch_up()
                    if loop.time() >= next_compaction:
                        next_compaction = loop.time() + compact_every
                        await room.compact()
                except StoreError as e:
                    log.warning("collab: upkeep of room %s failed: %s", room.key.name, e)

    async def leave(self, room: Room) -> None:
        """One member left; the last one closes the room (after compacting its log)."""
        lock = self._opening.setdefault(room.key, asyncio.Lock())
        async with lock:
            room.members -= 1
            if room.members > 0 or self._rooms.get(room.key) is not room:
                return
            del self._rooms[room.key]
            metrics.ROOMS.set(len(self._rooms))
            await self.fanout.unsubscribe(room.key.name)
            task = self._tasks.pop(room.key)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                await room.flush()
                await room.compact()
            except StoreError as e:
                log.warning("collab: closing room %s: %s", room.key.name, e)

    async def catch_up_all(self) -> None:
        """After pub/sub was away: every open room reads what it missed."""
        for room in list(self._rooms.values()):
            with contextlib.suppress(StoreError):
                await room.catch_up()

    async def close(self) -> None:
        for room in list(self._rooms.values()):
            room.members = 1
            await self.leave(room)
