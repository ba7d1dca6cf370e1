// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public header must stand alone and compile as strict C99 with
 * -pedantic-errors: built with those flags, this file is the test.
 */
#include <procmadvise.h>

/* A signal handler's flag, and 0.1's plain int, fit opts.cancel without a
 * cast (a discarded qualifier would be an error here). */
static volatile sig_atomic_t stop;
static int old_flag;

int main(void)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	o.cancel = &stop;
	o.cancel = &old_flag;
	r.bytes = 0;
	return (int)(o.size != sizeof(o)) + (int)r.bytes + (int)*o.cancel;
}
