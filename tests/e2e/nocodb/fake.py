"""tests/e2e/nocodb/fake.py PORT TOKEN: a small stand-in for NocoDB's v2
API with the awkward cases a real server rarely shows at once: two bases
with one title, a base titled "..", a table titled "metadata.json", a
table of 2,500 records whose pageInfo says isLastPage on every page, an
attachment whose size is wrong, one that is gone (404) and one whose
signed URL on an S3-like storage has expired (403 there; the storage is
this server under /s3/, outside the base URL the client is given, so
the token never goes there).  Requests without the token get 401.  Every request path is appended to
PORT.log next to this process's working directory."""
import http.server
import json
import sys
import urllib.parse

PORT, TOKEN = int(sys.argv[1]), sys.argv[2]
BASES = [{"id": "p1", "title": "Sales/2026"}, {"id": "p2", "title": "Sales/2026"},
         {"id": "p3", "title": ".."}]
TABLES = {"p1": [{"id": "m1", "title": "Orders"},
                 {"id": "m2", "title": "metadata.json"}],
          "p2": [{"id": "m3", "title": "T\tab"}], "p3": []}
ROWS = {"m1": 2500, "m2": 1, "m3": 3}
COLS = [{"title": "Id", "uidt": "ID", "pk": True},
        {"title": "Name", "uidt": "SingleLineText"},
        {"title": "Files", "uidt": "Attachment"}]
FILES = {"/download/a.txt": b"hello"}


def record(tid, i):
    r = {"Id": i, "Name": "%s row %d" % (tid, i), "Files": None}
    if tid == "m1" and i == 1:
        r["Files"] = [{"title": "a.txt", "path": "download/a.txt", "size": 5},
                      {"title": "a.txt", "signedPath": "download/a.txt",
                       "size": 5}]
    if tid == "m1" and i == 2:
        r["Files"] = json.dumps([{"title": "bad.txt",
                                  "path": "download/a.txt", "size": 99}])
    if tid == "m1" and i == 3:
        r["Files"] = [{"title": "gone.txt", "path": "download/missing"}]
    if tid == "m1" and i == 4:
        r["Files"] = [{"title": "expired.txt", "size": 5, "signedUrl":
                       "http://localhost:%d/s3/expired.txt?X-Amz-Expires=1"
                       % PORT}]
    if tid == "m1" and i == 2500:
        r["Big"] = 9007199254740993  # 2^53 + 1: a double prints ...992
    return r


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, obj):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with open("%d.log" % PORT, "a") as f:
            f.write(self.path + "\n")
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        p = u.path.split("/")
        if u.path.startswith("/s3/"):
            return self.send(403, b"<Error><Code>AccessDenied</Code>"
                             b"<Message>Request has expired</Message></Error>")
        if u.path.startswith("/download/"):
            if u.path in FILES:
                return self.send(200, FILES[u.path])
            return self.send(404, {"msg": "not found"})
        if self.headers.get("xc-token") != TOKEN:
            return self.send(401, {"msg": "Authentication required"})
        if u.path == "/api/v2/meta/bases":
            return self.send(200, {"list": BASES, "pageInfo": {}})
        if u.path.startswith("/api/v2/meta/bases/") and len(p) == 6:
            return self.send(200, [b for b in BASES if b["id"] == p[5]][0])
        if u.path.endswith("/tables") and len(p) == 7:
            return self.send(200, {"list": TABLES[p[5]]})
        if u.path.startswith("/api/v2/meta/tables/") and len(p) == 6:
            return self.send(200, {"id": p[5], "columns": COLS})
        if u.path.endswith("/views"):
            return self.send(200, {"list": [{"title": "Grid view"}]})
        if u.path.startswith("/api/v2/tables/") and p[5] == "records":
            n, lim = ROWS[p[4]], int(q["limit"][0])
            off = int(q["offset"][0])
            rows = [record(p[4], i) for i in range(off + 1,
                                                   min(n, off + lim) + 1)]
            return self.send(200, {"list": rows, "pageInfo": {
                "totalRows": n, "page": off // lim + 1, "pageSize": lim,
                "isFirstPage": off == 0, "isLastPage": True}})
        return self.send(404, {"msg": "no route"})


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
