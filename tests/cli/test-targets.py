#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: a python3 process with thousands of separate mappings is
advised in full through the filters, in batches; --min-size and --range
windows narrow the choice; --anon, --file, --shared and --all pick the right
kinds of mapping; --hold leaves a running target running and a stopped
target stopped."""

import os
import signal
import subprocess
import sys
import time

import clitest
from clitest import (check, need_root, on_sigterm_exit, run_json,
                     ranges_of, status_field)

NMAPS = 3000

def start_mapper():
    return clitest.start_mapper(NMAPS)


def test_many_mappings():
    p, lo, hi = start_mapper()
    try:
        window = "%s-%s" % (lo, hi)
        _, doc = run_json(["--anon", "-a", "cold", "-R", window, p.pid],
                          check_rc=0, timeout=60)
        proc = doc["processes"][0]
        check(proc["ranges_total"] == NMAPS and
              proc["ranges_advised"] == NMAPS,
              "all %d separate mappings advised (%d of %d)" %
              (NMAPS, proc["ranges_advised"], proc["ranges_total"]))
        check(proc["calls"] <= (NMAPS + 1023) // 1024 + 1,
              "batched: %d kernel calls for %d ranges" %
              (proc["calls"], NMAPS))
        _, doc = run_json(["--anon", "--min-size", "8K", "-R", window,
                           "--dry-run", p.pid], check_rc=0)
        check(doc["processes"][0]["ranges_total"] == 0,
              "--min-size 8K leaves out the one-page mappings")
    finally:
        p.kill()
        p.wait()


# Three mappings of known kinds; prints each one's start address and size.
LAYOUT = r"""
import ctypes, mmap, os, sys, tempfile
def addr(m):
    return ctypes.addressof(ctypes.c_char.from_buffer(m))
f = tempfile.TemporaryFile(dir="/var/tmp")
f.truncate(8 << 20)
shared_anon = mmap.mmap(-1, 4 << 20, flags=mmap.MAP_SHARED)
private_file = mmap.mmap(f.fileno(), 2 << 20, access=mmap.ACCESS_COPY)
shared_file = mmap.mmap(f.fileno(), 3 << 20, access=mmap.ACCESS_WRITE,
                        offset=4 << 20)
for m in (shared_anon, private_file, shared_file):
    m[0:1] = b"x"
print(addr(shared_anon), 4 << 20, addr(private_file), 2 << 20,
      addr(shared_file), 3 << 20, flush=True)
sys.stdin.readline()
"""


def covers(ranges, start, size):
    """Whether [start, start+size) lies inside one of the JSON ranges."""
    return any(int(r["start"], 16) <= start and
               start + size <= int(r["end"], 16) for r in ranges)


def test_filters():
    p = subprocess.Popen([sys.executable, "-c", LAYOUT],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        v = [int(x) for x in p.stdout.readline().split()]
        sa, pf, sf = (v[0], v[1]), (v[2], v[3]), (v[4], v[5])

        def pick(flag):
            _, doc = run_json([flag, "--dry-run", p.pid], check_rc=0)
            return ranges_of(doc, doc["processes"][0])
        r = pick("--shared")
        check(covers(r, *sa) and covers(r, *sf) and not covers(r, *pf),
              "--shared picks the shared anonymous and shared file maps")
        r = pick("--file")
        check(covers(r, *pf) and not covers(r, *sa) and not covers(r, *sf),
              "--file picks the private file map only")
        r = pick("--anon")
        check(not any(covers(r, *m) for m in (sa, pf, sf)),
              "--anon picks none of the three")
        r = pick("--all")
        check(all(covers(r, *m) for m in (sa, pf, sf)),
              "--all picks all three")
    finally:
        p.kill()
        p.wait()


def test_hold():
    s = subprocess.Popen(["sleep", "120"])
    try:
        time.sleep(0.1)
        _, doc = run_json(["--hold", "--all", s.pid], check_rc=0)
        check(doc["hold"] and doc["processes"][0]["status"] == "ok",
              "--hold advised a running target")
        # R or S: released, it may be on its way back into nanosleep
        check(status_field(s.pid, "State") in ("R", "S"), "running target still running "
              "(%s)" % status_field(s.pid, "State"))
        os.kill(s.pid, signal.SIGSTOP)
        for _ in range(100):
            if status_field(s.pid, "State") == "T":
                break
            time.sleep(0.01)
        _, doc = run_json(["--hold", "--all", "--timeout", "5000", s.pid],
                          check_rc=0)
        check(doc["processes"][0]["status"] == "ok",
              "--hold advised a stopped target")
        check(status_field(s.pid, "State") == "T", "stopped target still stopped (%s)" %
              status_field(s.pid, "State"))
    finally:
        s.kill()
        s.wait()


def main():
    on_sigterm_exit()
    need_root()
    test_many_mappings()
    test_filters()
    test_hold()
    print("PASS")


main()
