#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the test VM: sets up the guest (swap on zram, a spare block
# device, an ext2 /var/tmp on a third, the procmadvise module), runs every
# program listed in /tests/list, checks dmesg for kernel splats, and carries
# the verdict out on the console and through vm-exit (isa-debug-exit on
# x86-64, semihosting on arm64: the same qemu exit status).
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t devtmpfs dev /dev
# The kernel may have found no /dev/console in the archive: take it now.
exec 0</dev/console 1>/dev/console 2>&1
/bin/busybox --install -s /bin
# Host programs that tests asked for (--tool) sit at their host paths,
# before busybox's applets.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Every program must run here: the cmocka suites fail instead of skipping.
export CI=true
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /run /var/tmp
# Test programs that live under /tmp on the host sit at the same path in
# the archive: do not hide them.
[ -n "$(ls -A /tmp)" ] || mount -t tmpfs tmp /tmp

finish() {
	echo "PMADV-VM-RESULT: $1"
	if [ "$1" = PASS ]; then /bin/vm-exit 0; else /bin/vm-exit 1; fi
	poweroff -f
}

setup_failed() {
	echo "PMADV-VM: setup failed: $*"
	dmesg | tail -20
	finish FAIL
}

echo "PMADV-VM: booted $(uname -r)"
# The modules each kernel needs for zram and ext4, dependencies first
# (/lib/modules.list, made by run-vm-tests.sh from the kernel's .deb).
while read -r m; do
	args=
	[ "$m" != zram ] || args=num_devices=3
	# shellcheck disable=SC2086
	insmod "/lib/$m.ko" $args || setup_failed "insmod $m"
done < /lib/modules.list
echo 256M > /sys/block/zram0/disksize || setup_failed "zram0 size"
mkswap /dev/zram0 >/dev/null || setup_failed mkswap
swapon /dev/zram0 || setup_failed swapon
echo 16M > /sys/block/zram1/disksize || setup_failed "zram1 size"
# /var/tmp on a block device: the initramfs's page cache can never be
# dropped or paged out, a real filesystem's can (the library's file tests;
# pmadvise demo's file, a quarter of its --size, up to 65 MiB).
echo 160M > /sys/block/zram2/disksize || setup_failed "zram2 size"
# MADV_WILLNEED reads ahead at most max(read_ahead_kb, max_sectors_kb) of
# the device per call: zram's 128 kB would cut an 8 MiB WILLNEED short.
# The host's disks have 8 MiB.
echo 8192 > /sys/block/zram2/queue/read_ahead_kb || setup_failed "zram2 read-ahead"
mke2fs -b 4096 -m 0 /dev/zram2 >/dev/null || setup_failed "mke2fs zram2"
mount -t ext2 /dev/zram2 /var/tmp || setup_failed "mount /var/tmp"
chmod 1777 /var/tmp
insmod /lib/procmadvise.ko || setup_failed "insmod procmadvise"
dmesg | grep procmadvise

pass=0 fail=0 skip=0
cd /tmp
# The list is read on fd 3, which no test gets, and each test's stdin is
# /dev/null: a test (or a program it starts) that read its stdin took the
# rest of the list, and the tests after it never ran, with a PASS verdict.
while read -r name timeout <&3; do
	[ -n "$name" ] || continue
	echo "PMADV-VM: running $name"
	t0=$(date +%s)
	timeout -s KILL "${timeout:-300}" "/tests/$name" < /dev/null > "/tmp/$name.log" 2>&1 3<&-
	rc=$?
	# A test killed for its time leaves its children behind: end every
	# process but this shell (kernel threads have no command line), so
	# that they cannot disturb the next test.
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" != 1 ] && [ "$p" != $$ ] && grep -q . "/proc/$p/cmdline" 2>/dev/null &&
			kill -KILL "$p" 2>/dev/null
	done
	sed "s|^|[$name] |" "/tmp/$name.log"
	# A log without a final newline would carry the verdict line on its
	# last line, where the host does not look for it.
	[ -z "$(tail -c 1 "/tmp/$name.log")" ] || echo
	case $rc in
	0) verdict=PASS; pass=$((pass + 1)) ;;
	77) verdict=SKIP; skip=$((skip + 1)) ;;
	*) verdict=FAIL; fail=$((fail + 1)) ;;
	esac
	echo "PMADV-TEST $name: $verdict (exit $rc, $(($(date +%s) - t0)) s)"
done 3< /tests/list

# Any splat during the run fails it, whichever test triggered it.
if dmesg | grep -E 'WARNING|BUG|Oops|lockdep|circular locking|INFO: task|general protection|Call Trace' > /tmp/splat; then
	cat /tmp/splat
	echo "PMADV-TEST dmesg-clean: FAIL"
	fail=$((fail + 1))
else
	echo "PMADV-TEST dmesg-clean: PASS"
	pass=$((pass + 1))
fi
echo "PMADV-VM: $pass passed, $fail failed, $skip skipped"
if [ "$fail" -eq 0 ]; then finish PASS; else finish FAIL; fi
