#!/bin/bash
# backupfs check verifies the key objects of an encrypted repository
# (doc/FORMAT.md section 19): a clean repository passes and counts them;
# each way of damaging a key object (a changed byte, truncation, an
# unknown version or kdf, scrypt parameters out of bounds, wrapped keys
# of a wrong size, not JSON, two lines, empty, over 4096 bytes) makes
# check fail with exit 1 and name keys/<name> with what is wrong; the
# repository still opens and reads with the other, good key; a plain
# repository reports no key objects.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd python3
export BACKUPFS_TEST_KDF=fast
R=$T/repo
printf 'first-PW-aaaa\n' >"$T/pw1"
printf 'second-PW-bbbb\n' >"$T/pw2"
mkdir -p "$T/src"
echo hello >"$T/src/a.txt"

ok_cmd "init" bfs init --password-file "$T/pw1" "$R"
ok_cmd "backup" bfs backup -r "$R" --password-file "$T/pw1" --id b1 \
	--files "app=$T/src"
k1=$(basename "$(find "$R/keys" -type f)")
ok_cmd "key add" bfs key -r "$R" --password-file "$T/pw1" \
	--new-password-file "$T/pw2" add
k2=$(find "$R/keys" -type f ! -name "$k1" -printf '%f\n')
is "${#k2}" 64 "a second key object"

ok_cmd "check of a clean encrypted repository" bfs check -r "$R" \
	--password-file "$T/pw1"
like "$(cat "$T/stdout")" "^checked 2 key objects, " "counts the key objects"
ok_cmd "check --json" bfs check -r "$R" --password-file "$T/pw2" --json
is "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["key_objects"])' <"$T/stdout")" \
	2 "counts.key_objects"

# expect_bad WHAT NAME PATTERN: check (opened with pw1) fails naming
# keys/NAME with PATTERN, and pw1 still opens and reads the repository
expect_bad() {
	fails_with 1 "$1: check fails" bfs check -r "$R" \
		--password-file "$T/pw1"
	like "$(cat "$T/stdout")" "^error: key '?keys/$2'?: .*$3" \
		"$1: names keys/${2:0:12} ($3)"
	ok_cmd "$1: the other key still opens and reads" bfs cat -r "$R" \
		--password-file "$T/pw1" b1:app/a.txt
	is "$(cat "$T/stdout")" hello "$1: the right bytes"
}

# damaged in place: the name no longer matches
cp "$R/keys/$k2" "$T/k2.good"
python3 - "$R/keys/$k2" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b'"wrapped":"') + 15
b[i] = ord("A") if b[i] != ord("A") else ord("B")
open(p, "wb").write(b)
PY
expect_bad "a changed byte" "$k2" "do not hash to its name"
fails_with 1 "the damaged key no longer opens" bfs list -r "$R" \
	--password-file "$T/pw2"
head -c 100 "$T/k2.good" >"$R/keys/$k2"
expect_bad "truncated" "$k2" "do not hash to its name"
cp "$T/k2.good" "$R/keys/$k2"

# plant NAME-PY: a variant of k2 made by the python expression (s: the
# text), stored under the SHA-256 of its bytes as a writer would; echoes
# its name
plant() {
	python3 - "$T/k2.good" "$R/keys" "$1" <<'PY'
import hashlib, os, sys
s = open(sys.argv[1], "rb").read().decode()
b = eval(sys.argv[3]).encode()
n = hashlib.sha256(b).hexdigest()
open(os.path.join(sys.argv[2], n), "wb").write(b)
print(n)
PY
}
while IFS='|' read -r what expr pattern <&3; do
	n=$(plant "$expr")
	expect_bad "$what" "$n" "$pattern"
	rm -f "$R/keys/$n"
done 3<<'EOF2'
unknown version|s.replace('"version":1', '"version":2')|unknown version
unknown kdf|s.replace('"kdf":"scrypt"', '"kdf":"argon2id"')|unknown kdf
N above 2^22|s.replace('"n":1024', '"n":8388608')|scrypt parameters out of range
N not a power of two|s.replace('"n":1024', '"n":1000')|scrypt parameters out of range
r 0|s.replace('"r":8', '"r":0')|scrypt parameters out of range
r 32 with N 2^22 (16 GiB)|s.replace('"r":8', '"r":32').replace('"n":1024', '"n":4194304')|scrypt parameters out of range
wrapped keys too short|s.replace('"wrapped":"', '"wrapped":"AAAA', 1)|wrong size
no salt|s.replace('"salt"', '"pepper"')|salt, nonce or wrapped
not JSON|s[:40]|not a JSON object
two lines|s + s|more than one line
empty|''|0 bytes
over 4096 bytes|s.replace('"label":"', '"label":"' + 'x' * 4100)|4[0-9]{3} bytes
EOF2
ok_cmd "all damage removed: check passes again" bfs check -r "$R" \
	--password-file "$T/pw2"

P=$T/plain
ok_cmd "plain init" bfs init "$P"
ok_cmd "plain backup" bfs backup -r "$P" --id b1 --files "app=$T/src"
ok_cmd "check of a plain repository" bfs check -r "$P"
unlike "$(cat "$T/stdout")" "key objects" "no key objects in a plain one"

done_testing
