#!/usr/bin/env python3
"""http-receiver.py - a loopback HTTP receiver for the notification tests.

Records every request (any method) as one JSON line in --log:
  {"n": 1, "method": "POST", "path": "/hook/abc", "headers": {...},
   "body": "...", "status": 200}
and answers --fail-status (default 500) to the first --fail-first requests,
200 "ok" after that.  Listens on 127.0.0.1 (--port, 0 = any) and writes the
port to --port-file once it accepts connections.  Runs until killed.

  tests/tools/http-receiver.py --port-file $T/http.port --log $T/http.jsonl \\
      [--fail-first 2] [--fail-status 503] &
"""
import argparse
import http.server
import json
import os
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=500)
    args = ap.parse_args()
    lock = threading.Lock()
    state = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
            with lock:
                state["n"] += 1
                k = state["n"]
                status = args.fail_status if k <= args.fail_first else 200
                rec = {
                    "n": k,
                    "method": self.command,
                    "path": self.path,
                    "headers": {h: v for h, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "status": status,
                }
                with open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = do_PUT = do_HEAD = handle_any

        def log_message(self, fmt, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
