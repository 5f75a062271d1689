#!/usr/bin/env python3
"""copy-dump.py OUT MIB SEED: a deterministic dump-like file of about MIB
MiB: one PostgreSQL COPY block of table t (id, name, note) whose rows
repeat a pool of 5,000 random lines (so it compresses and deduplicates
like a real dump).  Used by the read tests (t0720, t0721)."""
import random
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: copy-dump.py OUT MIB SEED")
    out, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    r = random.Random(seed)
    pool = ["%d\t%s\t%s\n" % (i, r.choice(["ann", "bob", "cy"]),
            "".join(r.choice("abcdefghij klmnop")
                    for _ in range(r.randrange(10, 150))))
            for i in range(5000)]
    with open(out, "w") as f:
        f.write("COPY t (id, name, note) FROM stdin;\n")
        n = 0
        while f.tell() < mib << 20:
            f.write("".join("%d\t%s" % (n + k, r.choice(pool))
                            for k in range(4096)))
            n += 4096
        f.write("\\.\n")


main()
