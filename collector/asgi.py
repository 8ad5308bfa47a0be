"""ASGI plumbing shared by Crumbless's middleware (the access log, the dashboard's headers)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Message, Send


def noting_start(send: Send, note: Callable[[Message], None]) -> Send:
    """``send``, but each response's start message is shown to ``note`` first.

    Both middlewares need only that message: one reads its status, the other adds headers to it.
    """

    async def send_noting_start(message: Message) -> None:
        if message["type"] == "http.response.start":
            note(message)
        await send(message)

    return send_noting_start
