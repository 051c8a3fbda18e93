"""A local receiver of Nudge's task events: verifies each POST with the `standardwebhooks`
package (as a subscriber would), answers 500 while told to fail, and counts what it accepted
by `webhook-id` (a repeat of an id is a redelivery, not a new event)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


class EventReceiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.fail = 0  # answer 500 to this many more POSTs
        self.down = False  # answer 503 to everything
        self.posts = 0
        self.accepted: dict[str, dict[str, Any]] = {}  # webhook-id → body
        self.order: list[str] = []  # webhook-ids in the order first accepted
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(receiver.receive(dict(self.headers), body))
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/nudge/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.posts += 1
            if self.down:
                return 503
            if self.fail > 0:
                self.fail -= 1
                return 500
            lowered = {k.lower(): v for k, v in headers.items()}
            try:
                assert self.secret is not None
                payload = Webhook(self.secret).verify(body, lowered)
            except Exception:
                self.bad_signatures += 1
                return 401
            msg_id = lowered["webhook-id"]
            if msg_id not in self.accepted:
                self.accepted[msg_id] = payload
                self.order.append(msg_id)
            return 204

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.accepted[i] for i in self.order]

    async def received(self) -> list[dict[str, Any]]:
        """events(), for tests.support.poll."""
        return self.events()

    def of_task(self, task_id: int) -> list[str]:
        return [e["type"] for e in self.events() if e["data"]["id"] == task_id]

    def close(self) -> None:
        self.server.shutdown()
