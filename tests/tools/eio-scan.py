#!/usr/bin/env python3
"""eio-scan.py SRC FILE BLK...: read FILE (a mounted file whose chunk was
damaged) in blocks of each size BLK and compare with SRC (the bytes it
must hold).  Prints one word per BLK: "ok" when every block either
equals SRC's or fails with EIO (or is short with SRC's bytes up to the
damage), the failing blocks sit together with good blocks on both sides,
and they span at most one bad chunk (the dump profile's largest, 1 MiB,
or one block); else what
went wrong ("WRONG BYTES at ...", "no EIO", ...).  Never prints ok for
wrong bytes.  Used by the read tests (t0721, t0722)."""
import errno
import os
import sys

MAX_SPAN = 1 << 20  # chunker.dump.max of a new repository (FORMAT.md 12)


def scan(src, path, blk):
    size = os.fstat(src).st_size
    b = os.open(path, os.O_RDONLY)
    good, eio, wrong = [], [], []
    try:
        for i in range((size + blk - 1) // blk):
            want = os.pread(src, blk, i * blk)
            try:
                got = os.pread(b, blk, i * blk)
            except OSError as e:
                if e.errno != errno.EIO:
                    return "errno %d at %d" % (e.errno, i * blk)
                eio.append(i * blk)
                continue
            if len(got) < len(want) and got == want[:len(got)]:
                eio.append(i * blk)  # short: the bytes up to the bad page
            else:
                (good if got == want else wrong).append(i * blk)
    finally:
        os.close(b)
    if wrong:
        return "WRONG BYTES at %s" % wrong[:3]
    if not eio:
        return "no EIO"
    lo, hi = min(eio), max(eio)
    if not [g for g in good if g < lo] or not [g for g in good if g > hi]:
        return "no good block on both sides of %d..%d" % (lo, hi)
    if hi - lo > max(blk, MAX_SPAN):
        return "%d..%d fails, more than the bad chunk" % (lo, hi)
    return "ok"


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: eio-scan.py SRC FILE BLK...")
    src = os.open(sys.argv[1], os.O_RDONLY)
    print(" ".join(scan(src, sys.argv[2], int(b)) for b in sys.argv[3:]))


main()
