// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Advice and method names, and the classification of advice the rest of the
 * library relies on: which values exist, and which can lose the target's data
 * or change its behaviour or security (those need PMADV_F_DESTRUCTIVE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "errnos.h"
#include "internal.h"

struct advice_info {
	int value;
	const char *name;
	bool destructive;
};

/*
 * Values from the kernel's uapi mman-common.h; spelled out so the library
 * knows advice its build host's headers may not.
 *
 * Without PMADV_F_DESTRUCTIVE only advice that leaves the target's data and
 * behaviour as they were is given: what the kernel itself accepts from
 * another process (COLD, PAGEOUT, WILLNEED, COLLAPSE) and POPULATE_READ,
 * which only faults pages in. Everything else can lose data (DONTNEED,
 * FREE...), change how the target behaves (RANDOM, MERGEABLE, HUGEPAGE...)
 * or weaken its security (KEEPONFORK gives a child what WIPEONFORK kept
 * from it, DODUMP puts secrets in core dumps, GUARD_REMOVE removes a
 * guard), so it needs the flag.
 */
static const struct advice_info advice_table[] = {
	{ 0, "normal", true },
	{ 1, "random", true },
	{ 2, "sequential", true },
	{ 3, "willneed", false },
	{ 4, "dontneed", true },
	{ 8, "free", true },
	{ 9, "remove", true },
	{ 10, "dontfork", true },
	{ 11, "dofork", true },
	{ 12, "mergeable", true },
	{ 13, "unmergeable", true },
	{ 14, "hugepage", true },
	{ 15, "nohugepage", true },
	{ 16, "dontdump", true },
	{ 17, "dodump", true },
	{ 18, "wipeonfork", true },
	{ 19, "keeponfork", true },
	{ 20, "cold", false },
	{ 21, "pageout", false },
	{ 22, "populate_read", false },
	{ 23, "populate_write", true },
	{ 24, "dontneed_locked", true },
	{ 25, "collapse", false },
	{ 100, "hwpoison", true },
	{ 101, "soft_offline", true },
	{ 102, "guard_install", true },
	{ 103, "guard_remove", true },
};

#define N_ADVICE (sizeof(advice_table) / sizeof(advice_table[0]))

static const struct advice_info *advice_find(int advice)
{
	for (size_t i = 0; i < N_ADVICE; i++)
		if (advice_table[i].value == advice)
			return &advice_table[i];
	return NULL;
}

bool pmadv_advice_known(int advice)
{
	return advice_find(advice) != NULL;
}

PMADV_API const char *pmadv_advice_name(int advice)
{
	const struct advice_info *a = advice_find(advice);

	return a ? a->name : NULL;
}

PMADV_API int pmadv_advice_destructive(int advice)
{
	const struct advice_info *a = advice_find(advice);

	return (int)PMADV_RC(pmadv_advice_destructive,
			     a ? a->destructive : -EINVAL);
}

PMADV_API int pmadv_advice_from_name(const char *name)
{
	if (!name)
		return (int)PMADV_RC(pmadv_advice_from_name, -EINVAL);
	if (!strncasecmp(name, "MADV_", 5))
		name += 5;
	for (size_t i = 0; i < N_ADVICE; i++)
		if (!strcasecmp(name, advice_table[i].name))
			return advice_table[i].value;
	return (int)PMADV_RC(pmadv_advice_from_name, -EINVAL);
}

PMADV_API const char *pmadv_method_name(unsigned int method)
{
	const struct pmadv_rung *r = pmadv_rung_of(method);

	return r ? r->name : NULL;
}

PMADV_API int pmadv_methods_from_string(const char *s, unsigned int *mask)
{
	unsigned int m = 0;

	if (!s || !mask)
		return (int)PMADV_RC(pmadv_methods_from_string, -EINVAL);
	while (*s) {
		size_t len = strcspn(s, ",");
		unsigned int bit = 0;

		for (size_t i = 0; i < PMADV_NRUNGS; i++)
			if (strlen(pmadv_rungs[i]->name) == len &&
			    !strncasecmp(s, pmadv_rungs[i]->name, len))
				bit = pmadv_rungs[i]->method;
		if (len == 3 && !strncasecmp(s, "all", 3))
			bit = PMADV_METHOD_ALL;
		if (!bit)
			return (int)PMADV_RC(pmadv_methods_from_string, -EINVAL);
		m |= bit;
		s += len;
		if (*s == ',' && *++s == '\0')
			return (int)PMADV_RC(pmadv_methods_from_string, -EINVAL);
	}
	if (!m)
		return (int)PMADV_RC(pmadv_methods_from_string, -EINVAL);
	*mask = m;
	return 0;
}
