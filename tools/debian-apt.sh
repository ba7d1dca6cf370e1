# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced (POSIX sh): apt-get and apt-cache on a Debian suite of their own,
# for fetching packages of other suites and architectures without touching
# the host's apt configuration or its installed packages. Used by
# tests/vm/run-vm-tests.sh (guest kernels) and cross/fetch-sysroot.sh.

# debian_apt DIR ARCH [ARCH...]: a sources list (DIR/sources.list, the
# caller writes it), package lists and a download cache under DIR, the
# first ARCH native; sets apt_opts for apt-get and apt-cache.
debian_apt() {
	adir=$1
	shift
	mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial" "$adir/none"
	apt_opts="-o Dir::Etc::SourceList=$adir/sources.list
-o Dir::Etc::SourceParts=$adir/none -o Dir::Etc::Preferences=$adir/none
-o Dir::Etc::PreferencesParts=$adir/none -o Dir::State::Lists=$adir/lists
-o Dir::State::Status=$adir/status -o Dir::Cache=$adir/cache
-o APT::Architecture=$1 -o Acquire::Languages=none"
	for a in "$@"; do
		apt_opts="$apt_opts -o APT::Architectures::=$a"
	done
	[ -f "$adir/status" ] || : > "$adir/status"
}

# debian_mirror SUFFIX: the archive the host's apt reads its own suite
# (SUFFIX empty) or that suite's security updates (SUFFIX -security) from,
# e.g. a mirror; empty if it reads none.
debian_mirror() {
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	apt-cache policy 2>/dev/null |
		sed -n "s|^ *[0-9]* \([a-z+]*://[^ ]*\) $codename$1/main amd64 Packages\$|\1|p" |
		head -n 1
}
