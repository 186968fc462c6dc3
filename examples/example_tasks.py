"""Worker functions the example workflows call, so `tide dev` runs them out of the box.

Run your own with `tide dev --module my.tasks` or `tide serve executor --module my.tasks`.
These stand in for real integrations: they compute their answer from the input, so the
examples' outputs are deterministic.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tideflow.sdk import NonRetryableError, TaskContext, task


def _id(prefix: str, value: Any) -> str:
    return f"{prefix}-{hashlib.sha256(repr(value).encode()).hexdigest()[:8]}"


@task("book_flight")
def book_flight(trip: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    ctx.logger.info("booking a flight to %s", trip.get("to", "?"))
    return {"id": _id("FL", trip), "to": trip.get("to")}


@task("book_hotel")
def book_hotel(trip: dict[str, Any]) -> dict[str, Any]:
    return {"id": _id("HT", trip), "nights": trip.get("nights", 1)}


@task("book_car")
def book_car(trip: dict[str, Any]) -> dict[str, Any]:
    if trip.get("car") == "unavailable":
        raise NonRetryableError("no car available", error_type="NoCar")
    return {"id": _id("CR", trip)}


@task("cancel_flight")
def cancel_flight(booking: dict[str, Any]) -> dict[str, Any]:
    return {"cancelled": booking.get("id")}


@task("cancel_hotel")
def cancel_hotel(booking: dict[str, Any]) -> dict[str, Any]:
    return {"cancelled": booking.get("id")}


@task("cancel_car")
def cancel_car(booking: dict[str, Any]) -> dict[str, Any]:
    return {"cancelled": booking.get("id")}


@task("book_order")
def book_order(order: dict[str, Any]) -> dict[str, Any]:
    return {"order": _id("OR", order), "total": order.get("total")}


@task("send_invoice")
def send_invoice(invoice: Any, ctx: TaskContext) -> dict[str, Any]:
    ctx.logger.info("invoice sent")
    return {"invoice": _id("IN", invoice)}


@task("send_receipt")
def send_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    return {"receipt": _id("RC", receipt), "amount": receipt.get("amount")}


@task("resize")
async def resize(image: dict[str, Any]) -> dict[str, Any]:
    return {"thumbnail": f"{image['url']}?w={image['size']}", "position": image["position"]}
