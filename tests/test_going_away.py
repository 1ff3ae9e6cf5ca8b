"""The patch that lets Daphne close a socket with 1001 (ttsproject/going_away.py), against the
Daphne and autobahn that requirements.txt pins: if an upgrade changes what the patch relies
on, these fail. On a real server, a socket closed with 1001: tests/test_startup.py."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from daphne.ws_protocol import WebSocketProtocol

from ttsproject.going_away import allow_going_away


def daphnes_server_close() -> Any:
    """Daphne's own serverClose, patched or not."""
    return inspect.unwrap(WebSocketProtocol.serverClose)


def test_daphne_closes_a_socket_through_server_close_with_an_optional_code():
    # Daphne calls it as serverClose(code=...) for the application's websocket.close.
    parameters = inspect.signature(daphnes_server_close()).parameters
    assert list(parameters) == ["self", "code"]
    assert parameters["code"].default is None


def test_autobahn_sends_any_close_frame_through_send_close_frame():
    parameters = inspect.signature(AutobahnProtocol.sendCloseFrame).parameters
    assert list(parameters) == ["self", "code", "reasonUtf8", "isReply"]
    assert WebSocketProtocol.sendCloseFrame is AutobahnProtocol.sendCloseFrame


def test_autobahn_still_refuses_1001_in_send_close():
    # If this fails, autobahn accepts 1001 now and the patch can go.
    with pytest.raises(Exception, match="invalid close code 1001"):
        WebSocketProtocol().sendClose(code=1001)


class Recorded(WebSocketProtocol):
    """Daphne's protocol, recording the frames it would send instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def sendCloseFrame(self, **arguments: Any) -> None:
        self.sent.append(("sendCloseFrame", arguments))

    def sendClose(self, **arguments: Any) -> None:
        self.sent.append(("sendClose", arguments))


def test_the_patched_server_close_sends_1001_and_leaves_other_codes_to_daphne():
    allow_going_away()
    patched = WebSocketProtocol.serverClose
    allow_going_away()
    assert WebSocketProtocol.serverClose is patched  # patched once, however often asked
    protocol = Recorded()
    protocol.serverClose(code=1001)
    protocol.serverClose(code=4400)
    protocol.serverClose()
    assert protocol.sent == [
        ("sendCloseFrame", {"code": 1001, "isReply": False}),
        ("sendClose", {"code": 4400}),
        ("sendClose", {"code": 1000}),
    ]
