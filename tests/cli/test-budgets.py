#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: pmadvise's budgets and pacing.
- --rate 64M/s over 512 MiB takes about 8 s: at least 7.8 s (the last
  call is due at (512 MiB - one call) / 64 MiB/s = 7.9 s), at most 12 s
  (a loaded machine only makes it slower; the measured time is printed).
- --max-bytes 96M over two processes of 64 MiB pages out 64 MiB of the
  first and 32 MiB of the second (their Swap in smaps_rollup, within
  one 6.4 MiB call), then stops: exit 0, "stopped": "max_bytes".
- --percent 25 pages out a quarter of a process.
- --time ends the run at a call boundary and leaves the rest out; with
  --rate, no call starts at or after its end.
- --rate after pmadvise was stopped catches up by one call, not in a burst.
- bad values are usage errors (exit 2)."""

import json
import signal
import subprocess
import sys
import time

from clitest import (ZramSwap, check, fail, mem_kb, need_root, ranges_of,
                     on_sigterm_exit, run, run_json)

MiB = 1 << 20

# Maps SIZE MiB of private anonymous memory, writes a pattern on every
# page, says "ready PID"; each line of stdin checks the pattern ("ok").
TARGET = r"""
import mmap, os, sys
n = int(sys.argv[1]) << 20
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for off in range(0, n, 4096):
    m[off:off + 8] = (off // 4096 + 1).to_bytes(8, "little")
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    bad = sum(1 for off in range(0, n, 4096)
              if m[off:off + 8] != (off // 4096 + 1).to_bytes(8, "little"))
    print("ok" if not bad else "bad %d" % bad, flush=True)
"""


class Target:
    def __init__(self, mib):
        self.mib = mib

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", TARGET,
                                   str(self.mib)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        words = self.p.stdout.readline().split()
        if len(words) != 2 or words[0] != "ready":
            self.p.kill()
            fail("target did not start: %r" % words)
        self.pid = int(words[1])
        return self

    def intact(self):
        self.p.stdin.write("check\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip() == "ok"

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()
        return False


SEL = ["--anon", "--min-size", "16M"]


def test_rate():
    with Target(512) as t:
        t0 = time.monotonic()
        p, doc = run_json(SEL + ["-a", "cold", "--rate", "64M/s", t.pid],
                          check_rc=0, timeout=120)
        took = time.monotonic() - t0
        proc = doc["processes"][0]
        print("measured: 512 MiB at 64 MiB/s took %.2f s in %d calls" %
              (took, proc["calls"]))
        check(proc["bytes_advised"] == 512 * MiB,
              "--rate: all 512 MiB advised")
        check(7.8 <= took <= 12.0,
              "--rate 64M/s over 512 MiB took %.2f s (about 8 s: 7.8 to "
              "12 allowed)" % took)
        # a tenth of a second's worth per call: 6.4 MiB, 81 calls
        check(80 <= proc["calls"] <= 83,
              "--rate: paced in calls of 6.4 MiB (%d calls)" %
              proc["calls"])
        check(proc["stopped"] is None and doc["summary"]["stopped"] is None,
              "--rate alone stops nothing")


def test_max_bytes():
    with Target(64) as a, Target(64) as b:
        sa0, sb0 = mem_kb(a.pid)[1], mem_kb(b.pid)[1]
        p, doc = run_json(SEL + ["-a", "pageout", "--max-bytes", "96M",
                                 a.pid, b.pid], check_rc=0)
        sa1, sb1 = mem_kb(a.pid)[1], mem_kb(b.pid)[1]
        pa, pb = doc["processes"]
        check(pa["bytes_advised"] == 64 * MiB and pa["stopped"] is None,
              "--max-bytes: the first process whole (64 MiB)")
        check(pb["bytes_advised"] == 32 * MiB and
              pb["stopped"] == "max_bytes" and pb["status"] == "ok",
              "--max-bytes: the second stopped at the budget, 32 MiB")
        check(doc["summary"]["bytes_advised"] == 96 * MiB and
              doc["summary"]["stopped"] == "max_bytes",
              "--max-bytes: 96 MiB in all, the run stopped by it")
        check((sa1 - sa0) >= 62 * 1024,
              "the first process's Swap rose by 64 MiB (%d kB)" %
              (sa1 - sa0))
        check(30 * 1024 <= (sb1 - sb0) <= 34 * 1024,
              "the second's by 32 MiB, not more (%d kB)" % (sb1 - sb0))
        # PAGEOUT may leave a few pages (one still in another CPU's LRU
        # add batch, say: libprocmadvise(7)); the residency count must
        # agree with smaps on what moved, whatever it was
        moved = pb["swapped_after"] - pb["swapped_before"]
        check(30 * MiB <= moved <= 32 * MiB and
              abs(moved - (sb1 - sb0) * 1024) <= 256 * 1024,
              "its residency counts what smaps says moved to swap "
              "(%d kB, smaps %d kB)" % (moved // 1024, sb1 - sb0))
        check(a.intact() and b.intact(), "both targets read their data back")
        # a budget spent before the last process: it is not reached
        p, doc = run_json(SEL + ["-a", "cold", "--max-bytes", "64M",
                                 a.pid, b.pid], check_rc=0)
        check(len(doc["processes"]) == 1 and
              doc["summary"]["processes_not_reached"] == 1,
              "--max-bytes spent on the first: the second not reached")


def test_percent():
    with Target(64) as t:
        s0 = mem_kb(t.pid)[1]
        p, doc = run_json(SEL + ["-a", "pageout", "--percent", "25", t.pid],
                          check_rc=0)
        s1 = mem_kb(t.pid)[1]
        proc = doc["processes"][0]
        check(proc["bytes_advised"] == proc["bytes_total"] // 4 // 4096 *
              4096 and proc["stopped"] == "percent",
              "--percent 25: a quarter of its %d bytes" % proc["bytes_total"])
        check(15 * 1024 <= s1 - s0 <= 17 * 1024,
              "--percent 25: Swap rose by 16 MiB (%d kB)" % (s1 - s0))
        check(t.intact(), "the target reads its data back")


def test_partial_range():
    """A budget that stops inside a range: the range is "partial" with the
    bytes advised, and no note about the effect, which the residency
    figures (over all chosen ranges) cannot tell under a budget. The
    first half is in swap already, so --percent 50 pages out nothing new
    (the note used to blame swap and file ownership)."""
    with Target(16) as t:
        run_json(SEL + ["-a", "pageout", "--max-bytes", "8M", t.pid],
                 check_rc=0)
        p, doc = run_json(SEL + ["-a", "pageout", "--percent", "50",
                                 "--verbose", t.pid], check_rc=0)
        proc = doc["processes"][0]
        rng = ranges_of(doc, proc)[0]
        check(rng["status"] == "partial" and
              rng["bytes_advised"] == 8 * MiB and rng["bytes"] == 16 * MiB,
              "--percent 50: the range is partial, 8 MiB advised (%r)" %
              rng)
        check(proc["note"] is None, "no note on the effect under a budget")
        check(t.intact(), "the target reads its data back")


def test_time():
    with Target(64) as a, Target(64) as b:
        t0 = time.monotonic()
        p = run(SEL + ["-a", "cold", "--rate", "32M/s", "--time", "1s",
                       a.pid, b.pid], check_rc=0)
        took = time.monotonic() - t0
        check(took < 4.0, "--time 1s ended the run in %.2f s" % took)
        check("stopped: --time is up; 1 process not reached" in p.stdout,
              "--time: the human summary says so")


def test_time_with_rate():
    """--time with --rate: no call starts at or after the end. At
    16 MiB/s a call is 1,675,264 bytes (a tenth of a second's worth, in
    whole pages: 99.85 ms), due at 0, 99.85, 199.7 and 299.55 ms: four
    calls before the end at 300 ms; a fifth, started at the end, was the
    fault."""
    with Target(64) as t:
        p, doc = run_json(SEL + ["-a", "cold", "--time", "300ms", "--rate",
                                 "16M/s", t.pid], check_rc=0)
        proc = doc["processes"][0]
        check(proc["stopped"] == "time" and
              proc["bytes_advised"] <= 4 * 1675264,
              "--time 300ms --rate 16M/s: %d bytes in %d calls, none "
              "after the end" % (proc["bytes_advised"], proc["calls"]))


def test_rate_after_stop():
    """pmadvise stopped (SIGSTOP) for 3 s under --rate 8M/s, then
    continued: the target's Swap, sampled every 20 ms, rises by at most
    8 MiB in any second after SIGCONT plus the two calls of 0.8 MiB that
    may straddle it, never by the 24 MiB the stop left "due"."""
    with Target(64) as t:
        s0 = mem_kb(t.pid)[1]
        cmd = [sys.argv[1]] + SEL + ["-a", "pageout", "--rate", "8M/s",
                                     str(t.pid)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(1.0)
        p.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        samples = [(time.monotonic(), mem_kb(t.pid)[1])]
        p.send_signal(signal.SIGCONT)
        while p.poll() is None and samples[-1][0] - samples[0][0] < 2.0:
            time.sleep(0.02)
            samples.append((time.monotonic(), mem_kb(t.pid)[1]))
        p.communicate(timeout=60)
        worst = max(b - a for (ta, a) in samples for (tb, b) in samples
                    if ta <= tb <= ta + 1.0)
        swapped = mem_kb(t.pid)[1] - s0
        check(p.returncode == 0 and swapped >= 60 * 1024,
              "--rate 8M/s after a stop: all 64 MiB paged out in the end "
              "(exit %d, Swap +%d kB)" % (p.returncode, swapped))
        check(worst <= 8 * 1024 + 2 * 820,
              "--rate 8M/s after a 3 s stop: at most %d kB in a second "
              "(no burst)" % worst)
        check(t.intact(), "the target reads its data back")


def test_signal():
    """SIGTERM while --rate sleeps: pmadvise ends at once, 128 + 15."""
    with Target(64) as t:
        cmd = [sys.argv[1]] + SEL + ["-a", "cold", "--rate", "1M/s",
                                     str(t.pid)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(1.0)
        t0 = time.monotonic()
        p.terminate()
        p.communicate(timeout=30)
        took = time.monotonic() - t0
        check(p.returncode == 143 and took < 1.5,
              "SIGTERM during --rate: exit %d after %.2f s" %
              (p.returncode, took))


def test_target_dies():
    """A target killed between paced calls is reported gone; the next
    process is advised."""
    with Target(64) as a, Target(32) as b:
        cmd = [sys.argv[1]] + SEL + ["-a", "cold", "--rate", "32M/s",
                                     "--json", str(a.pid), str(b.pid)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        a.p.kill()
        a.p.wait()
        out, err = p.communicate(timeout=60)
        doc = json.loads(out)
        pa, pb = doc["processes"]
        print(err)
        check(pa["error"] == "ESRCH" and
              0 < pa["bytes_advised"] < 64 * MiB,
              "the killed target: gone after %d bytes" % pa["bytes_advised"])
        check(pb["status"] == "ok" and pb["bytes_advised"] == 32 * MiB,
              "the next target advised whole")
        check(p.returncode == 4, "exit 4: a target gone (%d)" % p.returncode)


def test_usage():
    for bad in (["--percent", "0"], ["--percent", "101"], ["--time", "0"],
                ["--time", "5x"], ["--rate", "0"], ["--rate", "-1M/s"],
                ["--max-bytes", "0"], ["--max-bytes", "1"],
                ["--max-bytes", "4095"], ["--max-bytes", "0x10"]):
        run(SEL + bad + ["1"], check_rc=2)
    check(True, "bad budgets are usage errors")


def main():
    need_root()
    on_sigterm_exit()
    test_usage()
    test_rate()
    test_time()
    test_time_with_rate()
    test_signal()
    test_target_dies()
    with ZramSwap(512 * MiB):
        test_max_bytes()
        test_percent()
        test_rate_after_stop()
        test_partial_range()


main()
