"""tests/e2e/nocodb/seed.py URL FILEDIR: sign up, make an API token, and
create two bases with tables of several column types (2,500 records in
Sales/2026 > Customers, so records come in three pages) and attachments
(the files written into FILEDIR).  Prints {"token": ...} as JSON."""
import json
import os
import sys
import urllib.request

URL, FILEDIR = sys.argv[1], sys.argv[2]
HDR = {}


def call(method, path, body=None, ctype="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    for k, v in HDR.items():
        req.add_header(k, v)
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def upload(name, content):
    with open(os.path.join(FILEDIR, name.replace("/", "_")), "wb") as f:
        f.write(content)
    b = "----bfs-seed-boundary"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
             "filename=\"%s\"\r\nContent-Type: application/octet-stream"
             "\r\n\r\n") % (b, name)).encode() + content + \
        ("\r\n--%s--\r\n" % b).encode()
    r = call("POST", "/api/v2/storage/upload?path=noco/bfs", body,
             "multipart/form-data; boundary=" + b)
    return r


def table(base_id, title, name, cols):
    c = [{"column_name": n, "title": t, "uidt": u} for n, t, u in cols]
    return call("POST", "/api/v2/meta/bases/%s/tables" % base_id,
                {"title": title, "table_name": name, "columns": c})["id"]


def insert(tid, rows):
    for i in range(0, len(rows), 100):
        call("POST", "/api/v2/tables/%s/records" % tid, rows[i:i + 100])


r = call("POST", "/api/v1/auth/user/signup",
         {"email": "admin@example.com", "password": "Bfs-test-Passw0rd!"})
HDR = {"xc-auth": r["token"]}
tok = call("POST", "/api/v1/tokens", {"description": "backupfs test"})
HDR = {"xc-token": tok["token"]}

COLS = [("name", "Name", "SingleLineText"), ("amount", "Amount", "Number"),
        ("notes", "Notes", "LongText"), ("active", "Active", "Checkbox"),
        ("since", "Since", "Date"), ("files", "Files", "Attachment")]
sales = call("POST", "/api/v2/meta/bases", {"title": "Sales/2026"})["id"]
cust = table(sales, "Customers", "customers", COLS)
insert(cust, [{"Name": "customer %04d" % i, "Amount": i * 7,
               "Notes": "line one\nline \"two\" \u00e9\u8868 %d" % i,
               "Active": i % 3 == 0,
               "Since": "2026-%02d-%02d" % (i % 12 + 1, i % 28 + 1)}
              for i in range(1, 2501)])
a = upload("photo.bin", os.urandom(150000))
b = upload("report.txt", b"quarterly report\n" * 300)
call("PATCH", "/api/v2/tables/%s/records" % cust,
     [{"Id": 1, "Files": a + b}, {"Id": 2500, "Files": b}])
slash = table(sales, "Q1/Q2", "q1q2", COLS[:2])
insert(slash, [{"Name": "x", "Amount": 1}, {"Name": "y", "Amount": 2}])

crm = call("POST", "/api/v2/meta/bases", {"title": "CRM"})["id"]
notes = table(crm, "Notes", "notes", COLS)
insert(notes, [{"Name": "note %d" % i, "Amount": i} for i in range(1, 6)])
d1 = upload("dup.txt", b"first dup\n")
d2 = upload("dup.txt", b"second dup, longer\n")
call("PATCH", "/api/v2/tables/%s/records" % notes,
     [{"Id": 3, "Files": d1 + d2}])
json.dump({"token": tok["token"]}, sys.stdout)
