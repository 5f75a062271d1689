"""tests/e2e/nocodb/fail-proxy.py PORT UPSTREAM MATCH COUNTFILE: forward
GET requests to UPSTREAM, but answer 500 to those whose path contains
MATCH (each one counted as a line in COUNTFILE): a NocoDB that fails in
the middle of paging."""
import http.server
import sys
import urllib.error
import urllib.request

PORT, UP, MATCH, COUNT = int(sys.argv[1]), sys.argv[2], sys.argv[3], \
    sys.argv[4]


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if MATCH in self.path:
            with open(COUNT, "a") as f:
                f.write(self.path + "\n")
            body = b'{"msg":"injected failure"}'
            self.send_response(500)
        else:
            req = urllib.request.Request(UP + self.path, headers={
                k: v for k, v in self.headers.items()
                if k.lower() in ("xc-token", "accept")})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    body, code = r.read(), r.status
            except urllib.error.HTTPError as e:
                body, code = e.read(), e.code
            self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
