// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the ptrace rung's readers of target data: the
 * program headers of a vDSO image the target may have rewritten, and its
 * auxiliary vector. Out-of-bounds reads abort under ASan; every program
 * header returned must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrace/ptrace.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	/* the reader gets its own copy, exactly n bytes long, so ASan sees
	 * any byte read past the end */
	unsigned char *img = malloc(n ? n : 1);
	Elf64_Phdr ph;
	uint64_t v;
	unsigned int i;

	if (!img)
		return 0;
	memcpy(img, d, n);
	for (i = 0; i < 70000 && pt_elf_phdr(img, n, i, &ph); i++)
		;
	/* no more entries than fit in the input */
	if (i > n / sizeof(Elf32_Phdr))
		abort();
	for (int compat = 0; compat < 2; compat++)
		for (uint64_t want = 0; want < 40; want += 7)
			(void)pt_auxv_find(img, n, compat, want, &v);
	free(img);
	return 0;
}
