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
import select
import signal
import subprocess
import sys
import tempfile
import time

from clitest import (check, fail, kernel_knows_advice, need_root,
                     on_sigterm_exit, pmadvise_path, status_field)

MADV_POPULATE_READ = 22

PAGES, DELAY = 3, 1.5

# A private anonymous range registered with userfaultfd (missing pages);
# a thread answers each fault after DELAY s with a page of 0xab. Prints the
# range's address, "fault" at the first fault, then answers each line on
# stdin with "ok" when the whole range reads back as 0xab.
UFFD_TARGET = r"""
import ctypes, mmap, os, struct, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
UFFDIO_API, UFFDIO_REGISTER, UFFDIO_COPY = 0xc018aa3f, 0xc020aa00, 0xc028aa03
npages, delay = int(sys.argv[1]), float(sys.argv[2])
page = mmap.PAGESIZE
uffd = libc.syscall(323, os.O_CLOEXEC)  # userfaultfd, x86_64
api = (ctypes.c_uint64 * 3)(0xAA, 0, 0)
if uffd < 0 or libc.ioctl(uffd, UFFDIO_API, api):
    print("no userfaultfd: errno %d" % ctypes.get_errno(), flush=True)
    sys.exit(1)
base = libc.mmap(None, npages * page, 3, 0x22, -1, 0)
reg = (ctypes.c_uint64 * 4)(base, npages * page, 1, 0)  # MODE_MISSING
if libc.ioctl(uffd, UFFDIO_REGISTER, reg):
    print("UFFDIO_REGISTER: errno %d" % ctypes.get_errno(), flush=True)
    sys.exit(1)
src = ctypes.create_string_buffer(b"\xab" * page, page)
def answer():
    first = True
    while True:
        msg = os.read(uffd, 32)
        if msg[0] != 0x12:  # UFFD_EVENT_PAGEFAULT
            continue
        if first:  # the call is stuck now
            print("fault", flush=True)
            first = False
        addr = struct.unpack_from("Q", msg, 16)[0] & ~(page - 1)
        time.sleep(delay)
        copy = (ctypes.c_uint64 * 5)(addr, ctypes.addressof(src), page, 0, 0)
        libc.ioctl(uffd, UFFDIO_COPY, copy)
threading.Thread(target=answer, daemon=True).start()
print("%x" % base, flush=True)
buf = ctypes.create_string_buffer(npages * page)
for line in sys.stdin:
    # memmove lets go of the GIL (string_at does not): where this read
    # faults the range in itself, the thread above must answer it
    ctypes.memmove(buf, base, npages * page)
    data = buf.raw
    print("ok" if data == b"\xab" * len(data) else "bad", flush=True)
"""


class SlowTarget:
    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", UFFD_TARGET,
                                   str(PAGES), str(DELAY)],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        try:
            self.base = int(line, 16)
        except ValueError:
            self.__exit__()
            fail("the userfaultfd target did not start: %r" % line)
        self.pid = self.p.pid
        return self

    def args(self):
        """A request that injects POPULATE_READ into the slow range and
        would wait for it up to a minute."""
        return ["-m", "ptrace", "-a", "populate_read", "-t", "60000",
                "-R", "%x+%d" % (self.base, PAGES * os.sysconf("SC_PAGE_SIZE")),
                str(self.pid)]

    def wait_fault(self):
        """Until the injected call waits on the first fault: a fixed sleep
        would be too short where the machine is slow (a VM under TCG)."""
        r, _, _ = select.select([self.p.stdout], [], [], 60)
        line = self.p.stdout.readline().strip() if r else ""
        if line != "fault":
            fail("the request never reached the slow range (%r)" % line)

    def left_as_found(self, what):
        # The ptrace rung's tracer sees the stuck call through (the last
        # fault is answered after PAGES * DELAY s), then lets go.
        end = time.monotonic() + PAGES * DELAY + 10
        while time.monotonic() < end:
            if status_field(self.pid, "TracerPid") == "0":
                break
            time.sleep(0.1)
        check(status_field(self.pid, "TracerPid") == "0",
              "%s: the target is no longer traced" % what)
        self.p.stdin.write("check\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if line == "fault":  # not waited for (--hold)
            line = self.p.stdout.readline().strip()
        check(line == "ok",
              "%s: the target runs, and its memory is intact" % what)
        check(status_field(self.pid, "State") in ("S", "R"),
              "%s: the target is not left stopped (%s)" %
              (what, status_field(self.pid, "State")))

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()
        return False


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
        check(name in err, "%s: stderr names the signal" % name)
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
