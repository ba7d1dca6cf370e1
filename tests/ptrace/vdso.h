// SPDX-License-Identifier: LGPL-2.1-or-later
/* For test targets (64-bit, and target32.c built alone by a cross
 * compiler): where the calling process's vDSO is mapped. */
#ifndef PT_VDSO_H
#define PT_VDSO_H

#include <stdio.h>
#include <string.h>

/* The start of the [vdso] mapping, its end in *end; 0 if none. */
static inline unsigned long pt_vdso_span(unsigned long *end)
{
	char line[256];
	unsigned long a = 0, b = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%lx-%lx", &a, &b) == 2)
			break;
	if (f)
		fclose(f);
	*end = b;
	return a;
}

#endif
