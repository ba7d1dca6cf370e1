#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: pmadvise's output options, as util-linux's tools have them
(libsmartcols): --list-columns, -o/--output, --output-all, -J/--json,
-r/--raw, -n/--noheadings; an unknown column is a usage error naming it;
the man page lists every column; the old short options (-r for --range,
-n for --dry-run) are refused with an explanation rather than misread;
a report that cannot be written (a full filesystem, a pipe whose reader
is gone with SIGPIPE ignored, a closed stdout) is an error, exit 7."""

import json
import os
import re
import signal
import subprocess

from clitest import (check, mem_kb, on_sigterm_exit, pmadvise_path,
                     ranges_of, run, run_json)

MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "..", "..", "man", "man8", "pmadvise.8")


def columns():
    p = run(["--list-columns", "-r", "-n"], check_rc=0)
    names = [line.split()[0] for line in p.stdout.splitlines()]
    check(len(names) > 20 and all(n == n.upper() for n in names),
          "--list-columns: upper-case names in a table (%d)" % len(names))
    _, doc = run_json(["--list-columns"], check_rc=0)
    keys = [c["name"] for c in doc["columns"]]
    check(keys == [n.lower() for n in names],
          "--list-columns --json: the same names, lower case")
    return keys


def test_man_page(keys):
    """Every column is described in pmadvise(8), as a JSON member."""
    with open(MAN) as f:
        # groff escapes: \- is '-', \(dq a quote; the words stay whole
        page = f.read().replace("\\-", "-")
    missing = [k for k in keys
               if not re.search(r"(^|[ \"(])%s([ ,.)\"]|$)" % re.escape(k),
                                page, re.M)]
    check(not missing, "pmadvise(8) lists every column (missing: %s)" %
          missing)


def test_output(pid, keys):
    p = run(["--anon", "--dry-run", "-o", "PID,comm", pid], check_rc=0)
    lines = p.stdout.splitlines()
    check(lines[0].split() == ["PID", "COMM"] and
          lines[1].split() == [str(pid), "sleep"],
          "-o PID,comm: those two columns, either case: %r" % lines[:2])
    p = run(["--anon", "--dry-run", "-o", "+exit_class", pid], check_rc=0)
    head = p.stdout.splitlines()[0].split()
    check(head[0] == "PID" and head[-1] == "EXIT_CLASS",
          "-o +LIST adds to the default columns: %r" % head)
    p = run(["--anon", "--dry-run", "--output-all", pid], check_rc=0)
    check(p.stdout.splitlines()[0].split() == [k.upper() for k in keys],
          "--output-all: every column, in order")


def test_json(pid, keys):
    _, doc = run_json(["--anon", "--dry-run", pid], check_rc=0)
    proc = doc["processes"][0]
    check(doc["schema"] == 2 and list(proc) == keys,
          "-J: schema 2, every column as a lower-case member, in order")
    check(ranges_of(doc, proc) and doc["changed"] == [] and
          doc["summary"]["processes"] == 1,
          "-J: ranges, changed and summary")
    p = run(["--anon", "--dry-run", "-J", "-o", "pid,bytes_total", pid],
            check_rc=0)
    proc = json.loads(p.stdout)["processes"][0]
    check(list(proc) == ["pid", "bytes_total"] and
          proc["bytes_total"] == sum(r["bytes"] for r in
                                     ranges_of(doc, doc["processes"][0])),
          "-J -o: only those members, exact bytes: %r" % proc)
    p2 = run(["--anon", "--dry-run", "-j", "-o", "pid,bytes_total", pid],
             check_rc=0)
    check(json.loads(p2.stdout) == json.loads(p.stdout),
          "-j, the short option of 0.1, is -J")


def test_raw_noheadings(pid):
    _, doc = run_json(["--anon", "--dry-run", pid], check_rc=0)
    total = doc["processes"][0]["bytes_total"]
    p = run(["--anon", "--dry-run", "-r", "-o", "pid,comm,bytes_total",
             pid], check_rc=0)
    check(p.stdout == "PID COMM BYTES_TOTAL\n%d sleep %d\n" % (pid, total),
          "-r: one space between cells, exact bytes: %r" % p.stdout)
    p = run(["--anon", "--dry-run", "-n", "-o", "pid,comm", pid],
            check_rc=0)
    check([ln.split() for ln in p.stdout.splitlines()] ==
          [[str(pid), "sleep"]],
          "-n: no header line, nothing else: %r" % p.stdout)
    p = run(["--anon", "--dry-run", "-rn", "-o", "bytes_total", pid],
            check_rc=0)
    check(p.stdout == "%d\n" % total, "-rn: the value alone")
    p = run(["--anon", "--dry-run", "--noheadings", pid], check_rc=0)
    check(p.stdout.split()[:2] == [str(pid), "sleep"],
          "--noheadings alone: the table without its header")


def test_old_dry_run(pid):
    """-n was --dry-run before 0.2: alone, it is refused, never taken for
    --noheadings, so that an old command line does not advise for real."""
    before = mem_kb(pid)
    p = run(["-n", "--anon", "-a", "pageout", pid], check_rc=2)
    check("--dry-run" in p.stderr and "--noheadings" in p.stderr and
          p.stdout == "", "-n alone: exit 2, names both meanings: %r" %
          p.stderr)
    check(mem_kb(pid) == before, "-n alone: nothing advised (Rss, Swap "
          "%s kB)" % (before,))


def test_usage_errors(pid):
    p = run(["--anon", "-o", "pid,bogus_col", pid], check_rc=2)
    check("'bogus_col'" in p.stderr and "--list-columns" in p.stderr,
          "an unknown column: exit 2, named: %r" % p.stderr)
    p = run(["--anon", "--output", "", pid], check_rc=2)
    check("no column" in p.stderr, "an empty -o: exit 2")
    for plus in (["-o", "+"], ["--output=+"], ["-J", "-o", "+"]):
        p = run(["--anon", "--dry-run"] + plus + [pid], check_rc=2)
        check("--output '+' lists no column" in p.stderr and
              "--help" in p.stderr and p.stdout == "",
              "%s, an empty +LIST: exit 2, as an empty -o: %r" %
              (" ".join(plus), p.stderr))
    p = run(["--list-columns", "-o", "nope"], check_rc=2)
    check("'nope'" in p.stderr, "--list-columns -o checks the names too")
    p = run(["-r", "1000+4K", pid], check_rc=2)
    check("--range" in p.stderr and "--raw" in p.stderr,
          "-r RANGE (0.1's --range): exit 2, says -r is --raw now: %r" %
          p.stderr)


def test_write_errors(pid):
    """Standard output that takes nothing: the report is lost, so the exit
    status and a message say so (before: exit 0, nothing said)."""
    cmd = [pmadvise_path(), "--anon", str(pid)]
    cases = [
        ("/dev/full (ENOSPC)", [], {"stdout": open("/dev/full", "w")}),
        ("/dev/full, -J", ["-J"], {"stdout": open("/dev/full", "w")}),
        ("/dev/full, --list-columns", None,
         {"stdout": open("/dev/full", "w")}),
        ("closed stdout", [], {"stdout": subprocess.DEVNULL,
                               "preexec_fn": lambda: os.close(1)}),
        ("a pipe with no reader, SIGPIPE ignored", [],
         {"stdout": "pipe", "preexec_fn":
          lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN)}),
    ]
    for what, extra, kw in cases:
        args = [pmadvise_path(), "--list-columns"] if extra is None \
            else cmd + extra
        if kw.get("stdout") == "pipe":
            r, w = os.pipe()
            os.close(r)
            kw["stdout"] = w
        p = subprocess.run(args, stderr=subprocess.PIPE, timeout=30, **kw)
        if isinstance(kw["stdout"], int) and kw["stdout"] > 2:
            os.close(kw["stdout"])
        elif hasattr(kw["stdout"], "close"):
            kw["stdout"].close()
        err = p.stderr.decode("utf-8", "backslashreplace")
        print("$ %s > %s  -> %d\n%s" % (" ".join(args), what,
                                        p.returncode, err), end="")
        check(p.returncode == 7 and "write error on standard output" in err,
              "stdout %s: exit 7 and a message (%d, %r)" %
              (what, p.returncode, err))
    p = run(["--anon", pid], check_rc=0)
    check("write error" not in p.stderr, "a report written: no message")


def main():
    on_sigterm_exit()
    t = subprocess.Popen(["sleep", "120"])
    try:
        keys = columns()
        test_man_page(keys)
        test_output(t.pid, keys)
        test_json(t.pid, keys)
        test_raw_noheadings(t.pid)
        test_usage_errors(t.pid)
        test_old_dry_run(t.pid)
        test_write_errors(t.pid)
    finally:
        t.kill()
        t.wait()
    print("PASS")


main()
