/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A forked child with a known memory layout, for the VMA tests: one
 * reservation holding mappings of every kind at known offsets, separated by
 * PROT_NONE pages so the kernel cannot merge them.
 */
#ifndef VMA_LAYOUT_H
#define VMA_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Offsets in pages from the reservation's start. */
enum {
	L_PAGES = 32,     /* the reservation */
	L_ANON = 1,       /* private anon rw-, 4 pages */
	L_FILE = 6,       /* private file r--, 3 pages, file offset 1 page */
	L_SHFILE = 10,    /* shared file rw-, 2 pages, file offset 0 */
	L_SHANON = 13,    /* shared anon rw-, 2 pages */
	L_LOCKED = 16,    /* private anon rw-, 2 pages, mlock()ed */
	L_EXEC = 19,      /* private anon r-x, 1 page */
	L_PAIR = 21,      /* private anon rw- then r--, 1 page each */
	L_FILE_PAGES = 4, /* size of the backing file */
};

struct layout {
	pid_t pid;
	int cmd;           /* write end: commands to the child */
	int ack;           /* read end: the child's report and acks */
	uint64_t base;     /* the reservation */
	uint64_t huge;     /* a 2 MiB MAP_HUGETLB mapping, 0 if none */
	uint64_t page;
	bool anon_named;   /* L_ANON is [anon:pmadv test] */
	uint64_t file_ino; /* the backing file */
	unsigned int file_major, file_minor;
	char path[64];
};

/* Commands understood by the child. */
#define LAYOUT_REMAP 'r' /* replace the L_ANON mapping by a smaller one */
#define LAYOUT_STOP  's' /* SIGSTOP itself */

/* Forks the child and waits until its layout is in place: 0 or -errno. */
int layout_start(struct layout *l, bool want_huge);
/* Sends a command and waits for the child's acknowledgement. */
int layout_cmd(struct layout *l, char c);
void layout_stop(struct layout *l);

/* Waits up to 10 s for every thread of pid to show a state in states. */
bool wait_state(pid_t pid, const char *states);

#endif
