#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Lints one man page: groff must format it with every warning enabled and
# say nothing. Run from the man/ directory that holds the page's section
# directory, so that ".so man3/..." in alias pages resolves as man(1) would
# resolve it. Usage: lint.sh PATH/manN/PAGE.N   (GROFF overrides groff)
set -u

page=$1
groff=${GROFF:-groff}

case $page in
/*) ;;
*) page=$(pwd)/$page ;;
esac
root=$(dirname "$(dirname "$page")")
rel=$(basename "$(dirname "$page")")/$(basename "$page")

out=$(cd "$root" && "$groff" -man -ww -z "$rel" 2>&1)
rc=$?
if [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	echo "$rel: groff printed the above" >&2
	exit 1
fi
if [ "$rc" -ne 0 ]; then
	echo "$rel: groff exited with status $rc" >&2
	exit 1
fi
exit 0
