# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests/kmod/test-dkms.sh: the installed kernel headers to build
# against (the VM suite unpacks its own, see tests/vm/README.md).
# pick_kernel_headers VERSION: that version, or when empty the newest
# /usr/src/linux-headers-*-amd64. Sets kver and kdir, or calls the
# caller's unavailable() with the reason.
pick_kernel_headers() {
	kver=$1
	if [ -z "$kver" ]; then
		kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
		[ -n "$kdir" ] || unavailable "no /usr/src/linux-headers-*-amd64 (package linux-headers-amd64)"
		kver=${kdir#/usr/src/linux-headers-}
	fi
	kdir=/usr/src/linux-headers-$kver
	[ -f "$kdir/Makefile" ] || unavailable "no kernel headers at $kdir"
}
