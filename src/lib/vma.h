/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private declarations of VMA enumeration: the decoded VMA record, the pure
 * maps/smaps line parser (fuzzed on its own), the record sources (the
 * PROCMAP_QUERY ioctl or /proc/PID/{maps,smaps} text) and the test knobs.
 */
#ifndef PMADV_VMA_H
#define PMADV_VMA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "internal.h"

/* The uapi of Linux 6.11 (include/uapi/linux/fs.h); older headers lack it.
 * Our own name, so a newer <linux/fs.h> included elsewhere cannot clash. */
struct pmadv_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define PMADV_PROCMAP_QUERY _IOWR('f', 17, struct pmadv_procmap_query)
#define PMADV_PQ_READ     0x01u
#define PMADV_PQ_WRITE    0x02u
#define PMADV_PQ_EXEC     0x04u
#define PMADV_PQ_SHARED   0x08u
#define PMADV_PQ_COVERING_OR_NEXT 0x10u

/* Longest name kept, in both sources: what PROCMAP_QUERY can return
 * (PATH_MAX with its NUL). A longer one is reported as "" with
 * PMADV_VMA_LONGNAME, whichever source read it. */
#define PMADV_VMA_NAME_MAX 4095

/* One VMA, decoded, whole (not clipped). */
struct pmadv_vma_rec {
	uint64_t start, end, offset, inode;
	unsigned int dev_major, dev_minor;
	unsigned int attrs; /* PMADV_VMA_* */
	size_t name_len;
	bool long_name; /* name "" since it was longer than NAME_MAX */
	char name[PMADV_VMA_NAME_MAX + 1];
};

/* Class and special-name bits for a VMA; the pure rule both sources share. */
unsigned int pmadv_vma_classify(bool shared, uint64_t inode,
				unsigned int dev_major, unsigned int dev_minor,
				const char *name, size_t len) PMADV_HIDDEN;

/* Parses one maps header line (no '\n'): 0, or -EINVAL if malformed. The
 * name is decoded (the kernel writes '\n' in paths as "\012"). */
int pmadv_maps_parse_header(const char *line, size_t len,
			    struct pmadv_vma_rec *r) PMADV_HIDDEN;
/* 1 and the VMFLAGS bits when line is smaps' "VmFlags:" line, else 0. */
int pmadv_maps_parse_vmflags(const char *line, size_t len,
			     unsigned int *attrs) PMADV_HIDDEN;

/* Line-at-a-time state machine over maps (every line a VMA) or smaps (a
 * header line, then "Key: value" lines that belong to it). */
struct pmadv_maps_parser {
	bool smaps;
	bool pending;
	struct pmadv_vma_rec cur;
};
void pmadv_maps_parser_init(struct pmadv_maps_parser *p, bool smaps)
	PMADV_HIDDEN;
/* 1: a finished record was copied to *out; 0: none yet; -EINVAL. */
int pmadv_maps_parser_line(struct pmadv_maps_parser *p, const char *line,
			   size_t len, struct pmadv_vma_rec *out) PMADV_HIDDEN;
/* At end of input: 1 and the last record, or 0. */
int pmadv_maps_parser_end(struct pmadv_maps_parser *p,
			  struct pmadv_vma_rec *out) PMADV_HIDDEN;
/* Whole buffer through the state machine, calling cb per record; stops at
 * the first nonzero cb return or malformed line (-EINVAL). Used by the fuzz
 * target and the unit tests; returns records seen or -errno. */
long pmadv_maps_parse_buf(const char *buf, size_t len, bool smaps,
			  int (*cb)(void *ctx, const struct pmadv_vma_rec *r),
			  void *ctx) PMADV_HIDDEN;

/* Where VMA records come from. */
enum pmadv_vma_src_kind {
	PMADV_SRC_AUTO = 0, /* ioctl if the kernel has it, else maps text */
	PMADV_SRC_QUERY,    /* PROCMAP_QUERY only */
	PMADV_SRC_TEXT,     /* /proc/PID/maps text */
	PMADV_SRC_SMAPS,    /* /proc/PID/smaps text (with VmFlags) */
};

struct pmadv_vma_src {
	enum pmadv_vma_src_kind kind; /* after resolution: never AUTO */
	int fd;
	pid_t pid;
	pid_t via;          /* the live thread read through, or 0 */
	uint64_t resume;    /* the end of the last record returned */
	struct pmadv_target *t;
	bool eof;
	bool may_fallback;  /* QUERY chosen by probe: text if it fails */
	uint64_t next_addr; /* QUERY: where the next query starts */
	uint64_t from;      /* the first address asked for */
	size_t count;       /* records returned so far */
	char *buf;          /* TEXT/SMAPS: read buffer */
	size_t cap, len, pos;
	struct pmadv_maps_parser parser;
};

/* Opens the source for t; want is AUTO, QUERY, TEXT or SMAPS. The forced
 * source (env PMADV_MAPS or pmadv_vma_force_source) overrides AUTO/TEXT. */
int pmadv_vma_src_open(struct pmadv_vma_src *s, struct pmadv_target *t,
		       enum pmadv_vma_src_kind want, uint64_t from)
	PMADV_HIDDEN;
/* 1 and a record, 0 at the end, or -errno. */
int pmadv_vma_src_next(struct pmadv_vma_src *s, struct pmadv_vma_rec *r)
	PMADV_HIDDEN;
void pmadv_vma_src_close(struct pmadv_vma_src *s) PMADV_HIDDEN;

/* One PROCMAP_QUERY (6.11+) on an open maps file: the VMA holding addr
 * (or_next: else the next one above it), decoded as the text source
 * decodes a line. 1 and *r, 0 when there is none, or -errno (ENOTTY and
 * EINVAL before 6.11). */
int pmadv_vma_query(int fd, uint64_t addr, bool or_next,
		    struct pmadv_vma_rec *r) PMADV_HIDDEN;

/* Test knobs: force a source for AUTO requests (PMADV_SRC_AUTO: back to the
 * environment and the probe), and forget the cached ioctl probe. */
void pmadv_vma_force_source(enum pmadv_vma_src_kind kind) PMADV_HIDDEN;
void pmadv_vma_reset_probe(void) PMADV_HIDDEN;
/* 1 if PROCMAP_QUERY worked, 0 if the kernel lacks it, -1 not probed. */
int pmadv_vma_query_probed(void) PMADV_HIDDEN;

#endif /* PMADV_VMA_H */
