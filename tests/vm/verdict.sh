#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The verdict of a VM run (run-vm-tests.sh), apart so that it can be tested
# without a VM (test-verdict.sh): the guest's console log and qemu's exit
# status must agree. The guest's init.sh prints a PMADV-TEST line for each
# program and a PMADV-VM-RESULT marker, and runs `vm-exit 0` only when
# every program passed: qemu then exits (0 << 1) | 1 = 1 (isa-debug-exit
# on x86-64, semihosting's SYS_EXIT with that status on arm64). qemu exits 0
# on power-off or panic, 124 is timeout's. A program's own output reaches
# the console prefixed with "[NAME] ", so it cannot forge either line.
# Under CI=true a program that skipped (exit 77) fails the run: CI runs
# everything, in every kernel.
# Usage: verdict.sh CONSOLE_LOG QEMU_STATUS KVER
set -eu
log=$1 qemu_rc=$2 kver=$3

verdicts=$(grep -a '^PMADV-TEST ' "$log" || true)
count() {
	[ -n "$verdicts" ] || { echo 0; return 0; }
	printf '%s\n' "$verdicts" | grep -c "^PMADV-TEST [^:]*: $1" || true
}
npass=$(count PASS)
nfail=$(count FAIL)
nskip=$(count SKIP)
marker=$(grep -a '^PMADV-VM-RESULT: ' "$log" | tail -n 1 || true)
echo "run-vm-tests: qemu exit status $qemu_rc, ${marker:-no verdict marker}"
ci_skip=0
if [ "${CI:-}" = true ] && [ "$nskip" != 0 ]; then
	ci_skip=1
	echo "run-vm-tests: CI=true, and these skipped in the guest (CI may not skip):" \
		"$(printf '%s\n' "$verdicts" | sed -n 's/^PMADV-TEST \([^:]*\): SKIP.*/\1/p' | tr '\n' ' ')" >&2
fi
if [ "$qemu_rc" = 1 ] && [ "$marker" = "PMADV-VM-RESULT: PASS" ] && [ "$nfail" = 0 ] &&
	[ "$ci_skip" = 0 ]; then
	echo "vm: $npass passed, $nfail failed, $nskip skipped"
	exit 0
fi
case $qemu_rc in
1 | 3) ;;
124) echo "run-vm-tests: the VM timed out" >&2 ;;
*) echo "run-vm-tests: the guest ended without a verdict (crash or panic?)" >&2 ;;
esac
# meson shows only a long log's tail: repeat what each failing test printed
# there, so the cause is on screen and not hundreds of lines up.
printf '%s\n' "$verdicts" | sed -n 's/^PMADV-TEST \([^:]*\): FAIL.*/\1/p' |
	while read -r t; do
		echo "run-vm-tests: $t failed on $kver; its last lines:"
		grep -aF "[$t] " "$log" | tail -n 40
	done
[ "$nfail" != 0 ] || [ "$ci_skip" = 1 ] || nfail=1
echo "vm: $npass passed, $nfail failed, $nskip skipped"
exit 1
