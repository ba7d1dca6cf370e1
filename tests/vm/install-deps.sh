#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, on a fresh Debian 12 machine (as root), what the `vm` test suite
# needs beyond the build's own dependencies (tests/install-deps.sh): qemu,
# busybox-static for the guest, kmod and xz-utils to pick the guest's
# modules; then fetches the kernels of the matrix (5.10, 6.1, 6.12: images,
# modules, headers and kbuild tools from the bullseye, bookworm and trixie
# suites) and Debian 12's arm64 kernel with bookworm's busybox-static:arm64
# (the kmod suite's kmod-arm64 test cross-builds the module against its
# headers, with gcc-aarch64-linux-gnu; the arm64 guest boots it under
# qemu-system-aarch64, its 32-bit compat test built by
# gcc-arm-linux-gnueabihf) and unpacks them into the suite's cache without
# installing them (see README.md here). Debian 12's own headers (linux-headers-amd64) are for
# the kmod suite's DKMS test. Idempotent; apt-get only.
set -eu

PKGS="qemu-system-x86 qemu-system-arm linux-headers-amd64 busybox-static cpio gzip
build-essential gcc-i686-linux-gnu libc6-dev-i386-cross gcc-aarch64-linux-gnu
libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
binutils dpkg apt kmod
xz-utils debian-archive-keyring util-linux"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
# Every kernel of the matrix, fetched now so the suite itself needs no
# network; and Debian 12's arm64 kernel, whose headers the kmod-arm64 test
# cross-builds the module against, and the arm64 guest's busybox.
"$(dirname "$0")/run-vm-tests.sh" --fetch-only
"$(dirname "$0")/run-vm-tests.sh" --fetch-only --arch=arm64 --kernel=6.1
