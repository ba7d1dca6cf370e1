#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, on a fresh Debian 12 machine (as root), what the `vm` test suite
# needs beyond the build's own dependencies (tests/install-deps.sh): qemu,
# the Debian kernel headers to build the module against, busybox-static for
# the guest, and the kernel image itself, taken out of its .deb into the
# suite's cache without installing it. Idempotent; apt-get only.
set -eu

PKGS="qemu-system-x86 linux-headers-amd64 busybox-static cpio gzip
build-essential gcc-i686-linux-gnu libc6-dev-i386-cross binutils dpkg apt"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
# The kernel image matching the headers just installed, fetched now so the
# suite itself needs no network.
"$(dirname "$0")/run-vm-tests.sh" --fetch-only
