"""The Python `mcp` client against the gateway, for host/tests/mcp_clients.rs.

Lists the tools, reads a file (auto-approved), then calls a destructive
tool and reports its progress; the test approves it meanwhile. One JSON
object per line on stdout.

Usage: python py_client.py URL TOKEN http|sse
"""

import json
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


def say(**event):
    print(json.dumps(event), flush=True)


def result(r):
    return {
        "is_error": r.is_error,
        "text": [c.text for c in r.content if getattr(c, "type", "") == "text"],
    }


async def scenario(session):
    await session.initialize()
    tools = (await session.list_tools()).tools
    say(event="tools", names=[t.name for t in tools])
    say(event="read", result=result(await session.call_tool("files.read_file", {"path": "report.txt"})))
    seen = []

    async def progress(done, total, message):
        seen.append(done)
        if len(seen) == 1:
            say(event="waiting", message=message)

    r = await session.call_tool(
        "files.delete_file", {"path": "old.txt"}, progress_callback=progress, read_timeout_seconds=120
    )
    say(event="result", result=result(r), progress=len(seen))


async def main():
    url, token, kind = sys.argv[1:4]
    headers = {"Authorization": f"Bearer {token}"}
    if kind == "sse":
        async with sse_client(url, headers=headers) as (read, write):
            async with ClientSession(read, write) as session:
                await scenario(session)
    else:
        async with httpx2.AsyncClient(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await scenario(session)
    say(event="done")


anyio.run(main)
