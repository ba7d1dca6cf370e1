// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the /proc/PID/maps and smaps parser. Every input goes
 * through both the maps and the smaps state machine, and every record that
 * comes out must be one the rest of the library can trust: besides crashes
 * (ASan, UBSan), a broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vma.h"

#define CLASSES \
	(PMADV_VMA_ANON | PMADV_VMA_FILE | PMADV_VMA_SHARED | PMADV_VMA_SPECIAL)

static int check(void *ctx, const struct pmadv_vma_rec *r)
{
	unsigned int cls = r->attrs & CLASSES;

	(void)ctx;
	if (r->start >= r->end)
		abort();
	/* Exactly one class bit. */
	if (!cls || (cls & (cls - 1)))
		abort();
	/* "\000" may decode to a NUL inside the name: the length rules. */
	if (r->name_len > PMADV_VMA_NAME_MAX || r->name[r->name_len] != '\0')
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct pmadv_vma_rec *r;
	unsigned int attrs;

	pmadv_maps_parse_buf(buf, size, false, check, NULL);
	pmadv_maps_parse_buf(buf, size, true, check, NULL);

	/* The single-line entry points on the raw input, unterminated: a
	 * read past size is an ASan report. */
	r = malloc(sizeof(*r));
	if (!r)
		return 0;
	if (pmadv_maps_parse_header(buf, size, r) == 0)
		check(NULL, r);
	free(r);
	pmadv_maps_parse_vmflags(buf, size, &attrs);
	return 0;
}
