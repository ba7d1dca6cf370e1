#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, on a fresh Debian 12 machine (as root), everything the build and
# the whole test suite need. Idempotent; apt-get only.
set -eu

PKGS="build-essential meson ninja-build pkg-config libcap-dev libcmocka-dev
groff-base valgrind python3 perl clang libclang-rt-14-dev dkms
libsmartcols-dev debian-archive-keyring"
# Cross compilers: the 32-bit test targets (i386 beside x86_64, 32-bit ARM
# beside aarch64) and the cross builds (cross/*.ini). Not gcc-multilib:
# it conflicts with every cross compiler package on Debian 12. cmocka,
# libcap and libsmartcols for the aarch64 build come from Debian's arm64
# packages, installed beside the host's (multiarch); the armhf build's
# from Debian's armhf packages, unpacked into a sysroot (below).
CROSS="gcc-i686-linux-gnu libc6-dev-i386-cross gcc-aarch64-linux-gnu
libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
libcmocka-dev:arm64 libcap-dev:arm64 libsmartcols-dev:arm64"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS $CROSS >/dev/null
# libcap and libsmartcols for the armhf build, into a sysroot of their own
# (not multiarch: cross/fetch-sysroot.sh says why).
"$(dirname "$0")/../cross/fetch-sysroot.sh"
# The vm suite's own: qemu, kernel headers and image, busybox.
"$(dirname "$0")/vm/install-deps.sh"
