#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, on a fresh Debian 12 machine (as root), everything the build and
# the whole test suite need. Idempotent; apt-get only.
set -eu

PKGS="build-essential meson ninja-build pkg-config libcap-dev libcmocka-dev
groff-base valgrind python3 perl clang libclang-rt-14-dev gcc-multilib dkms"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
# The vm suite's own: qemu, kernel headers and image, busybox.
"$(dirname "$0")/vm/install-deps.sh"
