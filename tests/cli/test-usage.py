#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: pmadvise's command line, exit statuses and error messages:
usage errors (2), destructive advice refused without --force, ranges that
fail (1, with reasons, and --continue), a vanished target (4), advice no
rung can give (5), no permission (3, in words, never a bare
"Operation not permitted"), and --json for failures."""

import os
import subprocess
import sys
import time

from clitest import (NO_CAPS, NOBODY, check, fail, on_sigterm_exit, ranges_of,
                     run, run_json, status_field)

PAGE = os.sysconf("SC_PAGE_SIZE")
PRIVILEGED = os.geteuid() == 0


def sleeper(**kw):
    return subprocess.Popen(["sleep", "120"], **kw)


def stack_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if line.rstrip().endswith("[stack]"):
                return int(line.split("-")[0], 16)
    fail("no [stack] in PID %d" % pid)


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_usage(pid):
    p = run(["--help"], check_rc=0)
    check("Usage:" in p.stdout and "--cgroup" in p.stdout, "--help")
    p = run(["--version"], check_rc=0)
    check(p.stdout.startswith("pmadvise "), "--version")
    run([], check_rc=2)
    run(["--anon"], check_rc=2)
    p = run([pid], check_rc=2)
    check("say what to advise" in p.stderr, "nothing to advise is a usage "
          "error")
    p = run(["-R", "1000-zz", pid], check_rc=2)
    check("bad range" in p.stderr, "bad range named")
    p = run(["-R", "1001+4K", pid], check_rc=2)
    check("page boundary" in p.stderr, "unaligned range explained")
    p = run(["-a", "sleepy", "-R", "1000+4K", pid], check_rc=2)
    check("unknown advice" in p.stderr and "pageout" in p.stderr,
          "unknown advice lists the known ones")
    p = run(["-m", "magic", "-R", "1000+4K", pid], check_rc=2)
    check("--method" in p.stderr, "bad --method explained")
    run(["-t", "soon", "-R", "1000+4K", pid], check_rc=2)
    # a well-formed number too large for the timeout says the bound
    for big in ("2147483648", "99999999999999999999"):
        p = run(["-t", big, "-R", "1000+4K", pid], check_rc=2)
        check("--timeout '%s': at most 2147483647 milliseconds" % big in
              p.stderr, "--timeout %s: the bound named (%r)" %
              (big, p.stderr.splitlines()[:1]))
    # Signs, white space and leading zeros: usage errors, never another
    # number (" -1" was 2^64-1, "010" octal).
    for bad in ("1000- -1", "1000-+2000", "1000+010", " 1000+4K",
                "1000+ 4K"):
        p = run(["-R", bad, pid], check_rc=2)
        check("bad range '%s'" % bad in p.stderr and "no signs" in p.stderr,
              "range %r is a usage error that says why" % bad)
    for bad in (" -1", "+1", "010"):
        p = run(["--anon", "--min-size", bad, pid], check_rc=2)
        check("--min-size '%s'" % bad in p.stderr,
              "--min-size %r is a usage error" % bad)
    run(["-t", "010", "-R", "1000+4K", pid], check_rc=2)
    run(["-R", "1000+4K", "+%s" % pid], check_rc=2)
    run(["--min-size", "1M", "-R", "1000+4K", pid], check_rc=2)
    run(["--anon", "notapid"], check_rc=2)
    p = run(["-a", "dontneed", "-R", "1000+4K", pid], check_rc=2)
    check("without --force" in p.stderr and "lose data" in p.stderr,
          "destructive advice refused without --force, saying why")
    # The library's override of --method: a bad one is the user's typo.
    for bad in ("garbage", "syscall,", "syscall,,ptrace"):
        env = dict(os.environ, PMADV_METHODS=bad)
        p = run(["--anon", pid], check_rc=2, env=env)
        check("PMADV_METHODS='%s'" % bad in p.stderr and
              "no method" not in p.stderr,
              "PMADV_METHODS=%r is a usage error naming the variable" % bad)
    env = dict(os.environ, PMADV_METHODS="syscall,ptrace")
    run(["--anon", "--dry-run", pid], check_rc=0, env=env)
    # It only narrows: narrowed to nothing is a usage error, not a
    # refusal with an empty cause.
    env = dict(os.environ, PMADV_METHODS="ptrace")
    p = run(["-m", "syscall", "--anon", pid], check_rc=2, env=env)
    check("PMADV_METHODS='ptrace'" in p.stderr and
          "no method in common" in p.stderr,
          "PMADV_METHODS disjoint from --method is a usage error naming "
          "both: %r" % p.stderr)
    p, doc = run_json(["-a", "MADV_PAGEOUT", "--dry-run", "-R", "1000+4K",
                       pid], check_rc=0)
    check(doc["advice"] == "pageout", "advice by MADV_ name")


def test_ranges(pid):
    st = stack_of(pid)
    good = "%x+%d" % (st, PAGE)
    p = run(["-a", "cold", "-R", "1000+4K", "-R", good, pid], check_rc=1)
    check("ENOMEM" in p.stdout and "not mapped" in p.stdout,
          "an unmapped range fails with a reason")
    check("not_attempted" in p.stdout, "without --continue the rest is "
          "not attempted")
    p, doc = run_json(["-a", "cold", "-c", "-R", "1000+4K", "-R", good, pid],
                      check_rc=1)
    r = ranges_of(doc, doc["processes"][0])
    check(r[0]["status"] == "failed" and r[0]["error"] == "ENOMEM",
          "JSON: the failed range and its errno")
    check(r[1]["status"] == "advised", "JSON: --continue went on")
    check(doc["processes"][0]["status"] == "partial" and
          doc["summary"]["exit_status"] == 1, "JSON: partial, status 1")
    # A range over a hole advises nothing: "failed", never "partial",
    # with --continue as without.
    for flags in (["-c"], []):
        p, doc = run_json(["-a", "cold"] + flags + ["-R", "1000+4K", pid],
                          check_rc=1)
        proc = doc["processes"][0]
        check(proc["status"] == "failed" and proc["bytes_advised"] == 0 and
              doc["summary"]["failed"] == 1 and
              doc["summary"]["partial"] == 0,
              "a hole %s: status failed, nothing advised" %
              ("with -c" if flags else "without -c"))
    p = run(["-a", "cold", "-R", good, "-r", "-n", "-o",
             "ranges_advised,ranges_total,method", pid], check_rc=0)
    check(p.stdout == "1 1 syscall\n",
          "a mapped range is advised, and the rung named")


def test_gone(pid):
    gone = dead_pid()
    p = run(["--anon", gone], check_rc=4)
    check("has exited" in p.stderr, "a vanished target is named")
    p, doc = run_json(["--anon", gone], check_rc=4)
    check(doc["processes"][0]["error"] == "ESRCH", "JSON: ESRCH")
    # One gone, one fine: every failure is "gone", so the status is 4.
    run(["--anon", pid, gone], check_rc=4)


def test_unsupported(pid):
    st = stack_of(pid)
    # Only the syscall rung: other rungs (ptrace) may well give dontneed.
    p = run(["-a", "dontneed", "--force", "-m", "syscall",
             "-R", "%x+4K" % st, pid], check_rc=5)
    check("from another process" in p.stderr,
          "advice the kernel refuses remotely is explained")


def test_permission():
    """Targets the tool may not touch, with messages a person can act on.
    As root, pmadvise runs with root's uid but no capabilities."""
    if PRIVILEGED:
        pre = NO_CAPS
        other = subprocess.Popen(NOBODY + ["sleep", "120"])
        # Until setpriv has become nobody's sleep: a loaded machine (a VM
        # under TCG) can find it still setpriv, root's and dumpable.
        end = time.monotonic() + 30
        while status_field(other.pid, "Name") != "sleep" and \
                time.monotonic() < end:
            time.sleep(0.01)
    else:
        pre, other = [], None
    own = sleeper()
    try:
        # Our own process: only process_madvise lacks a permission here (a
        # ptrace rung may serve it), so ask for that rung alone.
        p = run_as(pre, ["--anon", "-m", "syscall", own.pid])
        check(p.returncode == 3, "own process without CAP_SYS_NICE: 3")
        check("CAP_SYS_NICE" in p.stderr and "Run pmadvise" in p.stderr,
              "EPERM explained, with what to do")
        no_bare_eperm(p)
        if other:
            p = run_as(pre, ["--anon", other.pid])
            check(p.returncode == 3, "another user's process: status 3")
            check("may not inspect" in p.stderr and
                  "belongs to uid 65534" in p.stderr,
                  "EACCES explained: other owner")
            check("Run pmadvise as the owner" in p.stderr,
                  "the message says what to do")
            no_bare_eperm(p)
    finally:
        for t in (own, other):
            if t:
                t.kill()
                t.wait()


def run_as(pre, args):
    cmd = pre + [sys.argv[1]] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    print("$ %s -> %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                p.stderr))
    return p


def no_bare_eperm(p):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(lines and not any(l.strip().endswith("Operation not permitted")
                            for l in lines),
          "never a bare 'Operation not permitted'")


def main():
    on_sigterm_exit()
    s = sleeper()
    try:
        test_usage(s.pid)
        if PRIVILEGED:
            test_ranges(s.pid)
            test_unsupported(s.pid)
        test_gone(s.pid)
        test_permission()
    finally:
        s.kill()
        s.wait()
    print("PASS")


main()
