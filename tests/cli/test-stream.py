#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: a table shows each process's row as soon as that process
is done. Over targets whose last one is slow (a call injected into it
waits on its userfaultfd until the test lets it go), the rows of the
first ones are on stdout, read from a pipe, while pmadvise still waits
on the last; the header comes once; the columns keep their place from
row to row whatever the cells hold, and a cell wider than its column
puts the rest of its row on the next line, under the columns; a second
SIGINT leaves the rows of the processes done on stdout, says so, and
exits 130. --json prints nothing until the end: one document, as
before, or none when a second SIGINT ends it."""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

from clitest import (SlowTarget, check, fail, kernel_knows_advice,
                     need_root, on_sigterm_exit, pmadvise_path, run,
                     status_field)

MADV_POPULATE_READ = 22
# Before 5.14 no injected call can wait on a fault: the slow target is a
# process in vfork (state D, which no interrupt stop reaches) until the
# test ends its child, and the advice COLD.
# (PMADV_STREAM_VFORK=1 runs that variant anywhere, by hand.)
POPULATE = kernel_knows_advice(MADV_POPULATE_READ) and \
    os.environ.get("PMADV_STREAM_VFORK") != "1"

# Names itself (PR_SET_NAME) with 15 bytes, the most the kernel keeps.
LONG_NAME = "pmadv-long-name"
RENAMED = r"""
import ctypes, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
print("named", flush=True)
sys.stdin.readline()
"""


class VforkTarget:
    """SlowTarget's part in Targets, on a kernel without
    MADV_POPULATE_READ: pmadvise's ptrace rung waits on this vfork parent
    (state D) until release() ends its child."""

    def __enter__(self):
        self.p = subprocess.Popen([os.environ["PMADV_TEST_VFORK"],
                                   "--answer"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.pid = int(self.p.stdout.readline().split()[1])
        self.child = None
        end = time.monotonic() + 30
        while time.monotonic() < end:
            with open("/proc/%d/task/%d/children" % (self.pid,
                                                     self.pid)) as f:
                kids = f.read().split()
            if kids and status_field(self.pid, "State") == "D":
                self.child = int(kids[0])
                return self
            time.sleep(0.01)
        self.__exit__()
        fail("the vfork parent never reached state D")

    def wait_fault(self):
        """Until pmadvise's tracer has seized it (it waits there)."""
        end = time.monotonic() + 60
        while status_field(self.pid, "TracerPid") in ("0", None):
            if time.monotonic() > end:
                fail("the request never reached the vfork parent")
            time.sleep(0.01)

    def release(self):
        if self.child:
            os.kill(self.child, signal.SIGKILL)
            self.child = None

    def left_as_found(self, what):
        end = time.monotonic() + 30
        while (status_field(self.pid, "TracerPid") != "0" and
               time.monotonic() < end):
            time.sleep(0.1)
        check(status_field(self.pid, "TracerPid") == "0",
              "%s: the target is no longer traced" % what)
        self.p.stdin.write("check\n")
        self.p.stdin.flush()
        check(self.p.stdout.readline().strip() == "ok",
              "%s: the target runs, and its memory is intact" % what)
        check(status_field(self.pid, "State") in ("S", "R"),
              "%s: the target is not left stopped (%s)" %
              (what, status_field(self.pid, "State")))

    def __exit__(self, *exc):
        self.release()
        self.p.kill()
        self.p.wait()
        return False


class Targets:
    """A sleep, a process with the longest name, and a gated SlowTarget,
    in that order."""

    def __enter__(self):
        self.sleep = subprocess.Popen(["sleep", "120"])
        self.named = subprocess.Popen([sys.executable, "-c", RENAMED,
                                       LONG_NAME], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        if self.named.stdout.readline().strip() != "named":
            fail("the renamed target did not start")
        self.slow = (SlowTarget(gated=True) if POPULATE else
                     VforkTarget()).__enter__()
        self.slow_comm = "python3" if POPULATE else "cli-vfork-paren"
        return self

    def pids(self):
        return [self.sleep.pid, self.named.pid, self.slow.pid]

    def advise(self, extra=()):
        """pmadvise over the three: each anonymous range populated by
        injection (the slow one's waits on the gate; -c: past the ranges
        the kernel refuses in python3)."""
        return [pmadvise_path(), "-m", "ptrace",
                "-a", "populate_read" if POPULATE else "cold",
                "-t", "60000", "--anon", "-c"] + list(extra) + \
            [str(p) for p in self.pids()]

    def __exit__(self, *exc):
        self.slow.__exit__()
        for p in (self.sleep, self.named):
            p.kill()
            p.wait()
        return False


def read_lines(fd, want, deadline, text=""):
    """What the pipe fd holds until it has want lines or deadline passes
    (None: until end of file)."""
    while want is None or text.count("\n") < want:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        text += data.decode("utf-8", "backslashreplace")
    return text


def spans(header):
    """(start, end) of each name in a header line."""
    out, i = [], 0
    for word in header.split():
        i = header.index(word, i)
        out.append((i, i + len(word)))
        i += len(word)
    return out


def check_aligned(header, rows, cols, values, right, what):
    """Each row's cell of each column stands where the header's name is:
    from its start (left-aligned) or to its end (right-aligned, numbers),
    separated from its neighbours by a space."""
    sp = spans(header)
    bad = []
    for row, vals in zip(rows, values):
        for (start, end), col in zip(sp, cols):
            v = vals.get(col, "")
            if not v:
                continue
            a, b = (end - len(v), end) if col in right else \
                (start, start + len(v))
            if row[a:b] != v or (a and row[a - 1] != " ") or \
                    (b < len(row) and row[b] != " "):
                bad.append((col, v, row))
    check(not bad, "%s: every cell under its header (%d rows): %r" %
          (what, len(rows), bad[:3]))


def test_rows_stream():
    """The rows of the first two are on stdout before the third is done;
    then the third's and the rest of the view."""
    with Targets() as t:
        cmd = t.advise()
        print("$ " + " ".join(cmd), flush=True)
        err = tempfile.TemporaryFile(mode="w+")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        fd = p.stdout.fileno()
        try:
            t.slow.wait_fault()
        except SystemExit:
            # what pmadvise had said by then
            p.kill()
            p.wait()
            err.seek(0)
            print("pmadvise (killed): stdout %r, stderr %r" %
                  (read_lines(fd, None, time.monotonic() + 5), err.read()),
                  flush=True)
            raise
        head = read_lines(fd, 3, time.monotonic() + 20)
        print(head, end="", flush=True)
        lines = head.splitlines()
        check(p.poll() is None and len(lines) == 3 and
              lines[0].split()[:2] == ["PID", "COMM"] and
              [ln.split()[:2] for ln in lines[1:]] ==
              [[str(t.sleep.pid), "sleep"], [str(t.named.pid), LONG_NAME]],
              "the header and the rows of the two processes done are on "
              "stdout while pmadvise waits on the third")
        r, _, _ = select.select([fd], [], [], 0.5)
        check(not r, "nothing more while the third is not done")
        t.slow.release()
        p.wait(timeout=60)
        text = read_lines(fd, None, time.monotonic() + 30, head)
        err.seek(0)
        print(text[len(head):] + err.read(), flush=True)
        lines = text.splitlines()
        # python3's ranges that the kernel refuses (its thread's arena
        # and stack guard, on this glibc) make it partial, exit 1
        third = lines[3].split()[:3]
        check(third[:2] == [str(t.slow.pid), t.slow_comm] and
              (third[2], p.returncode) in (("ok", 0), ("partial", 1)) and
              lines.count(lines[0]) == 1 and
              ("3 processes: 2 advised, 1 partly" if third[2] == "partial"
               else "3 processes: 3 advised, ") in text,
              "then the third's row, the header once, the total "
              "(exit %d)" % p.returncode)
        rows = [dict(pid=str(pid), comm=comm, method="ptrace")
                for pid, comm in zip(t.pids(), ["sleep", LONG_NAME,
                                                 t.slow_comm])]
        check_aligned(lines[0], lines[1:4],
                      ["pid", "comm", "status", "error", "method"], rows,
                      {"pid"}, "rows printed apart")
        t.slow.left_as_found("streamed run")


def test_alignment():
    """Cells of different widths in rows printed apart, -n alike, and a
    message wider than its column."""
    with Targets() as t:
        t.slow.release()
        gone = subprocess.Popen(["true"])
        gone.wait()
        pids = [t.sleep.pid, gone.pid, t.named.pid, t.slow.pid]
        cols = ["comm", "pid", "status", "error", "ranges_total",
                "exit_class"]
        o = ["--anon", "--dry-run", "-o", ",".join(cols)] + pids
        doc = json.loads(run(o + ["-J"]).stdout)
        vals = [{k: "" if v is None else str(v) for k, v in proc.items()}
                for proc in doc["processes"]]
        out = run(o).stdout.splitlines()
        check(len(out) == 5, "a header and four rows")
        right = {"pid", "ranges_total", "exit_class"}
        check_aligned(out[0], out[1:], cols, vals, right,
                      "-o " + ",".join(cols))
        check(run(o + ["-n"]).stdout.splitlines() == out[1:],
              "-n: the same rows, without the header")
        # A message wider than its column: the cell whole, the row's
        # next cell on the next line, under its column.
        p = run(["-R", "0x1000+4K", "-o", "pid,message,status",
                 t.sleep.pid, t.named.pid])
        out = p.stdout.splitlines()
        status = spans(out[0])[2][0]
        check(len(out) == 5 and
              out[1].split()[:2] == [str(t.sleep.pid), "PID"] and
              out[2][:status].strip() == "" and
              out[2][status:] == "failed" and
              out[4][status:] == "failed",
              "a long message: its row goes on under STATUS on the next "
              "line")


def sigint_twice(t, extra, what):
    """pmadvise over t with extra options, stopped by two SIGINTs 0.1 s
    apart while the slow target holds it: (stdout, stderr)."""
    # Files, not pipes: the ptrace rung's tracer holds pmadvise's
    # descriptors until it lets the slow target go.
    cmd = t.advise(extra)
    print("$ " + " ".join(cmd), flush=True)
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
    t.slow.wait_fault()
    p.send_signal(signal.SIGINT)
    time.sleep(0.1)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    took = time.monotonic() - t0
    out.seek(0)
    err.seek(0)
    o, e = out.read(), err.read()
    print("%s -> %d after %.2f s\n%s%s" % (what, p.returncode, took, o, e),
          flush=True)
    check(p.returncode == 130 and took < 0.5,
          "%s: a second SIGINT ends it at once, exit 130" % what)
    t.slow.release()
    t.slow.left_as_found(what)
    return o, e


def test_second_sigint():
    with Targets() as t:
        o, e = sigint_twice(t, [], "table, SIGINT twice")
        lines = o.splitlines()
        check(len(lines) == 3 and lines[0].split()[0] == "PID" and
              [ln.split()[0] for ln in lines[1:]] ==
              [str(t.sleep.pid), str(t.named.pid)],
              "the header and the rows of the two processes done stay on "
              "stdout, nothing else")
        check("SIGINT, then another stop signal; ending now: the rows "
              "printed are the processes finished" in e,
              "stderr says what the rows are")


def test_json():
    with Targets() as t:
        cmd = t.advise(["-J"])
        print("$ " + " ".join(cmd), flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        fd = p.stdout.fileno()
        t.slow.wait_fault()
        r, _, _ = select.select([fd], [], [], 0.5)
        check(not r and p.poll() is None,
              "-J: nothing on stdout before the last process is done")
        t.slow.release()
        p.wait(timeout=60)
        text = read_lines(fd, None, time.monotonic() + 30)
        try:
            doc = json.loads(text)
        except ValueError as e:
            fail("-J: not one JSON document: %s" % e)
        check(text.startswith('{\n   "schema": 2,\n') and
              list(doc) == ["schema", "pmadvise", "advice", "dry_run",
                            "hold", "processes", "ranges", "changed",
                            "summary"] and
              [x["pid"] for x in doc["processes"]] == t.pids(),
              "-J: one document at the end, as before")
        t.slow.left_as_found("-J")
    with Targets() as t:
        o, e = sigint_twice(t, ["-J"], "-J, SIGINT twice")
        check(o == "" and "without the report (--json writes it at the "
              "end)" in e, "-J: no document, and stderr says so")


def main():
    on_sigterm_exit()
    need_root()
    if not POPULATE:
        print("MADV_POPULATE_READ: unavailable on this kernel; the slow "
              "target is a vfork parent, the advice COLD", flush=True)
    test_rows_stream()
    test_alignment()
    test_second_sigint()
    test_json()
    print("PASS")


main()
