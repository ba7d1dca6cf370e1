#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: pmadvise reports the advised ranges' resident and swapped
bytes before and after (JSON resident_before ... swapped_after), and shows
where the rungs differ in effect: a target running as uid 65534 maps a
root-owned 8 MiB file read-only; `--shared -a pageout` by the syscall rung
(the kernel checks the file's permission against the caller, root) drops
its pages from the target's memory, by the ptrace rung (the target gives
the advice itself, and may not write the file) drops none, though both
report 8 MiB advised. The second says so in a note."""

import os
import subprocess
import sys
import tempfile

from clitest import NOBODY, check, fail, need_root, run, run_json

MiB = 1 << 20
SIZE = 8 * MiB

# Maps the file read-only and shared, reads every page, says "ready PID";
# each line of stdin reads every page again and answers "ok".
TARGET = r"""
import mmap, os, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
def touch():
    s = 0
    for off in range(0, len(m), 4096):
        s += m[off]
    return s
touch()
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    touch()
    print("ok", flush=True)
"""


def start(path):
    p = subprocess.Popen(NOBODY + [sys.executable, "-c", TARGET, path],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    words = p.stdout.readline().split()
    if len(words) != 2 or words[0] != "ready":
        p.kill()
        fail("the uid 65534 target did not start: %r" % words)
    return p, int(words[1])


def file_vma(pid, path):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if line.rstrip().endswith(path):
                a, b = line.split()[0].split("-")
                return int(a, 16), int(b, 16)
    fail("the target has no mapping of %s" % path)


def advise(pid, method):
    p, doc = run_json(["--shared", "-a", "pageout", "-m", method, pid],
                      check_rc=0)
    proc = doc["processes"][0]
    for k in ("resident_before", "resident_after", "swapped_before",
              "swapped_after"):
        check(isinstance(proc[k], int), "%s: %s is a byte count (%r)" %
              (method, k, proc[k]))
    return proc


def main():
    need_root()
    d = tempfile.mkdtemp(prefix="pmadv-res-", dir="/var/tmp")
    os.chmod(d, 0o755)
    path = os.path.join(d, "root-owned")
    with open(path, "wb") as f:
        for i in range(SIZE // 4096):
            f.write(bytes([i % 251 + 1]) * 4096)
    os.chmod(path, 0o644)
    try:
        p, pid = start(path)
        try:
            start_, end = file_vma(pid, path)
            check(end - start_ == SIZE, "the target maps the 8 MiB file")
            sc = advise(pid, "syscall")
            check(sc["method"] == "syscall" and
                  sc["bytes_advised"] >= SIZE, "syscall rung: 8 MiB advised")
            check(sc["resident_before"] >= SIZE,
                  "syscall rung: the file was resident before (%d bytes)" %
                  sc["resident_before"])
            check(sc["resident_after"] <= sc["resident_before"] - SIZE +
                  64 * 1024, "syscall rung: its pages left the target's "
                  "memory (resident %d -> %d bytes)" %
                  (sc["resident_before"], sc["resident_after"]))
            check(sc["note"] is None, "syscall rung: no note")
            # the target reads the file in again, then the ptrace rung
            p.stdin.write("touch\n")
            p.stdin.flush()
            check(p.stdout.readline().strip() == "ok",
                  "the target read the file back")
            pt = advise(pid, "ptrace")
            check(pt["method"] == "ptrace" and
                  pt["bytes_advised"] >= SIZE,
                  "ptrace rung: 8 MiB advised, exit 0")
            check(pt["resident_before"] >= SIZE and
                  pt["resident_after"] >= pt["resident_before"],
                  "ptrace rung: none of its pages left (resident %d -> %d "
                  "bytes)" % (pt["resident_before"], pt["resident_after"]))
            check(pt["note"] and "target itself" in pt["note"],
                  "ptrace rung: the note says why: %r" % pt["note"])
            h = run(["--shared", "-a", "pageout", "-m", "ptrace", pid],
                    check_rc=0)
            check(h.stdout.split()[:12][-2:] == ["RESIDENT_AFTER",
                                                 "SWAPPED_AFTER"] and
                  ("PID %s: note: pageout was given by the target itself" %
                   pid) in h.stdout,
                  "the human report shows the residency and the note")
        finally:
            p.kill()
            p.wait()
    finally:
        os.unlink(path)
        os.rmdir(d)


main()
