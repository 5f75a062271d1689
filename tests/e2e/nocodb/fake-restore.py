"""tests/e2e/nocodb/fake-restore.py PORT TOKEN: a stand-in for NocoDB's v2
API for the restore's error paths.  It serves one base "Shop" with a table
"Orders" of 250 records (for the backup; record 250's Id and Qty are
2^53+1, which a double would round, and it has one attachment, a.txt,
served at /download/a.txt) and takes inserts:

  POST /api/v2/tables/m1/records   appends each record to inserted.jsonl
                                   (in the working directory) and
                                   answers [{"Id": n}, ...]; the
                                   request bodies, as sent, are appended
                                   (one a line) to bodies.raw
  POST /api/v2/meta/bases[/p1/tables]   recorded in created.jsonl
  GET /api/v2/tables/m1/records/ID      the record, for 2^53+1 only
                                        (restore-attachments asks)
  POST /api/v2/storage/upload           an attachment object
  PATCH /api/v2/tables/m1/records       the body, as sent, appended to
                                        patched.raw

A file "fail500" in the working directory holding a record name ("row
150") makes every insert of a batch with that record answer 500; a
file "fail-once" makes the next insert answer 500 once (and is removed).
A file "empty" makes the server list no bases (for restore-schema).
Requests without the token get 401.  Every request is appended as
"METHOD path" to PORT.log."""
import http.server
import json
import os
import sys

PORT, TOKEN = int(sys.argv[1]), sys.argv[2]
COLS = [{"title": "Id", "column_name": "id", "uidt": "ID", "pk": True},
        {"title": "Name", "column_name": "name", "uidt": "SingleLineText"},
        {"title": "Qty", "column_name": "qty", "uidt": "Number"},
        {"title": "CreatedAt", "column_name": "created_at",
         "uidt": "CreatedTime", "system": True},
        {"title": "Link", "column_name": "link", "uidt": "Links"},
        {"title": "Files", "column_name": "files", "uidt": "Attachment"}]


BIG = 2 ** 53 + 1
ATT = {"title": "a.txt", "path": "download/a.txt", "size": 5,
       "mimetype": "text/plain"}


def record(i):
    return {"Id": i if i < 250 else BIG, "Name": "row %d" % i,
            "Qty": i * 3 if i < 250 else BIG,
            "CreatedAt": "2026-11-26 06:00:00+00:00", "Link": 0,
            "Files": None if i < 250 else [ATT]}


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, method):
        with open("%d.log" % PORT, "a") as f:
            f.write("%s %s\n" % (method, self.path))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.headers.get("xc-token") != TOKEN:
            return self.send(401, {"msg": "Unauthorized"})
        path, _, query = self.path.partition("?")
        q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if method == "GET":
            if path == "/download/a.txt":
                self.send_response(200)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"hello")
                return
            if path == "/api/v2/tables/m1/records/%d" % BIG:
                return self.send(200, record(250))
            if path.startswith("/api/v2/tables/m1/records/"):
                return self.send(404, {"msg": "no such record"})
            if path == "/api/v2/meta/bases":
                if os.path.exists("empty"):
                    return self.send(200, {"list": []})
                return self.send(200, {"list": [{"id": "p1",
                                                 "title": "Shop"}]})
            if path == "/api/v2/meta/bases/p1":
                return self.send(200, {"id": "p1", "title": "Shop"})
            if path == "/api/v2/meta/bases/p1/tables":
                return self.send(200, {"list": [{"id": "m1",
                                                 "title": "Orders"}]})
            if path == "/api/v2/meta/tables/m1":
                return self.send(200, {"id": "m1", "title": "Orders",
                                       "table_name": "orders",
                                       "columns": COLS})
            if path == "/api/v2/meta/tables/m1/views":
                return self.send(200, {"list": []})
            if path == "/api/v2/tables/m1/records":
                off, lim = int(q.get("offset", 0)), int(q.get("limit", 25))
                rows = [record(i) for i in
                        range(off + 1, min(off + lim, 250) + 1)]
                return self.send(200, {"list": rows,
                                       "pageInfo": {"totalRows": 250}})
            return self.send(404, {"msg": "no " + path})
        if path == "/api/v2/tables/m1/records" and method == "POST":
            rows = json.loads(body)
            names = [r.get("Name") for r in rows]
            if os.path.exists("fail500") and \
                    open("fail500").read().strip() in names:
                return self.send(500, {"msg": "database is on fire"})
            if os.path.exists("fail-once"):
                os.unlink("fail-once")
                return self.send(503, {"msg": "busy, try again"})
            with open("bodies.raw", "ab") as f:
                f.write(body + b"\n")
            with open("inserted.jsonl", "a") as f:
                for r in rows:
                    f.write(json.dumps(r, sort_keys=True) + "\n")
            return self.send(200, [{"Id": 1000 + i}
                                   for i in range(len(rows))])
        if path == "/api/v2/storage/upload" and method == "POST":
            return self.send(200, [dict(ATT, path="download/new-a.txt")])
        if path == "/api/v2/tables/m1/records" and method == "PATCH":
            with open("patched.raw", "ab") as f:
                f.write(body + b"\n")
            return self.send(200, [{"Id": 1} for _ in json.loads(body)])
        if path.startswith("/api/v2/meta/bases") and method == "POST":
            with open("created.jsonl", "a") as f:
                f.write(json.dumps({"path": path,
                                    "body": json.loads(body)}) + "\n")
            return self.send(200, {"id": "new1"})
        return self.send(404, {"msg": "no " + path})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
