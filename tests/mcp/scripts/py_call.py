"""One tool call through the Python `mcp` client over Streamable HTTP, for
host/tests/registry.rs: lists the tools, then calls TOOL with ARGS. One
JSON object per line on stdout.

Usage: python py_call.py URL TOKEN TOOL ARGS_JSON
"""

import json
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def say(**event):
    print(json.dumps(event), flush=True)


async def main():
    url, token, tool, args = sys.argv[1:5]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                say(event="tools", names=[t.name for t in tools])
                r = await session.call_tool(tool, json.loads(args))
                texts = [c.text for c in r.content if getattr(c, "type", "") == "text"]
                say(event="result", is_error=r.is_error, text=texts)


anyio.run(main)
