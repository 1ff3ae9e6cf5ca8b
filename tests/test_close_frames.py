"""The patch that lets Daphne close a socket with 1001 and a reason (ttsproject/close_frames.py),
against the Daphne and autobahn that requirements.txt pins: if an upgrade changes what the
patch relies on, these fail. On a real server, a socket closed with 1001: tests/test_startup.py;
with a reason: tests/test_first_hour.py."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from daphne.ws_protocol import WebSocketProtocol

from protocol.codes import CLOSE_REASON_BYTES, fit_close_reason
from ttsproject.close_frames import patch_server_close


def daphnes_server_close() -> Any:
    """Daphne's own serverClose, patched or not."""
    return inspect.unwrap(WebSocketProtocol.serverClose)


def test_daphne_closes_a_socket_through_server_close_with_an_optional_code():
    # Daphne calls it as serverClose(code=...) for the application's websocket.close.
    parameters = inspect.signature(daphnes_server_close()).parameters
    assert list(parameters) == ["self", "code"]
    assert parameters["code"].default is None


def test_daphne_still_drops_the_reason_of_a_close():
    # If this fails, Daphne passes the reason on itself and the patch of handle_reply can go.
    source = inspect.getsource(inspect.unwrap(WebSocketProtocol.handle_reply))
    assert 'self.serverClose(code=message.get("code", None))' in source


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


def test_the_patched_server_close_sends_1001_and_reasons_and_leaves_the_rest_to_daphne():
    patch_server_close()
    patched = WebSocketProtocol.serverClose
    patch_server_close()
    assert WebSocketProtocol.serverClose is patched  # patched once, however often asked
    protocol = Recorded()
    protocol.state = protocol.STATE_OPEN
    protocol.serverClose(code=1001)
    protocol.handle_reply({"type": "websocket.close", "code": 1001, "reason": "Going."})
    protocol.handle_reply({"type": "websocket.close", "code": 4401, "reason": "No key."})
    protocol.serverClose(code=4400)
    protocol.serverClose()
    assert protocol.sent == [
        ("sendCloseFrame", {"code": 1001, "reasonUtf8": None, "isReply": False}),
        ("sendCloseFrame", {"code": 1001, "reasonUtf8": b"Going.", "isReply": False}),
        ("sendClose", {"code": 4401, "reason": "No key."}),
        ("sendClose", {"code": 4400}),
        ("sendClose", {"code": 1000}),
    ]


def test_a_long_reason_is_cut_at_a_word_to_fit_a_close_frame():
    long = "An API key is required: send the header Authorization: Bearer <key>, " * 3
    fitted = fit_close_reason(long)
    assert len(fitted.encode()) <= CLOSE_REASON_BYTES
    assert fitted.endswith("…") and long.startswith(fitted[:-1])
    assert fit_close_reason("Short.") == "Short."
    wide = "é" * 100  # two bytes each
    assert len(fit_close_reason(wide).encode()) <= CLOSE_REASON_BYTES
