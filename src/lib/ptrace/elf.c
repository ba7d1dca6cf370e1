// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Readers of what the ptrace rung takes from the target's memory and /proc:
 * the program headers of its vDSO image and its auxiliary vector. Pure
 * functions over a buffer, apart from any I/O, so that they can be fuzzed
 * (tests/fuzz/fuzz-elf.c): the target can rewrite its vDSO page, so every
 * offset and count in it is hostile, and the arithmetic on them must not
 * overflow.
 */
#include <elf.h>
#include <string.h>

#include "ptrace.h"

bool pt_elf_phdr(const unsigned char *img, size_t n, unsigned int i,
		 Elf64_Phdr *out)
{
	uint64_t phoff, ent, num;

	if (n < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
		return false;
	if (img[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (n < sizeof(eh))
			return false;
		memcpy(&eh, img, sizeof(eh));
		phoff = eh.e_phoff;
		ent = eh.e_phentsize;
		num = eh.e_phnum;
		if (ent != sizeof(Elf64_Phdr))
			return false;
	} else if (img[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		if (n < sizeof(eh))
			return false;
		memcpy(&eh, img, sizeof(eh));
		phoff = eh.e_phoff;
		ent = eh.e_phentsize;
		num = eh.e_phnum;
		if (ent != sizeof(Elf32_Phdr))
			return false;
	} else {
		return false;
	}
	/* entry i lies wholly inside img, with no sum that can wrap */
	if (i >= num || phoff > n || (n - phoff) / ent <= i)
		return false;
	if (ent == sizeof(Elf64_Phdr)) {
		memcpy(out, img + phoff + i * ent, sizeof(*out));
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, img + phoff + i * ent, sizeof(ph));
		memset(out, 0, sizeof(*out));
		out->p_type = ph.p_type;
		out->p_flags = ph.p_flags;
		out->p_offset = ph.p_offset;
		out->p_vaddr = ph.p_vaddr;
		out->p_filesz = ph.p_filesz;
		out->p_memsz = ph.p_memsz;
	}
	return true;
}

bool pt_auxv_find(const unsigned char *aux, size_t n, bool compat,
		  uint64_t want, uint64_t *val)
{
	size_t ent = compat ? 8 : 16;

	for (size_t i = 0; i < n && n - i >= ent; i += ent) {
		uint64_t type, v;

		if (compat) {
			uint32_t e[2];

			memcpy(e, aux + i, sizeof(e));
			type = e[0], v = e[1];
		} else {
			uint64_t e[2];

			memcpy(e, aux + i, sizeof(e));
			type = e[0], v = e[1];
		}
		if (type == AT_NULL)
			break;
		if (type == want) {
			*val = v;
			return true;
		}
	}
	return false;
}
