"""tests/e2e/nocodb/restore-check.py: helpers of the restore tests, which
talk to NocoDB's v2 API (token in $NC_TOKEN, $NC_TOKEN2 for a second
server; never an argument).

  delete URL BASE TABLE         delete every record of the table; prints
                                how many
  records URL BASE TABLE        the table's records (all pages) without
                                what NocoDB makes (Id, CreatedAt, ...),
                                attachments as [title, size, sha256 of
                                the downloaded bytes], sorted: one JSON
                                line per record
  jsonl SCHEMA JSONL DIR        the same from a backup's schema.json and
                                records.jsonl, the attachment bytes read
                                from DIR/<record id>/<file name>
  schema URL BASE TABLE         the table's stored columns (title, name,
                                type, meta, select options), one JSON line
                                each
  count URL BASE TABLE          the number of records
  rich URL                      add base "Rich" with a table "Things" of
                                typed columns (select options, decimal
                                precision, currency, date format, rating,
                                a formula) and 3 records
  clear URL BASE TABLE COLUMN   set COLUMN of every record to null
  signup URL                    sign up the first user of a new NocoDB
                                and print an API token
"""
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

SYSTEM = {"ID", "CreatedTime", "LastModifiedTime", "CreatedBy",
          "LastModifiedBy", "Order", "Links", "LinkToAnotherRecord",
          "Lookup", "Rollup", "Formula", "ForeignKey", "QrCode", "Barcode"}


def call(url, method, path, body=None, token_env="NC_TOKEN"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("xc-token", os.environ[token_env])
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        sys.exit("%s %s: HTTP %d: %s" % (method, path, e.code,
                                         e.read()[:500]))


def get(url, path):
    return json.loads(call(url, "GET", path))


def table(url, base, title):
    bid = [b for b in get(url, "/api/v2/meta/bases")["list"]
           if b["title"] == base][0]["id"]
    tid = [t for t in get(url, "/api/v2/meta/bases/%s/tables" % bid)["list"]
           if t["title"] == title][0]["id"]
    return tid, get(url, "/api/v2/meta/tables/%s" % tid)


def stored(schema):
    return [c for c in schema["columns"]
            if not c.get("system") and not c.get("pk")
            and c["uidt"] not in SYSTEM]


def all_records(url, tid):
    out, off = [], 0
    while True:
        p = get(url, "/api/v2/tables/%s/records?limit=1000&offset=%d"
                % (tid, off))
        out += p["list"]
        off += len(p["list"])
        if len(p["list"]) < 1000:
            return out


def atts(v):
    if isinstance(v, str):
        v = json.loads(v)
    return v or []


def norm(schema, rec, data_of):
    out = {}
    for c in stored(schema):
        v = rec.get(c["title"])
        if c["uidt"] == "Attachment":
            v = [[a["title"], a.get("size"),
                  hashlib.sha256(data_of(a, i)).hexdigest()]
                 for i, a in enumerate(atts(v))] or None
        out[c["title"]] = v
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def signup(url):
    def post(path, body, hdr):
        req = urllib.request.Request(url + path, method="POST",
                                     data=json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        for k, v in hdr.items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    r = post("/api/v1/auth/user/signup", {"email": "admin@example.com",
             "password": "Bfs-test-Passw0rd!"}, {})
    print(post("/api/v1/tokens", {"description": "backupfs test"},
               {"xc-auth": r["token"]})["token"])


def main():
    cmd = sys.argv[1]
    if cmd == "signup":
        signup(sys.argv[2])
        return
    if cmd == "jsonl":
        schema = json.load(open(sys.argv[2]))
        adir = sys.argv[4]
        lines = []
        for line in open(sys.argv[3]):
            rec = json.loads(line)
            names = {}

            def data_of(a, i, rec=rec, names=names):
                # the export's names: title, then title%~2, ...
                t = a["title"]
                names[t] = names.get(t, 0) + 1
                n = t if names[t] == 1 else "%s%%~%d" % (t, names[t])
                return open(os.path.join(adir, str(rec["Id"]), n),
                            "rb").read()
            lines.append(norm(schema, rec, data_of))
        print("\n".join(sorted(lines)))
        return
    if cmd == "rich":
        url = sys.argv[2]
        bid = json.loads(call(url, "POST", "/api/v2/meta/bases",
                              {"title": "Rich"}))["id"]
        cols = [
            {"column_name": "title", "title": "Title",
             "uidt": "SingleLineText"},
            {"column_name": "status", "title": "Status",
             "uidt": "SingleSelect", "colOptions": {"options": [
                 {"title": "open", "color": "#ff0000"},
                 {"title": "done", "color": "#00ff00"}]}},
            {"column_name": "tags", "title": "Tags", "uidt": "MultiSelect",
             "colOptions": {"options": [{"title": "a", "color": "#0000ff"},
                                        {"title": "b",
                                         "color": "#00ffff"}]}},
            {"column_name": "price", "title": "Price", "uidt": "Decimal",
             "meta": {"precision": 3}},
            {"column_name": "cost", "title": "Cost", "uidt": "Currency",
             "meta": {"currency_locale": "de-DE", "currency_code": "EUR"}},
            {"column_name": "due", "title": "Due", "uidt": "Date",
             "meta": {"date_format": "DD-MM-YYYY"}},
            {"column_name": "mail", "title": "Mail", "uidt": "Email"},
            {"column_name": "stars", "title": "Stars", "uidt": "Rating",
             "meta": {"max": 10}},
            {"column_name": "done", "title": "Done", "uidt": "Checkbox"}]
        tid = json.loads(call(url, "POST",
                              "/api/v2/meta/bases/%s/tables" % bid,
                              {"title": "Things", "table_name": "things",
                               "columns": cols}))["id"]
        call(url, "POST", "/api/v2/meta/tables/%s/columns" % tid,
             {"title": "Twice", "column_name": "twice", "uidt": "Formula",
              "formula_raw": "{Price} * 2"})
        call(url, "POST", "/api/v2/tables/%s/records" % tid, [
            {"Title": "one", "Status": "open", "Tags": "a", "Price": 1.25,
             "Cost": 9.5, "Due": "2026-03-04", "Mail": "a@example.com",
             "Stars": 7, "Done": True},
            {"Title": "two \u00e9\u8868", "Status": "done", "Tags": "a,b",
             "Price": 1234.567, "Cost": 0, "Due": None, "Mail": None,
             "Stars": 0, "Done": False},
            {"Title": None}])
        return
    url, base, title = sys.argv[2:5]
    tid, schema = table(url, base, title)
    if cmd == "clear":
        col = sys.argv[5]
        rows = [{"Id": r["Id"], col: None}
                for r in all_records(url, tid) if r.get(col)]
        call(url, "PATCH", "/api/v2/tables/%s/records" % tid, rows)
        print(len(rows))
        return
    if cmd == "delete":
        ids = [{"Id": r["Id"]} for r in all_records(url, tid)]
        for i in range(0, len(ids), 100):
            call(url, "DELETE", "/api/v2/tables/%s/records" % tid,
                 ids[i:i + 100])
        print(len(ids))
    elif cmd == "count":
        print(len(all_records(url, tid)))
    elif cmd == "records":
        def data_of(a, i):
            p = a.get("path") or a.get("signedPath")
            return call(url, "GET", "/" + p)
        print("\n".join(sorted(norm(schema, r, data_of)
                               for r in all_records(url, tid))))
    elif cmd == "schema":
        for c in stored(schema):
            meta = c.get("meta") or {}
            if isinstance(meta, str):
                meta = json.loads(meta)
            meta = {k: v for k, v in meta.items()
                    if not k.startswith("defaultView")}
            opts = [[o["title"], o.get("color")] for o in
                    ((c.get("colOptions") or {}).get("options") or [])]
            print(json.dumps([c["title"], c["column_name"], c["uidt"],
                              meta, opts], sort_keys=True,
                             ensure_ascii=False))


main()
