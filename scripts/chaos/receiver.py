"""A webhook receiver on loopback that behaves as a careful one should, and that can be broken.

It checks each request's Standard Webhooks signature (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
base64 part of the `whsec_` secret), accepts each webhook-id once and answers 200 to a repeat
without acting on it again. The ledger counts what a chaos run needs: requests, answers by
status, accepted ids, repeats of an id it had already accepted, bad signatures.

Its three states: `up`; `unavailable` (answers 503); `down` (its socket is closed, so
connections are refused). Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
TOLERANCE_SECONDS = 5 * 60  # Standard Webhooks' advice against replays
UP, UNAVAILABLE, DOWN = "up", "unavailable", "down"


def expected_signature(secret: str, *, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_valid(
    secret: str,
    *,
    msg_id: str,
    timestamp: str,
    signature_header: str,
    body: bytes,
    now: float | None = None,
) -> bool:
    """Whether one of the header's `v1,` signatures is the secret's, on a fresh timestamp."""
    if not msg_id or not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    try:
        wanted = expected_signature(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    except (binascii.Error, ValueError):
        return False
    for part in signature_header.split():
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, wanted):
            return True
    return False


class Ledger:
    """What the receiver saw and answered; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.answers: Counter[int] = Counter()
        self.accepted: dict[str, float] = {}
        self.duplicates_after_2xx = 0
        self.bad_signatures = 0
        self.ids_seen: set[str] = set()

    def receive(self, msg_id: str, *, valid: bool, unavailable: bool) -> int:
        """Record one request and return the status to answer it with."""
        with self._lock:
            self.requests += 1
            if valid:
                self.ids_seen.add(msg_id)
                if msg_id in self.accepted:
                    # Sent again although we had answered 2xx: the sender's at-least-once
                    # showing. We acknowledge and do nothing, as a receiver must.
                    self.duplicates_after_2xx += 1
            if unavailable:
                status = 503
            elif not valid:
                self.bad_signatures += 1
                status = 401
            else:
                self.accepted.setdefault(msg_id, time.time())
                status = 200
            self.answers[status] += 1
            return status

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "answers": {str(k): v for k, v in sorted(self.answers.items())},
                "accepted": len(self.accepted),
                "ids_seen": len(self.ids_seen),
                "duplicates_after_2xx": self.duplicates_after_2xx,
                "bad_signatures": self.bad_signatures,
            }


class Receiver:
    """The receiver on 127.0.0.1:`port` (a free one when 0), with its ledger and its state."""

    def __init__(self, secret: str = "", port: int = 0, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.host = host
        self.port = port
        self.ledger = Ledger()
        self.state = DOWN
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/kakehashi"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                msg_id = self.headers.get("webhook-id", "")
                valid = signature_valid(
                    receiver.secret,
                    msg_id=msg_id,
                    timestamp=self.headers.get("webhook-timestamp", ""),
                    signature_header=self.headers.get("webhook-signature", ""),
                    body=body,
                )
                status = receiver.ledger.receive(
                    msg_id, valid=valid, unavailable=receiver.state == UNAVAILABLE
                )
                payload = b"ok\n" if status == 200 else b"no\n"
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the ledger is the log

        return Handler

    def start(self) -> None:
        """Listen (again, on the same port after `stop`) and answer normally."""
        if self._server is None:
            server = ThreadingHTTPServer((self.host, self.port), self._handler())
            server.daemon_threads = True
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            self._thread.start()
        self.state = UP

    def unavailable(self) -> None:
        """Keep listening but answer every request 503."""
        if self._server is None:
            self.start()
        self.state = UNAVAILABLE

    def stop(self) -> None:
        """Close the socket: connections are refused until `start`."""
        self.state = DOWN
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
