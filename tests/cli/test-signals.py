#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: SIGTERM and SIGINT end pmadvise promptly with 128+signal,
even while a call does not return (here an injected MADV_POPULATE_READ
waits on the target's userfaultfd, which answers each page after 1.5 s:
4.5 s in all), and the target is left as found: untraced, running, its
memory intact, and running again if --hold stopped it. `timeout 2
pmadvise ...` ends it; a second signal ends it at once. On a kernel
without MADV_POPULATE_READ (before 5.14: asked of madvise(2)) no advice
can wait on the target's faults: there the request is refused at once
with EINVAL and the target is left as found."""

import os
import signal
import subprocess
import tempfile
import time

from clitest import (PAGES, DELAY, SlowTarget, check, kernel_knows_advice,
                     need_root, on_sigterm_exit, pmadvise_path)

MADV_POPULATE_READ = 22


def start(cmd):
    """Output goes to files: the ptrace rung's tracer, a process of its own,
    holds pmadvise's descriptors until it has let the target go, so a pipe
    would only see its end then."""
    print("$ " + " ".join(cmd), flush=True)
    out = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(cmd, stdout=out, stderr=out, text=True)
    p.out = out
    return p


def finish(p, what, t0):
    p.wait(timeout=30)
    took = time.monotonic() - t0
    p.out.seek(0)
    text = p.out.read()
    print("%s -> %d after %.2f s\n%s" % (what, p.returncode, took, text),
          flush=True)
    return p.returncode, text, took


def test_signal(sig):
    name = signal.Signals(sig).name
    with SlowTarget() as t:
        p = start([pmadvise_path()] + t.args())
        t.wait_fault()
        os.kill(p.pid, sig)
        rc, err, took = finish(p, name, time.monotonic())
        check(rc == 128 + sig, "%s: exit %d (got %d)" % (name, 128 + sig, rc))
        check(took < 2.5, "%s: ended %.2f s after the signal, not after the "
              "stuck call (%.1f s)" % (name, took, PAGES * DELAY))
        check(name + ": a call into the kernel or the target did not "
              "return within 1 s; ending now: the rows printed are the "
              "processes finished" in err,
              "%s: stderr names the signal, and says what stdout holds" %
              name)
        t.left_as_found(name)


def test_hold_sigstop():
    # --hold with --method ptrace alone holds with SIGSTOP: pmadvise must
    # continue the target itself when a signal ends it first.
    with SlowTarget() as t:
        p = start([pmadvise_path(), "--hold"] + t.args())
        # The thread that answers faults is stopped too: the injected
        # call cannot end before the target runs again, and the target
        # cannot say when it is stuck.
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        rc, _, took = finish(p, "SIGTERM during --hold", time.monotonic())
        check(rc == 143 and took < 2.5,
              "SIGTERM during --hold: exit 143 after %.2f s" % took)
        t.left_as_found("SIGTERM during --hold")


def test_twice():
    with SlowTarget() as t:
        p = start([pmadvise_path()] + t.args())
        t.wait_fault()
        p.send_signal(signal.SIGINT)
        time.sleep(0.1)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rc, _, took = finish(p, "SIGINT twice", t0)
        check(rc == 130 and took < 0.5,
              "a second SIGINT ends it at once (%d after %.2f s)" % (rc, took))
        t.left_as_found("SIGINT twice")


def test_timeout_command():
    with SlowTarget() as t:
        t0 = time.monotonic()
        p = start(["timeout", "2", pmadvise_path()] + t.args())
        rc, _, took = finish(p, "timeout 2", t0)
        check(rc == 124 and took < 4,
              "timeout 2 pmadvise ends it (exit %d after %.2f s)" % (rc, took))
        t.left_as_found("timeout 2")


def test_refused():
    with SlowTarget() as t:
        p = start([pmadvise_path()] + t.args())
        rc, err, took = finish(p, "POPULATE_READ", time.monotonic())
        check(rc != 0 and "EINVAL" in err and took < 10,
              "POPULATE_READ refused at once with EINVAL (exit %d after "
              "%.2f s)" % (rc, took))
        t.left_as_found("refused POPULATE_READ")


def main():
    on_sigterm_exit()
    need_root()
    if not kernel_knows_advice(MADV_POPULATE_READ):
        print("MADV_POPULATE_READ: unavailable on this kernel", flush=True)
        test_refused()
        print("PASS")
        return
    test_signal(signal.SIGTERM)
    test_signal(signal.SIGINT)
    test_hold_sigstop()
    test_twice()
    test_timeout_command()
    print("PASS")


main()
