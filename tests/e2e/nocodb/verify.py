"""tests/e2e/nocodb/verify.py URL TOKEN BASE TABLE JSONL: the records
that the API returns for table TABLE of base BASE (all pages) against
JSONL (one record a line).  Prints "N records equal" or what differs."""
import json
import sys
import urllib.parse
import urllib.request

URL, TOKEN, BASE, TABLE, JSONL = sys.argv[1:6]


def get(path):
    req = urllib.request.Request(URL + path, headers={"xc-token": TOKEN})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def stable(r):
    """A record without the parts NocoDB makes anew on every read (the
    signed URLs of attachments)."""
    for k, v in r.items():
        if isinstance(v, list):
            r[k] = [{a: b for a, b in o.items()
                     if a not in ("signedPath", "signedUrl")}
                    if isinstance(o, dict) else o for o in v]
    return r


bid = [b for b in get("/api/v2/meta/bases")["list"]
       if b["title"] == BASE][0]["id"]
tid = [t for t in get("/api/v2/meta/bases/%s/tables" % bid)["list"]
       if t["title"] == TABLE][0]["id"]
api, off = {}, 0
while True:
    p = get("/api/v2/tables/%s/records?limit=1000&offset=%d" % (tid, off))
    for r in p["list"]:
        api[r["Id"]] = stable(r)
    off += len(p["list"])
    if len(p["list"]) < 1000:
        break
got = {}
with open(JSONL) as f:
    for line in f:
        r = json.loads(line)
        got[r["Id"]] = stable(r)
if got == api:
    print("%d records equal" % len(api))
else:
    diff = [k for k in set(api) | set(got) if api.get(k) != got.get(k)]
    print("differ: %d api, %d backup, first ids %s: api %s backup %s" % (
        len(api), len(got), sorted(diff)[:5],
        api.get(sorted(diff)[0]), got.get(sorted(diff)[0])))
