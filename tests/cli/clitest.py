# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers shared by the end-to-end tests of pmadvise: running the tool,
skipping (exit 77, or failing when CI=true), reading smaps_rollup, a
temporary zram swap device of the test's own, and target programs."""

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg, flush=True)


def skip(reason):
    # CI runs as root with zram: a skip there hides a broken test.
    if os.environ.get("CI") == "true":
        fail("would skip under CI=true: " + reason)
    print("SKIP: " + reason, flush=True)
    sys.exit(SKIP)


def need_root():
    if os.geteuid() != 0:
        skip("needs root")


def pmadvise_path():
    if len(sys.argv) < 2:
        fail("usage: %s PATH_TO_PMADVISE" % sys.argv[0])
    return sys.argv[1]


# Root's uid without a single capability: the binary stays readable in a
# build tree under /root, but process_madvise lacks CAP_SYS_NICE and
# ptrace lacks CAP_SYS_PTRACE, as for an ordinary user.
NO_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          "--inh-caps=-all", "--bounding-set=-all"]


def run(args, timeout=60, check_rc=None, **kw):
    """Runs pmadvise; returns CompletedProcess with text output (bytes that
    are not UTF-8 shown as \\xNN) and the raw bytes in stdout_bytes."""
    cmd = [pmadvise_path()] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    p.stdout_bytes = p.stdout
    p.stdout = p.stdout.decode("utf-8", "backslashreplace")
    p.stderr = p.stderr.decode("utf-8", "backslashreplace")
    print("$ " + " ".join(cmd) + "  -> %d" % p.returncode)
    out = p.stdout
    if len(out) > 3000:  # thousands of ranges: the head tells enough
        out = out[:3000] + "... (%d more bytes)\n" % (len(out) - 3000)
    sys.stdout.write(out)
    sys.stdout.write(p.stderr)
    sys.stdout.flush()
    if check_rc is not None and p.returncode != check_rc:
        fail("%s exited %d, expected %d" % (" ".join(cmd), p.returncode,
                                             check_rc))
    return p


def run_json(args, **kw):
    """pmadvise --json, parsed strictly: the bytes must be UTF-8 (a lone
    byte of a name cut by the kernel is an error) and one JSON document."""
    p = run(list(args) + ["--json"], **kw)
    try:
        return p, json.loads(p.stdout_bytes.decode("utf-8", "strict"))
    except ValueError as e:  # UnicodeDecodeError is one
        fail("--json output is not strict UTF-8 JSON: %s" % e)


def ranges_of(doc, proc):
    """The ranges of one process of a --json document (schema 2: one
    top-level array of every process's ranges, each with its pid)."""
    return [r for r in doc["ranges"] if r["pid"] == proc["pid"]]


def cgroup2_root():
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
    /sys/fs/cgroup/unified on a hybrid system), or None."""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    return None


def status_field(pid, name):
    """A field of /proc/PID/status, as a string ("S", "0"...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return None


def rmdir_cgroup(path):
    """Removes a cgroup directory once its last member has gone."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


def mem_kb(pid):
    """(Rss, Swap) in kB from /proc/PID/smaps_rollup; pid may be a string
    such as "PID/task/TID"."""
    vals = {}
    with open("/proc/%s/smaps_rollup" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("Rss", "Swap"):
                vals[k] = int(rest.split()[0])
    return vals["Rss"], vals["Swap"]


def kernel_knows_advice(advice):
    """Whether this kernel knows an advice, asked of madvise(2) itself: a
    zero-length call returns 0 for a known one and EINVAL for any other."""
    import ctypes
    import mmap
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    m = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        buf = (ctypes.c_char * mmap.PAGESIZE).from_buffer(m)
        try:
            return libc.madvise(ctypes.addressof(buf), 0, advice) == 0
        finally:
            del buf
    finally:
        m.close()


def kernel_has_mrelease():
    """Whether this kernel has process_mrelease(2) (5.15+), asked of it: no
    descriptor is EBADF where it exists, ENOSYS where it does not."""
    import ctypes
    import errno
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(448, -1, 0) == 0:  # process_mrelease, x86_64
        return True
    return ctypes.get_errno() != errno.ENOSYS


def _write(path, val):
    with open(path, "w") as f:
        f.write(val)


def on_sigterm_exit():
    """meson test ends a test that runs too long with SIGTERM: turn it into
    SystemExit so that finally blocks remove zram devices and children."""
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


class SwapLock:
    """The lock tests/common/pmtest.c takes for a test's swap device
    (flock on /run/pmadv-zram.lock, held until the device is gone). Tests
    run two at a time: another's swapoff would pull this test's target's
    pages back from that device, and its hot_add would change the swap
    list a test compares before and after."""

    def __enter__(self):
        self.fd = os.open("/run/pmadv-zram.lock", os.O_RDWR | os.O_CREAT |
                          os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


class ZramSwap:
    """A fresh zram swap device from hot_add: never zram0, which other tests
    use. Removed on exit of the with block, whatever happened; other
    tests' swap devices wait for that (SwapLock)."""

    def __init__(self, size=1 << 30):
        self.size = size
        self.id = None
        self.on = False
        self.lock = SwapLock()

    def __enter__(self):
        ctl = "/sys/class/zram-control/hot_add"
        if not os.path.exists(ctl):
            skip("no zram (/sys/class/zram-control)")
        self.lock.__enter__()
        with open(ctl) as f:
            self.id = int(f.read())
        self.dev = "/dev/zram%d" % self.id
        try:
            _write("/sys/block/zram%d/disksize" % self.id, str(self.size))
            for _ in range(40):
                if os.path.exists(self.dev):
                    break
                time.sleep(0.05)
            subprocess.run(["mkswap", self.dev], check=True,
                           capture_output=True)
            subprocess.run(["swapon", "-p", "32767", self.dev], check=True)
            self.on = True
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.on:
            subprocess.run(["swapoff", self.dev])
            self.on = False
        if self.id is not None:
            for _ in range(50):
                try:
                    _write("/sys/block/zram%d/reset" % self.id, "1")
                    _write("/sys/class/zram-control/hot_remove",
                           str(self.id))
                    break
                except OSError:
                    time.sleep(0.1)
            self.id = None
        if self.lock is not None:
            self.lock.__exit__()
            self.lock = None
        return False


# A program no one here wrote the runtime of: CPython holding ~200 MiB in
# lists. It prints "ready PID CHECKSUM", then answers every "check" line on
# stdin with "checksum N", recomputed over all its data.
HOLDER = r"""
import sys, os
data = [list(range(i, i + 1000)) for i in range(0, 5600 * 1000, 1000)]
def checksum():
    h = 0
    for l in data:
        h = (h * 31 + sum(l)) % (1 << 61)
    return h
print("ready", os.getpid(), checksum(), flush=True)
for line in sys.stdin:
    if line.strip() == "check":
        print("checksum", checksum(), flush=True)
"""


class Holder:
    """The python3 process above, as a context manager."""

    def __init__(self, **popen_kw):
        self.kw = popen_kw

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", HOLDER],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True,
                                  **self.kw)
        words = self.p.stdout.readline().split()
        if len(words) != 3 or words[0] != "ready":
            self.__exit__()
            fail("the python3 target did not start: %r" % words)
        self.pid = int(words[1])
        self.sum = int(words[2])
        return self

    def checksum(self):
        self.p.stdin.write("check\n")
        self.p.stdin.flush()
        words = self.p.stdout.readline().split()
        return int(words[1]) if len(words) == 2 else None

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()
        return False


# A python3 program that maps N one-page regions two pages apart, with
# nothing mapped between them (so none merge), each filled with its index, prints the window they occupy, then
# for each line of stdin checks every page and answers "ok" or what is
# wrong; it ends at end of input. Run it with start_mapper.
MAPPER = r"""
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
n = int(sys.argv[1]); page = mmap.PAGESIZE
MAP_FIXED_NOREPLACE = 0x100000
# Pages faulted in wait in this CPU's LRU add batch, where COLD and PAGEOUT
# from another CPU skip them (libprocmadvise(7)): stay on one CPU, and
# drain its batch once the pages are in (madvise_cold drains the caller's
# CPU first), as pmtest.c does for the C targets.
cpu = libc.sched_getcpu()
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
drain = libc.mmap(None, page, 3, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
ctypes.memset(drain, 1, page)
base = libc.mmap(None, 2 * n * page, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                 -1, 0)
libc.munmap(base, 2 * n * page)
for i in range(n):
    a = libc.mmap(base + 2 * i * page, page, 3,
                  mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                  -1, 0)
    assert a == base + 2 * i * page, "mmap failed"
    ctypes.memset(a, i & 0xff, page)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.madvise(drain, page, 20)  # MADV_COLD
print("%x %x" % (base, base + 2 * n * page), flush=True)
for line in sys.stdin:
    bad = [i for i in range(n)
           if ctypes.string_at(base + 2 * i * page, page) !=
           bytes([i & 0xff]) * page]
    print("ok" if not bad else "bad pages %s" % bad[:10], flush=True)
"""


def start_mapper(n):
    """Starts MAPPER over n pages: (Popen, window start, window end)."""
    p = subprocess.Popen([sys.executable, "-c", MAPPER, str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    lo, hi = p.stdout.readline().split()
    return p, lo, hi


PAGES, DELAY = 3, 1.5

# A private anonymous range registered with userfaultfd (missing pages),
# between two pages of a file;
# a thread answers each fault after DELAY s with a page of 0xab (gated:
# only once the file named by the third argument exists; the thread that
# a call is injected into cannot read stdin). Prints the range's address,
# "fault" at the first fault, then answers each line on stdin with "ok"
# when the whole range reads back as 0xab.
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
gate = sys.argv[3]
page = mmap.PAGESIZE
uffd = libc.syscall(323, os.O_CLOEXEC)  # userfaultfd, x86_64
api = (ctypes.c_uint64 * 3)(0xAA, 0, 0)
if uffd < 0 or libc.ioctl(uffd, UFFDIO_API, api):
    print("no userfaultfd: errno %d" % ctypes.get_errno(), flush=True)
    sys.exit(1)
# A page of a file on each side: pmadvise --anon joins adjacent anonymous
# VMAs into one range, and joined to the answering thread's stack, which
# mmap placed right below it in the VM guest (filling a hole there too),
# the range failed on the stack's guard before a call reached our pages.
raw = libc.mmap(None, (npages + 2) * page, 3, 0x22, -1, 0)
exe = os.open(sys.executable, os.O_RDONLY)
for at in (raw, raw + (npages + 1) * page):
    libc.mmap(at, page, 1, 0x12, exe, 0)  # MAP_PRIVATE | MAP_FIXED
os.close(exe)
base = raw + page
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
        while gate and not os.path.exists(gate):
            time.sleep(0.01)
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
    """UFFD_TARGET: a call injected into its range is stuck on a page
    fault for DELAY s a page or, gated, until release()."""

    def __init__(self, gated=False):
        self.gate = None
        if gated:
            fd, self.gate = tempfile.mkstemp(prefix="pmadv-gate-")
            os.close(fd)
            os.unlink(self.gate)

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", UFFD_TARGET,
                                   str(PAGES), str(0 if self.gate else DELAY),
                                   self.gate or ""],
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

    def release(self):
        """A gated target answers its faults from now on."""
        open(self.gate, "w").close()

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
        if self.gate and os.path.exists(self.gate):
            os.unlink(self.gate)
        return False
