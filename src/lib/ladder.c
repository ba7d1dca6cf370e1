// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ladder of methods: the rung table in order, and the process-wide cache
 * of each rung's availability probe.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

const struct pmadv_rung *pmadv_rungs[PMADV_NRUNGS] = {
	&pmadv_rung_syscall,
	&pmadv_rung_ioctl,
	&pmadv_rung_ptrace,
};

const struct pmadv_rung *const pmadv_self_rungs[PMADV_NSELF_RUNGS] = {
	&pmadv_rung_syscall,
	&pmadv_rung_madvise,
};

const struct pmadv_rung *pmadv_rung_of(unsigned int method)
{
	if (method == pmadv_rung_madvise.method)
		return &pmadv_rung_madvise;
	for (size_t i = 0; i < PMADV_NRUNGS; i++)
		if (pmadv_rungs[i]->method == method)
			return pmadv_rungs[i];
	return NULL;
}

/* 0: not probed yet; 1: available; < 0: -errno of the probe. A race between
 * two first callers only probes twice: probes have no side effects. One
 * per method bit: the ladder's, and the madvise rung's. */
static int probe_cache[PMADV_NRUNGS + 1];
_Static_assert(PMADV_METHOD_MADVISE == 1u << PMADV_NRUNGS,
	       "the madvise rung's bit follows the ladder's");

int pmadv_rung_available(const struct pmadv_rung *r)
{
	unsigned int i = (unsigned int)__builtin_ctz(r->method);
	int v = __atomic_load_n(&probe_cache[i], __ATOMIC_ACQUIRE);

	if (v == 0) {
		int ret = r->probe();

		v = ret < 0 ? ret : 1;
		__atomic_store_n(&probe_cache[i], v, __ATOMIC_RELEASE);
	}
	return v < 0 ? v : 0;
}

void pmadv_reset_probes(void)
{
	for (unsigned int i = 0; i <= PMADV_NRUNGS; i++)
		__atomic_store_n(&probe_cache[i], 0, __ATOMIC_RELEASE);
}
