// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public header must stand alone and compile as strict C99 with
 * -pedantic-errors: built with those flags, this file is the test.
 */
#include <procmadvise.h>

int main(void)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;

	r.bytes = 0;
	return (int)(o.size != sizeof(o)) + (int)r.bytes;
}
