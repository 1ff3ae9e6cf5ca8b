"""The client protocol, without a server: its codes, and parsing and building its messages.

docs/protocol.md is the contract. Nothing here imports Django or the apps (`make lint`).
"""

from .codes import ClientError, CloseCode, ErrorCode

__all__ = ["ClientError", "CloseCode", "ErrorCode"]
