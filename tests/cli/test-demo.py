#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: `pmadvise demo` and `pmadvise demo --zram` show a real drop,
leave nothing behind (child, zram device, swap) on success, on SIGINT and
on SIGKILL, and explain a missing permission in words."""

import os
import random
import re
import signal
import subprocess
import time

from clitest import (NO_CAPS, SwapLock, check, fail, need_root,
                     on_sigterm_exit, pmadvise_path, run)


def swaps():
    with open("/proc/swaps") as f:
        return set(line.split()[0] for line in f.readlines()[1:])


def zram_devices():
    return set(d for d in os.listdir("/sys/block") if d.startswith("zram"))


def leftovers(tag, wait=10):
    """Processes whose command line carries our unique --size tag, after
    giving them `wait` seconds to go (the zram guardian is one of them
    until it has removed the device)."""
    deadline = time.time() + wait
    found = _tagged(tag)
    while found and time.time() < deadline:
        time.sleep(0.05)
        found = _tagged(tag)
    return found


def _tagged(tag):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if tag.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def table(out):
    """Before/after figures of the demo's table."""
    def row(name):
        m = re.search(r"^  %s\s+(\d+) kB\s+(\d+) kB" % name, out, re.M)
        if not m:
            fail("no %s row in the demo output" % name)
        return int(m.group(1)), int(m.group(2))
    m = re.search(r"file resident\s+(\d+) pages\s+(\d+) pages", out)
    if not m:
        fail("no file row in the demo output")
    return row("Rss"), row("Swap"), (int(m.group(1)), int(m.group(2)))


def test_plain():
    tag = "%dM" % random.randint(100, 160)
    before = (swaps(), zram_devices())
    p = run(["demo", "--size", tag], check_rc=0, timeout=120)
    rss, swap, filep = table(p.stdout)
    check("rung          syscall" in p.stdout, "demo names the rung")
    check(re.search(r"time\s+[\d.]+ ms", p.stdout), "demo shows the time")
    check(filep[1] < filep[0] // 10, "file pages left the page cache "
          "(%d -> %d)" % filep)
    if "swap          none" in p.stdout:
        check("No swap is configured" in p.stdout,
              "without swap the demo says so plainly")
    else:
        check(swap[1] - swap[0] > 80 * 1024, "with swap, anon memory moved "
              "(Swap %d -> %d kB)" % swap)
    check("every byte intact" in p.stdout, "the child's memory survived")
    check(not leftovers("--size\0" + tag), "no child left behind")
    check((swaps(), zram_devices()) == before, "no swap or zram change")


def test_zram():
    tag = "%dM" % random.randint(200, 260)
    before = (swaps(), zram_devices())
    p = run(["demo", "--zram", "--size", tag], check_rc=0, timeout=120)
    rss, swap, filep = table(p.stdout)
    check("temporary zram device" in p.stdout, "demo --zram says so")
    check(swap[1] - swap[0] > 180 * 1024,
          "anonymous memory went to zram swap (Swap %d -> %d kB)" % swap)
    check(rss[0] - rss[1] > 180 * 1024,
          "Rss fell (%d -> %d kB)" % rss)
    check(filep[1] < filep[0] // 10, "file pages left the page cache")
    check("every byte intact" in p.stdout, "the child's memory survived")
    check(not leftovers("--size\0" + tag), "no child left behind")
    m = re.search(r"swap\s+(/dev/zram(\d+)), a temporary", p.stdout)
    check(m and m.group(1) not in before[0] and
          "zram" + m.group(2) not in before[1], "the demo made its own "
          "device (%s), not zram0" % (m and m.group(1)))
    check(m.group(1) not in swaps() and
          "zram" + m.group(2) not in zram_devices(),
          "zram device and swap removed afterwards")


def test_sigint():
    tag = "%dM" % random.randint(300, 360)
    before = (swaps(), zram_devices())
    p = subprocess.Popen([pmadvise_path(), "demo", "--zram", "--size", tag],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while swaps() == before[0] and time.time() < deadline and \
            p.poll() is None:
        time.sleep(0.005)
    ours = swaps() - before[0]
    check(ours, "the demo's swap device appeared: %s" % sorted(ours))
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    print("demo --zram after SIGINT exited %d" % p.returncode)
    check(p.returncode in (0, 128 + signal.SIGINT),
          "SIGINT ends the demo (status %d)" % p.returncode)
    check(not leftovers("--size\0" + tag), "no child left after SIGINT")
    check(not (ours & swaps()), "swap removed after SIGINT")
    check(not (set(d[5:] for d in ours) & zram_devices()),
          "zram device removed after SIGINT")


def test_sigkill():
    """SIGKILL reaches no handler: the guardian process must still remove
    the device, and the child must die with its parent."""
    tag = "%dM" % random.randint(400, 460)
    before = swaps()
    p = subprocess.Popen([pmadvise_path(), "demo", "--zram", "--size", tag],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while swaps() == before and time.time() < deadline and p.poll() is None:
        time.sleep(0.005)
    ours = swaps() - before
    check(ours, "the demo's swap device appeared: %s" % sorted(ours))
    time.sleep(0.2)  # let the child start
    p.kill()
    p.wait()
    deadline = time.time() + 30
    while (ours & swaps() or set(d[5:] for d in ours) & zram_devices()) \
            and time.time() < deadline:
        time.sleep(0.05)
    check(not (ours & swaps()), "swap removed after SIGKILL")
    check(not (set(d[5:] for d in ours) & zram_devices()),
          "zram device removed after SIGKILL")
    check(not leftovers("--size\0" + tag), "no child left after SIGKILL")


def test_no_permission():
    """Root's uid without capabilities: like an ordinary user, but the
    build tree stays readable wherever it is."""
    exe = pmadvise_path()
    p = subprocess.run(NO_CAPS + [exe, "demo", "--size", "8M"],
                       capture_output=True, text=True, timeout=60)
    print(p.stdout + p.stderr)
    # Without CAP_SYS_NICE process_madvise says EPERM; a rung that acts
    # from inside the child (ptrace) may still serve the demo.
    if p.returncode == 0:
        check("rung          syscall" not in p.stdout,
              "demo without capabilities served by another rung")
    else:
        check(p.returncode == 3, "demo without capabilities exits 3")
    env = dict(os.environ, PMADV_METHODS="syscall")
    p = subprocess.run(NO_CAPS + [exe, "demo", "--size", "8M"], env=env,
                       capture_output=True, text=True, timeout=60)
    print(p.stdout + p.stderr)
    check(p.returncode == 3, "demo without CAP_SYS_NICE, syscall rung "
          "only: exits 3 (no permission)")
    check("CAP_SYS_NICE" in p.stderr and "Run pmadvise as root" in p.stderr,
          "the reason names CAP_SYS_NICE and what to do")
    check("Operation not permitted" not in p.stderr,
          "not a bare 'Operation not permitted'")
    before = zram_devices()
    p = subprocess.run(NO_CAPS + [exe, "demo", "--zram"],
                       capture_output=True, text=True, timeout=60)
    print(p.stdout + p.stderr)
    check(p.returncode == 3 and "needs root" in p.stderr,
          "demo --zram without capabilities refused with a reason")
    check(zram_devices() == before, "and no zram device made")


def main():
    on_sigterm_exit()
    need_root()
    # The demo makes and removes swap devices, and these tests compare the
    # swap list before and after: no other test's device meanwhile.
    with SwapLock():
        test_plain()
        test_zram()
        test_sigint()
        test_sigkill()
        test_no_permission()
    print("PASS")


main()
