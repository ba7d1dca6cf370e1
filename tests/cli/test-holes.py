#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: pmadvise --skip-holes advises the mapped pages of a range
that spans holes (their Referenced drops in smaps), counts the holes as
skipped, and exits 0; the same range without it fails with ENOMEM."""

from clitest import check, on_sigterm_exit, run, run_json, start_mapper

N = 16
PAGE = 4096


def referenced_kb(pid, lo, hi):
    """Referenced kB of each VMA inside [lo, hi), in address order."""
    out, inside = [], False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and ":" not in head:
                start, end = (int(x, 16) for x in head.split("-"))
                inside = lo <= start and end <= hi
            elif inside and head == "Referenced:":
                out.append(int(line.split()[1]))
    return out


def main():
    on_sigterm_exit()
    p, lo, hi = start_mapper(N)
    try:
        window = "%s-%s" % (lo, hi)
        a, b = int(lo, 16), int(hi, 16)
        before = referenced_kb(p.pid, a, b)
        check(before == [4] * N, "%d one-page VMAs, referenced" % N)
        r = run(["--range", window, "-a", "cold", p.pid], check_rc=1)
        check("ENOMEM" in r.stdout + r.stderr,
              "without --skip-holes the range fails with ENOMEM")
        # the kernel advised the mapped pages before failing: touch again
        p.stdin.write("check\n")
        p.stdin.flush()
        check(p.stdout.readline().strip() == "ok", "the data is intact")
        check(referenced_kb(p.pid, a, b) == [4] * N, "referenced again")
        _, doc = run_json(["--range", window, "--skip-holes", "-a", "cold",
                           p.pid], check_rc=0)
        proc = doc["processes"][0]
        check(proc["status"] == "ok" and proc["ranges_advised"] == 1,
              "with --skip-holes the range is advised")
        check(proc["bytes_advised"] == N * PAGE and
              proc["bytes_skipped"] == N * PAGE,
              "%d bytes advised, %d skipped: the holes" %
              (proc["bytes_advised"], proc["bytes_skipped"]))
        check(referenced_kb(p.pid, a, b) == [0] * N,
              "every mapped page lost its Referenced bit")
        r = run(["--range", window, "--skip-holes", "-r", "-n", "-o",
                 "bytes_skipped", p.pid], check_rc=0)
        check(r.stdout == "%d\n" % (64 << 10),
              "the report counts the holes")
        run(["--anon", "--skip-holes", p.pid], check_rc=2)
        p.stdin.write("check\n")
        p.stdin.flush()
        check(p.stdout.readline().strip() == "ok", "the data is intact")
    finally:
        p.kill()
        p.wait()
    print("PASS")


main()
