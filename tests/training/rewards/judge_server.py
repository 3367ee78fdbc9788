"""A tiny OpenAI-shaped HTTP server for the LLM judge's HTTP-seam tests (run as a subprocess).

The first path segment picks the behaviour: /pass/v1, /fail/v1, /garbage/v1 (answers prose),
/sleep/v1 (answers after 3 s), /flaky/v1 (HTTP 503 on every odd request, then a pass).
GET /count/<mode> returns how many chat requests that mode received.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: Counter[str] = Counter()


def _answer(content: str) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        mode = self.path.strip("/").split("/")[-1]
        self._send(200, json.dumps({"count": COUNTS[mode]}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        mode = self.path.strip("/").split("/")[0]
        COUNTS[mode] += 1
        if mode == "pass":
            self._send(200, _answer('{"verdict": "pass", "reason": "accurate"}'))
        elif mode == "fail":
            self._send(200, _answer('{"verdict": "fail", "reason": "invents a drug"}'))
        elif mode == "garbage":
            self._send(200, _answer("Sure! The section looks good to me."))
        elif mode == "sleep":
            time.sleep(3)
            self._send(200, _answer('{"verdict": "pass", "reason": "slow"}'))
        elif mode == "flaky":
            if COUNTS[mode] % 2 == 1:
                self._send(503, b'{"error": "overloaded"}')
            else:
                self._send(200, _answer('{"verdict": "pass", "reason": "after retry"}'))
        else:
            self._send(404, b'{"error": "unknown mode"}')


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
