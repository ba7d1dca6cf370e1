// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The errno contract on the way out of each public function: every errno a
 * function returns is on its man page (as libseccomp's _rc_filter keeps
 * its promise). The lists come from the pages (errnos.h, generated).
 */
#include <errno.h>

#include "internal.h"

long pmadv_rc(long ret, const int *errs, size_t n, const char *fn)
{
	if (ret >= 0)
		return ret;
	for (size_t i = 0; i < n; i++)
		if (errs[i] == -ret)
			return ret;
	pmadv_debug("%s: %s (errno %ld) is not on its man page: returned as "
		    "ENOTRECOVERABLE", fn, pmadv_errdesc((int)-ret), -ret);
	return -ENOTRECOVERABLE;
}
