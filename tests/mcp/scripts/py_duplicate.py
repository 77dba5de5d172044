"""The Python `mcp` client sends a tool call whose arguments name a key
twice, for host/tests/mcp_clients.rs.

The client's own JSON encoder cannot write a duplicate key, so its HTTP
transport rewrites one on the wire: the call is made with the arguments
{"path": FIRST, "__again__": SECOND}, and the bytes sent are
{"path":FIRST,"path":SECOND}. One JSON object per line on stdout: the
error the gateway answered with, or the result if it ran the call.

Usage: python py_duplicate.py URL TOKEN FIRST SECOND
"""

import json
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def say(**event):
    print(json.dumps(event), flush=True)


class Duplicating(httpx2.AsyncBaseTransport):
    """Sends every request on, with the key `__again__` renamed `path`."""

    def __init__(self):
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request):
        body = await request.aread()
        if b'"__again__"' in body:
            body = body.replace(b'"__again__"', b'"path"')
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
            request = httpx2.Request(request.method, request.url, headers=headers, content=body)
            say(event="sent", body=body.decode())
        return await self.inner.handle_async_request(request)


async def main():
    url, token, first, second = sys.argv[1:5]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, transport=Duplicating()) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                try:
                    r = await session.call_tool("files.delete_file", {"path": first, "__again__": second})
                    say(event="result", is_error=r.is_error, text=[c.text for c in r.content])
                except MCPError as e:
                    say(event="refused", code=e.error.code, message=e.error.message, data=e.error.data)
                # The session goes on: a call without a duplicate works.
                r = await session.call_tool("files.read_file", {"path": "report.txt"})
                say(event="after", is_error=r.is_error)
    say(event="done")


anyio.run(main)
