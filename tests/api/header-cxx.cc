// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public header from C++: extern "C" linkage, no C-only constructs.
 * Linking against the library proves the names are not mangled.
 */
#include <procmadvise.h>

static volatile sig_atomic_t stop;

int main()
{
	struct pmadv_opts o = PMADV_OPTS_INIT;

	o.cancel = &stop; // a signal handler's flag, without a cast
	return pmadv_advice_from_name("cold") == 20 && o.size == sizeof(o) ? 0 : 1;
}
