#!/usr/bin/env python3
"""smtp-sink.py - a loopback SMTP sink for the notification tests.

Speaks enough ESMTP for libcurl without STARTTLS: EHLO/HELO, AUTH PLAIN
and LOGIN (with or without an initial response), MAIL FROM, RCPT TO, DATA,
RSET, NOOP, QUIT.  Each accepted message becomes one JSON line in --log:
  {"n": 1, "mail_from": "<a@b>", "rcpt": ["<c@d>"],
   "auth": {"mech": "PLAIN", "user": "u", "password": "p"} or null,
   "raw": "... as on the wire, dot-stuffed ...",
   "message": "... after removing the dot-stuffing ..."}
--mechs sets the advertised AUTH mechanisms (default "PLAIN LOGIN").
Writes the port to --port-file once it listens.  Runs until killed.
"""
import argparse
import base64
import json
import os
import socketserver
import threading


def b64(s):
    try:
        return base64.b64decode(s).decode("utf-8", "replace")
    except Exception:
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mechs", default="PLAIN LOGIN")
    args = ap.parse_args()
    lock = threading.Lock()
    state = {"n": 0}

    class Handler(socketserver.StreamRequestHandler):
        def send(self, line):
            self.wfile.write(line.encode() + b"\r\n")

        def line(self):
            b = self.rfile.readline(65536)
            if not b:
                raise EOFError
            return b.decode("utf-8", "replace").rstrip("\r\n")

        def handle(self):
            auth = None
            mail_from, rcpt = None, []
            self.send("220 sink.test ESMTP")
            try:
                while True:
                    cmd = self.line()
                    up = cmd.upper()
                    if up.startswith("EHLO"):
                        self.send("250-sink.test")
                        self.send("250-AUTH " + args.mechs)
                        self.send("250 8BITMIME")
                    elif up.startswith("HELO"):
                        self.send("250 sink.test")
                    elif up.startswith("AUTH PLAIN"):
                        ir = cmd[11:].strip()
                        if not ir:
                            self.send("334 ")
                            ir = self.line()
                        parts = b64(ir).split("\0")
                        parts += [""] * (3 - len(parts))
                        auth = {"mech": "PLAIN", "user": parts[1],
                                "password": parts[2]}
                        self.send("235 ok")
                    elif up.startswith("AUTH LOGIN"):
                        ir = cmd[11:].strip()
                        if not ir:
                            self.send("334 VXNlcm5hbWU6")
                            ir = self.line()
                        user = b64(ir)
                        self.send("334 UGFzc3dvcmQ6")
                        auth = {"mech": "LOGIN", "user": user,
                                "password": b64(self.line())}
                        self.send("235 ok")
                    elif up.startswith("MAIL FROM:"):
                        mail_from, rcpt = cmd[10:].strip(), []
                        self.send("250 ok")
                    elif up.startswith("RCPT TO:"):
                        rcpt.append(cmd[8:].strip())
                        self.send("250 ok")
                    elif up == "DATA":
                        self.send("354 go")
                        raw, msg = [], []
                        while True:
                            ln = self.line()
                            if ln == ".":
                                break
                            raw.append(ln)
                            msg.append(ln[1:] if ln.startswith(".") else ln)
                        with lock:
                            state["n"] += 1
                            rec = {"n": state["n"], "mail_from": mail_from,
                                   "rcpt": rcpt, "auth": auth,
                                   "raw": "\r\n".join(raw) + "\r\n",
                                   "message": "\r\n".join(msg) + "\r\n"}
                            with open(args.log, "a", encoding="utf-8") as f:
                                f.write(json.dumps(rec) + "\n")
                        self.send("250 queued")
                    elif up == "QUIT":
                        self.send("221 bye")
                        return
                    else:
                        self.send("250 ok")
            except (EOFError, ConnectionError):
                return

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
