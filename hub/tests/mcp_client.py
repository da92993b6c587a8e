"""A conversation with CORBI's MCP server through the official Python SDK (`pip install mcp`).

Usage: python3 hub/tests/mcp_client.py URL KEY

URL is the hub's MCP endpoint (http://127.0.0.1:PORT/mcp), KEY an AI key of a tenant with at
least one room. The Rust test `mcp::the_official_python_sdk_holds_the_same_conversation` runs it
against a hub it started; it passes the day to book on (CORBI_DAY, YYYY-MM-DD, free in working
hours), a room (CORBI_ROOM) and a meeting a person booked there from 14:00 to 15:00 UTC
(CORBI_PERSONS_MEETING). Any failed expectation raises, so the exit code tells the test.
"""

import asyncio
import json
import os
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

NAMES = [
    "find_free_slots",
    "find_available_rooms",
    "book_meeting",
    "reschedule_meeting",
    "cancel_meeting",
    "list_meetings",
    "get_meeting",
    "list_resources",
]


def connect(url: str, key: str, mode: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(url, http_client=http), mode=mode)


def text(result) -> str:
    return result.content[0].text


def ok(result) -> dict:
    assert not result.is_error, text(result)
    return result.structured_content


def refused(result, code: str) -> str:
    assert result.is_error, f"expected {code}, got {text(result)}"
    assert text(result).startswith(f"{code}: "), text(result)
    return text(result)


async def conversation(url: str, key: str) -> None:
    day = os.environ["CORBI_DAY"]
    room = os.environ["CORBI_ROOM"]
    persons = os.environ["CORBI_PERSONS_MEETING"]

    async with connect(url, key, "legacy") as legacy:
        assert legacy.protocol_version == "2025-11-25", legacy.protocol_version
        tools = await legacy.list_tools()
        assert [t.name for t in tools.tools] == NAMES

    async with connect(url, key, "auto") as client:
        print("protocol", client.protocol_version)
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == NAMES, [t.name for t in tools]
        book = next(t for t in tools if t.name == "book_meeting")
        assert book.annotations.read_only_hint is False
        assert book.output_schema is not None
        assert "time_zone" in book.input_schema["required"]

        found = ok(await client.call_tool("find_free_slots", {
            "duration_minutes": 30, "from": f"{day}T08:00:00Z", "to": f"{day}T18:00:00Z",
            "time_zone": "Europe/Madrid", "resource_id": room}))
        slot = found["slots"][0]
        print("agent hears:", text(await client.call_tool("find_free_slots", {
            "duration_minutes": 30, "from": f"{day}T08:00:00Z", "to": f"{day}T18:00:00Z",
            "time_zone": "Europe/Madrid", "resource_id": room})))

        booked = await client.call_tool("book_meeting", {
            "title": "Python call", "start": slot["start"], "end": slot["end"],
            "time_zone": "Europe/Madrid", "resource_id": room, "idempotency_key": "py-1"})
        meeting = ok(booked)
        print("agent hears:", text(booked))
        assert text(booked).startswith('Booked "Python call"'), text(booked)

        read = ok(await client.call_tool("get_meeting", {"meeting_id": meeting["id"]}))
        assert read["status"] == "SCHEDULED" and read["created_by_type"] == "AI"

        moved = ok(await client.call_tool("reschedule_meeting", {
            "meeting_id": meeting["id"], "start": f"{day}T11:00:00Z", "end": f"{day}T11:30:00Z"}))
        assert moved["start"] == f"{day}T11:00:00Z", moved

        clash = await client.call_tool("book_meeting", {
            "title": "Clash", "start": f"{day}T14:00:00Z", "end": f"{day}T14:30:00Z",
            "time_zone": "UTC", "resource_id": room})
        print("agent hears:", refused(clash, "CONFLICT"))

        print("agent hears:", refused(
            await client.call_tool("cancel_meeting", {"meeting_id": persons}), "CANCEL_NOT_ALLOWED"))

        cancelled = await client.call_tool("cancel_meeting", {"meeting_id": meeting["id"]})
        assert ok(cancelled)["status"] == "CANCELLED"
        print("agent hears:", text(cancelled))

        bad = await client.call_tool("book_meeting", {"title": "Bad", "start": "soon"})
        refused(bad, "VALIDATION_FAILED")
        missing = await client.call_tool("get_meeting", {"meeting_id": "00000000-0000-0000-0000-000000000000"})
        refused(missing, "NOT_FOUND")
        try:
            await client.call_tool("delete_everything", {})
        except MCPError as error:
            print("unknown tool refused:", error.message)
        else:
            raise AssertionError("an unknown tool must be a protocol error")

    try:
        async with connect(url, "corbi_key_wrong", "auto") as client:
            await client.list_tools()
    except Exception as error:  # noqa: BLE001 - the SDK wraps the 401 differently per version
        print("invalid key refused:", type(error).__name__)
    else:
        raise AssertionError("an invalid key must be refused")
    print(json.dumps({"result": "conversation complete"}))
    print("conversation complete")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(conversation(sys.argv[1], sys.argv[2]))
