"""Calls that become MCP tasks (the 2026-07-28 extension
io.modelcontextprotocol/tasks), through the Python `mcp` client, for
host/tests/mcp_clients.rs. One JSON object or word per line on stdout; it
waits for a word on stdin where it says so:

  calls TOOL                  -> {"event": "task", ...}   (then disconnects)
  <- RESULT                   reconnects and polls tasks/get until it ends
                              -> {"event": "ended", ...}
  calls TOOL2                 -> {"event": "task", ...}
  <- CANCEL                   tasks/cancel, then tasks/get
                              -> {"event": "cancelled", ...}

Usage: python py_task.py URL TOKEN TOOL ARGS_JSON TOOL2 ARGS2_JSON
"""

import json
import sys
from typing import Any, ClassVar, Literal

import anyio
import httpx2
from mcp import Client
from mcp.client.extension import ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Request, RequestParams, Result
from pydantic import ConfigDict, TypeAdapter

TASKS = "io.modelcontextprotocol/tasks"


class CreatedTask(Result):
    """A `tools/call` answered with a task (CreateTaskResult)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"]
    task_id: str
    status: str


async def left_to_the_test(task, context):
    raise RuntimeError("this script polls the task itself")


class Tasks(ClientExtension):
    identifier = TASKS

    def claims(self):
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=left_to_the_test)]


class TaskParams(RequestParams):
    task_id: str


class GetTask(Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskParams
    name_param: ClassVar[str | None] = "taskId"


class CancelTask(Request[TaskParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskParams
    name_param: ClassVar[str | None] = "taskId"


ANY = TypeAdapter(dict[str, Any])


def say(**event):
    print(json.dumps(event), flush=True)


async def heard(word):
    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    assert line.strip() == word, f"expected {word}, got {line!r}"


def connected(url, http):
    return Client(
        streamable_http_client(url, http_client=http),
        mode="2026-07-28",
        extensions=[Tasks()],
    )


async def propose(url, http, tool, args):
    """Calls `tool`; says what task it became, and disconnects."""
    async with connected(url, http) as client:
        task = await client.session.call_tool(tool, args, allow_claimed=True)
        assert isinstance(task, CreatedTask), f"not a task: {task!r}"
        meta = task.meta or {}
        say(
            event="task",
            task_id=task.task_id,
            status=task.status,
            message=getattr(task, "statusMessage", None) or getattr(task, "status_message", None),
            approval=meta.get("tgw/approval"),
        )
        return task.task_id


async def get(client, task_id):
    return await client.session.send_request(GetTask(params=TaskParams(task_id=task_id)), ANY)


async def main():
    url, token, tool, args, tool2, args2 = sys.argv[1:]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        first = await propose(url, http, tool, json.loads(args))
        await heard("RESULT")
        # A new connection: the task is in the gateway's store, not in the
        # connection that made it.
        async with connected(url, http) as client:
            while True:
                task = await get(client, first)
                if task["status"] not in ("working", "input_required"):
                    break
                await anyio.sleep(task.get("pollIntervalMs", 500) / 1000)
            say(event="ended", status=task["status"], result=task.get("result"), error=task.get("error"))

        second = await propose(url, http, tool2, json.loads(args2))
        await heard("CANCEL")
        async with connected(url, http) as client:
            ack = await client.session.send_request(
                CancelTask(params=TaskParams(task_id=second)), ANY
            )
            task = await get(client, second)
            say(event="cancelled", ack=ack, status=task["status"])


anyio.run(main)
