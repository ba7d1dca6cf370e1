/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A counting allocator for the tests that check a path does not allocate:
 * include it in exactly one file of a test program (it defines malloc,
 * calloc and realloc there), call count_allocations() once at start, and
 * count between counting = 1 and counting = 0.
 */
#ifndef PMTEST_ALLOCOUNT_H
#define PMTEST_ALLOCOUNT_H

#include <stddef.h>

/* Counting allocator: the native path must not allocate. Under ASan, whose
 * allocator must stay in charge, through its hooks; elsewhere by
 * interposing malloc, calloc and realloc. */
static volatile int counting, allocations;

#ifdef __SANITIZE_ADDRESS__
/* From the sanitizer runtime; gcc ships no header for it. */
int __sanitizer_install_malloc_and_free_hooks(
	void (*on_malloc)(const volatile void *, size_t),
	void (*on_free)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
	(void)p, (void)n;
	if (counting)
		allocations++;
}

static void on_free(const volatile void *p)
{
	(void)p;
}

static void count_allocations(void)
{
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

void *malloc(size_t n)
{
	if (counting)
		allocations++;
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (counting)
		allocations++;
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		allocations++;
	return __libc_realloc(p, n);
}

static void count_allocations(void)
{
}
#endif

#endif /* PMTEST_ALLOCOUNT_H */
