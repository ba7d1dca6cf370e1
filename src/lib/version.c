// SPDX-License-Identifier: LGPL-2.1-or-later
/* The version of the library that runs (the header's is PMADV_VERSION). */
#include "internal.h"

PMADV_API unsigned int pmadv_version(void)
{
	return PMADV_VERSION;
}
