#!/usr/bin/python3
"""s3proxy.py - a signature-checking, fault-injecting reverse proxy for S3.

It sits in front of s3rver (which accepts any signature) and does what real
S3 does with the Authorization header: it recomputes the AWS SigV4
canonical request from what arrived on the wire (method, path re-encoded
the S3 way, canonical query, the signed headers, x-amz-content-sha256) and
the signature with the secret it knows, and answers 403
SignatureDoesNotMatch when they differ.  It also checks that
x-amz-content-sha256 equals the body's SHA-256 (unless UNSIGNED-PAYLOAD),
the access key (InvalidAccessKeyId) and the region of the credential scope
(400 AuthorizationHeaderMalformed).  Then it forwards the request to the
upstream and streams the answer back.

Faults (for tests of retries):  --fault KIND[:every=N][:count=N][:method=M]
[:path=SUBSTRING][:ms=N] (repeatable), or at runtime:
    POST /__proxy/faults   body: one spec per line (replaces; empty clears)
    GET  /__proxy/faults   the current specs and counters (JSON)
KIND is 503 (SlowDown), 500 (InternalError), reset (close the connection
without an answer), truncate (send the headers and half the body, then
close), delay (sleep ms, default 500, then forward).  every=N fires on
every Nth request that matches (counted from when the spec was set),
count=N stops after N injections.  Control requests are not signed and
not counted.

python3 standard library only.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
       "te", "trailers", "transfer-encoding", "upgrade"}
UNRESERVED = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
              "0123456789-_.~")
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def s3_encode(s, keep_slash):
    """Percent-encode bytes the SigV4 way: uppercase hex, unreserved kept."""
    out = []
    for b in s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s:
        c = chr(b)
        if c in UNRESERVED or (keep_slash and c == "/"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical_uri(raw_path):
    # S3 does not normalise the path: decode what was sent, re-encode it.
    decoded = urllib.parse.unquote_to_bytes(raw_path)
    return s3_encode(decoded, True) or "/"


def canonical_query(raw_query):
    pairs = []
    if raw_query:
        for part in raw_query.split("&"):
            if part == "":
                continue
            name, _, value = part.partition("=")
            pairs.append((s3_encode(urllib.parse.unquote_to_bytes(name), False),
                          s3_encode(urllib.parse.unquote_to_bytes(value), False)))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def hmac256(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def error_xml(code, message, extra=None):
    body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>" \
           "<Message>%s</Message>" % (code, xml_escape(message))
    for k, v in (extra or {}).items():
        body += "<%s>%s</%s>" % (k, xml_escape(v), k)
    body += "<RequestId>s3proxy</RequestId></Error>"
    return body.encode("utf-8")


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\"", "&quot;"))


class Fault:
    def __init__(self, spec):
        parts = spec.strip().split(":")
        self.spec = spec.strip()
        self.kind = parts[0]
        if self.kind not in ("503", "500", "reset", "truncate", "delay"):
            raise ValueError("unknown fault kind '%s'" % self.kind)
        self.every = 1
        self.count = None
        self.method = None
        self.path = None
        self.ms = 500
        for p in parts[1:]:
            k, _, v = p.partition("=")
            if k == "every":
                self.every = max(1, int(v))
            elif k == "count":
                self.count = int(v)
            elif k == "method":
                self.method = v.upper()
            elif k == "path":
                self.path = v
            elif k == "ms":
                self.ms = int(v)
            else:
                raise ValueError("unknown fault option '%s'" % k)
        self.seen = 0
        self.fired = 0

    def check(self, method, path):
        """Called under the lock: True if this request gets the fault."""
        if self.method and self.method != method:
            return False
        if self.path and self.path not in urllib.parse.unquote(path):
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        self.seen += 1
        if self.seen % self.every:
            return False
        self.fired += 1
        return True

    def state(self):
        return {"spec": self.spec, "seen": self.seen, "fired": self.fired}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.faults = [Fault(f) for f in args.fault]
        self.keys = {args.access_key: args.secret_key}
        self.region = args.region
        self.upstream = args.upstream
        self.requests = 0
        self.rejected = 0
        self.quiet = args.quiet

    def set_faults(self, text):
        new = [Fault(line) for line in text.splitlines() if line.strip()]
        with self.lock:
            self.faults = new

    def pick_fault(self, method, path):
        with self.lock:
            self.requests += 1
            for f in self.faults:
                if f.check(method, path):
                    return f
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"
    state = None  # set in main
    local = threading.local()

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without NODELAY,
        # Nagle + delayed ACKs add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if not self.state.quiet:
            sys.stderr.write("s3proxy: %s\n" % (fmt % args))

    # -- plumbing ---------------------------------------------------------
    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            data = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body, ctype="application/xml", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self):
        # RST instead of FIN: the client sees "connection reset by peer".
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    # -- SigV4 ------------------------------------------------------------
    def verify(self, body):
        """Returns None if the request is correctly signed, else
        (status, code, message, extra)."""
        auth = self.headers.get("Authorization")
        if not auth:
            return (403, "AccessDenied", "Anonymous access is not allowed", {})
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return (400, "InvalidRequest", "unsupported authorization type", {})
        fields = {}
        for item in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = item.strip().partition("=")
            fields[k] = v
        try:
            cred = fields["Credential"].split("/")
            akid, date, region, service, term = cred
            signed = fields["SignedHeaders"].split(";")
            sig = fields["Signature"]
        except (KeyError, ValueError):
            return (400, "AuthorizationHeaderMalformed",
                    "the authorization header is malformed", {})
        secret = self.state.keys.get(akid)
        if secret is None:
            return (403, "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                    {"AWSAccessKeyId": akid})
        if region != self.state.region:
            return (400, "AuthorizationHeaderMalformed",
                    "the region '%s' is wrong; expecting '%s'" %
                    (region, self.state.region), {"Region": self.state.region})
        if service != "s3" or term != "aws4_request":
            return (400, "AuthorizationHeaderMalformed",
                    "bad credential scope", {})
        amzdate = self.headers.get("x-amz-date", "")
        if not amzdate.startswith(date):
            return (400, "AuthorizationHeaderMalformed",
                    "x-amz-date does not match the credential date", {})
        try:
            t = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            return (403, "AccessDenied", "bad x-amz-date", {})
        if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) > 900:
            return (403, "RequestTimeTooSkewed",
                    "The difference between the request time and the current "
                    "time is too large.", {})
        if "host" not in signed:
            return (403, "AccessDenied", "host must be a signed header", {})
        payload = self.headers.get("x-amz-content-sha256")
        if payload is None:
            return (400, "InvalidRequest",
                    "Missing required header for this request: x-amz-content-sha256", {})
        if "x-amz-content-sha256" not in signed:
            return (403, "AccessDenied", "x-amz-content-sha256 must be signed", {})
        if payload != "UNSIGNED-PAYLOAD" and not payload.startswith("STREAMING-"):
            actual = hashlib.sha256(body).hexdigest()
            if payload != actual:
                return (400, "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not "
                        "match what was computed.",
                        {"ClientComputedContentSHA256": payload,
                         "S3ComputedContentSHA256": actual})
        raw_path, _, raw_query = self.path.partition("?")
        hdrs = []
        for name in signed:
            values = self.headers.get_all(name)
            if values is None:
                return (403, "SignatureDoesNotMatch",
                        "signed header '%s' is missing" % name, {})
            values = [" ".join(v.strip().split()) for v in values]
            hdrs.append("%s:%s\n" % (name, ",".join(values)))
        creq = "\n".join([self.command, canonical_uri(raw_path),
                          canonical_query(raw_query), "".join(hdrs),
                          ";".join(signed), payload])
        scope = "/".join([date, region, service, term])
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(creq.encode("utf-8", "surrogateescape")).hexdigest()])
        k = hmac256(("AWS4" + secret).encode("utf-8"), date)
        k = hmac256(k, region)
        k = hmac256(k, service)
        k = hmac256(k, term)
        want = hmac.new(k, sts.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            if not self.state.quiet:
                sys.stderr.write("s3proxy: signature mismatch for %s %s\n"
                                 "--- canonical request ---\n%s\n---\n" %
                                 (self.command, self.path, creq))
            return (403, "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the "
                    "signature you provided. Check your key and signing method.",
                    {"CanonicalRequest": creq, "StringToSign": sts})
        return None

    # -- control ----------------------------------------------------------
    def control(self, body):
        st = self.state
        if self.path.startswith("/__proxy/faults"):
            if self.command in ("POST", "PUT"):
                try:
                    st.set_faults(body.decode("utf-8"))
                except ValueError as e:
                    return self.reply(400, ("%s\n" % e).encode(), "text/plain")
            elif self.command == "DELETE":
                st.set_faults("")
            with st.lock:
                out = {"faults": [f.state() for f in st.faults],
                       "requests": st.requests, "rejected": st.rejected}
            return self.reply(200, json.dumps(out).encode(), "application/json")
        return self.reply(404, b"unknown control path\n", "text/plain")

    # -- forwarding -------------------------------------------------------
    def upstream_conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            host, _, port = self.state.upstream.rpartition(":")
            c = http.client.HTTPConnection(host, int(port), timeout=300)
            self.local.conn = c
        if c.sock is None:
            c.connect()
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def forward(self, body, fault):
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in HOP or k.lower() == "content-length":
                continue
            headers[k] = v
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            try:
                conn = self.upstream_conn(fresh=attempt > 0)
                conn.request(self.command, self.path, body=body or None,
                             headers=headers)
                resp = conn.getresponse()
                break
            except (OSError, http.client.HTTPException):
                if attempt:
                    return self.reply(502, error_xml("BadGateway",
                                                     "upstream unreachable"))
        data = None
        length = resp.getheader("Content-Length")
        if self.command == "HEAD":
            resp.read()
        elif length is None:
            data = resp.read()
            length = str(len(data))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command == "HEAD":
            return
        remaining = int(length)
        cut = remaining // 2 if fault and fault.kind == "truncate" else None
        sent = 0
        if data is not None:
            chunks = [data]
        else:
            chunks = iter(lambda: resp.read(1 << 16), b"")
        for chunk in chunks:
            if cut is not None and sent + len(chunk) > cut:
                self.wfile.write(chunk[:cut - sent])
                self.wfile.flush()
                # Drain the upstream so its connection stays usable.
                resp.read()
                return self.reset()
            self.wfile.write(chunk)
            sent += len(chunk)
        if cut is not None:
            self.reset()

    def handle_any(self):
        body = self.read_body()
        if self.path.startswith("/__proxy/"):
            return self.control(body)
        fault = self.state.pick_fault(self.command, self.path)
        if fault:
            self.log_message("fault %s on %s %s", fault.kind, self.command,
                             self.path)
            if fault.kind == "503":
                return self.reply(503, error_xml("SlowDown",
                                                 "Please reduce your request rate."))
            if fault.kind == "500":
                return self.reply(500, error_xml("InternalError",
                                                 "We encountered an internal error. Please try again."))
            if fault.kind == "reset":
                return self.reset()
            if fault.kind == "delay":
                time.sleep(fault.ms / 1000.0)
        bad = self.verify(body)
        if bad:
            with self.state.lock:
                self.state.rejected += 1
            status, code, msg, extra = bad
            return self.reply(status, error_xml(code, msg, extra))
        return self.forward(body, fault)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of s3rver")
    ap.add_argument("--port-file", help="write the chosen port here")
    ap.add_argument("--access-key", default="S3RVER")
    ap.add_argument("--secret-key", default="S3RVER")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    Handler.state = State(args)
    host, _, port = args.listen.rpartition(":")
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        import os
        os.rename(tmp, args.port_file)
    print("s3proxy listening on %s:%d -> %s" % (host, srv.server_address[1],
                                                args.upstream), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
