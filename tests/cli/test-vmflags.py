#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""VmFlags that change what advice does, through pmadvise:
- collapse over a THP-eligible VMA beside an MADV_NOHUGEPAGE one: the
  filters leave the second out (0.1 merged them into one range that failed
  whole with EINVAL), and the first collapses;
- pageout over MAP_DROPPABLE memory (6.11+), whose data it drops: the
  filters leave it out without --force and the data stays; an explicit
  range over it is refused without --force, naming why; with --force it is
  paged out;
- collapse lists only the whole, aligned huge pages inside VMAs;
- populate_read and populate_write over rw memory around a PROT_NONE
  guard: the filters leave the guard out (before, it was merged with its
  neighbours into one range that failed whole), and both sides are
  populated."""

import os
import subprocess
import sys

from clitest import (check, kernel_knows_advice, need_root, on_sigterm_exit,
                     ranges_of, run_json)

MIB = 1 << 20
MADV_COLLAPSE = 25

TARGET = r"""
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
M = 1 << 20
# 14 MiB, of which a 2 MiB-aligned 8 MiB THP-eligible part, then 4 MiB of
# MADV_NOHUGEPAGE right after it
raw = libc.mmap(None, 14 * M, 3, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
base = (raw + 2 * M - 1) & ~(2 * M - 1)
assert libc.madvise(base, 8 * M, 14) == 0  # MADV_HUGEPAGE
assert libc.madvise(base + 8 * M, 4 * M, 15) == 0  # MADV_NOHUGEPAGE
ctypes.memset(base, 1, 12 * M)
# MAP_DROPPABLE (0x08), where the kernel has it
d = libc.mmap(None, 64 * 4096, 3, 0x08 | mmap.MAP_ANONYMOUS, -1, 0)
if d in (None, ctypes.c_void_p(-1).value):
    d = 0
else:
    ctypes.memset(d, 7, 64 * 4096)
# 64 KiB rw, 64 KiB PROT_NONE, 64 KiB rw, none of it touched
g = libc.mmap(None, 3 * 65536, 3, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
              -1, 0)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(g + 65536, 65536, 0) == 0
print("%x %x %x" % (base, d, g), flush=True)
for line in sys.stdin:
    if d:
        print("ok" if ctypes.string_at(d, 64 * 4096) == b"\x07" * 64 * 4096
              else "zeroed", flush=True)
    else:
        print("none", flush=True)
"""


def smaps_kb(pid, start, end, field="AnonHugePages"):
    """A field of smaps summed over the VMAs inside [start, end), in kB."""
    total, inside = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo >= start and hi <= end
            elif inside and line.startswith(field + ":"):
                total += int(line.split()[1])
    return total


def populate_around_guard(pid, g):
    """populate_read, then populate_write (--force), over rw, PROT_NONE,
    rw: two ranges each, both populated where the kernel has the advice
    (5.14+), else refused with EINVAL."""
    window = "%#x-%#x" % (g, g + 3 * 65536)
    for advice, extra, num in (("populate_read", [], 22),
                               ("populate_write", ["--force"], 23)):
        _, doc = run_json(["--anon", "-a", advice, "-R", window] + extra +
                          [pid])
        proc = doc["processes"][0]
        rs = ranges_of(doc, proc)
        check(len(rs) == 2 and all(r["bytes"] == 65536 for r in rs),
              "%s leaves the PROT_NONE guard out: %s" %
              (advice, [(r["start"], r["bytes"]) for r in rs]))
        if not kernel_knows_advice(num):
            print("%s: unavailable on this kernel" % advice, flush=True)
            check(proc["error"] == "EINVAL", "%s refused (%s)" %
                  (advice, proc.get("error")))
            continue
        check(proc["status"] == "ok" and proc["bytes_advised"] == 2 * 65536,
              "%s advises both sides (%s, %d bytes)" %
              (advice, proc["status"], proc["bytes_advised"]))
        # after a write every page of both sides is resident (counted
        # over the two ranges themselves: either side may have merged
        # with a neighbouring mapping, which smaps would then add in)
        if advice == "populate_write":
            check(proc["resident_after"] == 2 * 65536,
                  "both sides are resident afterwards (%d bytes)" %
                  proc["resident_after"])


def main():
    need_root()
    on_sigterm_exit()
    p = subprocess.Popen([sys.executable, "-c", TARGET],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        base, drop, guard = (int(x, 16) for x in
                             p.stdout.readline().split())
        populate_around_guard(p.pid, guard)
        window = "%#x-%#x" % (base, base + 12 * MIB)
        _, doc = run_json(["--anon", "-a", "collapse", "-R", window,
                           p.pid], timeout=120)
        proc = doc["processes"][0]
        ranges = ranges_of(doc, proc)
        check(all(int(r["end"], 16) <= base + 8 * MIB for r in ranges),
              "collapse leaves the MADV_NOHUGEPAGE VMA out")
        if kernel_knows_advice(MADV_COLLAPSE):
            check(proc["status"] == "ok" and
                  proc["bytes_advised"] == 8 * MIB,
                  "the THP-eligible 8 MiB is collapsed (status %s, %d bytes)"
                  % (proc["status"], proc["bytes_advised"]))
            check(smaps_kb(p.pid, base, base + 8 * MIB) >= 2048,
                  "it is backed by huge pages afterwards")
        else:
            # Before 6.1: asked of the kernel, not of its version.
            print("MADV_COLLAPSE: unavailable on this kernel", flush=True)
            check(proc["status"] == "failed" and proc["error"] == "EINVAL",
                  "collapse on a kernel without MADV_COLLAPSE: EINVAL (%s, %s)"
                  % (proc["status"], proc.get("error")))
        # every VMA of the process: only whole 2 MiB-aligned huge pages
        # are listed (a smaller VMA holds none, and the kernel would answer
        # 0 for it, collapsing nothing)
        _, doc = run_json(["--anon", "-a", "collapse", "--dry-run", p.pid])
        rs = ranges_of(doc, doc["processes"][0])
        check(rs and all(int(r["start"], 16) % (2 * MIB) == 0 and
                         r["bytes"] % (2 * MIB) == 0 for r in rs),
              "collapse lists only whole aligned PMDs: %s" %
              [(r["start"], r["bytes"]) for r in rs])
        # an explicit range over the MADV_NOHUGEPAGE part: refused, and
        # the reason says huge pages, not "locked or PFN-mapped"
        _, doc = run_json(["-a", "collapse", "-R",
                           "%#x-%#x" % (base + 8 * MIB, base + 12 * MIB),
                           p.pid])
        r = ranges_of(doc, doc["processes"][0])[0]
        check(r["error"] == "EINVAL" and "huge pages" in (r["reason"] or ""),
              "collapse refused over MADV_NOHUGEPAGE memory says why (%s)"
              % r["reason"])
        if not drop:
            print("MAP_DROPPABLE: unavailable on this kernel", flush=True)
            return
        dwin = "%#x-%#x" % (drop, drop + 64 * 4096)

        def data():
            p.stdin.write("check\n")
            p.stdin.flush()
            return p.stdout.readline().strip()

        _, doc = run_json(["--anon", "-a", "pageout", "-R", dwin, p.pid])
        check(doc["processes"][0]["ranges_total"] == 0 and data() == "ok",
              "pageout's filters leave MAP_DROPPABLE memory out without "
              "--force, and its data stays")
        q, doc = run_json(["-a", "pageout", "-R", dwin, p.pid])
        proc = doc["processes"][0]
        check(q.returncode != 0 and proc["status"] == "failed" and
              "MAP_DROPPABLE" in (proc["message"] or "")
              and data() == "ok",
              "an explicit range over it is refused without --force, "
              "saying why (exit %d)" % q.returncode)
        _, doc = run_json(["--anon", "--force", "-a", "pageout", "-R", dwin,
                           p.pid])
        check(doc["processes"][0]["bytes_advised"] == 64 * 4096,
              "with --force it is paged out")
    finally:
        p.kill()
        p.wait()


main()
