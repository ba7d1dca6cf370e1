// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where VMA records come from: the PROCMAP_QUERY ioctl on /proc/PID/maps
 * (Linux 6.11+: binary, no text formatting, one VMA per call), or the text
 * of /proc/PID/maps, or of /proc/PID/smaps when VmFlags are wanted (the ioctl
 * does not report VM_LOCKED or VM_PFNMAP). The ioctl is probed once per
 * process; ENOTTY or EINVAL mean "not this kernel" and switch to text.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vma.h"

/* Initial text buffer, and the bound on one line (a path of PATH_MAX bytes
 * with every byte escaped as \ooo still fits). */
#define TEXT_BUF   65536
#define TEXT_LIMIT (1u << 20)

/* -1: not probed; 0: the kernel lacks PROCMAP_QUERY; 1: it has it. */
static int query_ok = -1;
static int forced = PMADV_SRC_AUTO;

void pmadv_vma_force_source(enum pmadv_vma_src_kind kind)
{
	__atomic_store_n(&forced, (int)kind, __ATOMIC_RELEASE);
}

void pmadv_vma_reset_probe(void)
{
	__atomic_store_n(&query_ok, -1, __ATOMIC_RELEASE);
}

int pmadv_vma_query_probed(void)
{
	return __atomic_load_n(&query_ok, __ATOMIC_ACQUIRE);
}

/* The caller's wish, the test knob, then PMADV_MAPS=text|query. */
static enum pmadv_vma_src_kind resolve(enum pmadv_vma_src_kind want)
{
	int f = __atomic_load_n(&forced, __ATOMIC_ACQUIRE);
	const char *env;

	if (want == PMADV_SRC_SMAPS || want == PMADV_SRC_QUERY)
		return want;
	if (f != PMADV_SRC_AUTO)
		return (enum pmadv_vma_src_kind)f;
	env = pmadv_env("PMADV_MAPS");
	if (env && !strcmp(env, "text"))
		return PMADV_SRC_TEXT;
	if (env && !strcmp(env, "query"))
		return PMADV_SRC_QUERY;
	return want;
}

int pmadv_vma_src_open(struct pmadv_vma_src *s, struct pmadv_target *t,
		       enum pmadv_vma_src_kind want, uint64_t from)
{
	enum pmadv_vma_src_kind kind = resolve(want);
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (kind == PMADV_SRC_QUERY && pmadv_vma_query_probed() == 0)
		return -EOPNOTSUPP;
	if (kind == PMADV_SRC_AUTO) {
		s->may_fallback = true;
		kind = pmadv_vma_query_probed() == 0 ? PMADV_SRC_TEXT
						     : PMADV_SRC_QUERY;
	}
	s->kind = kind;
	s->t = t;
	s->pid = t->self ? getpid() : t->pid;
	ret = pmadv_open_proc(t, kind == PMADV_SRC_SMAPS ? "smaps" : "maps",
			      &s->via);
	if (ret < 0)
		return ret;
	s->fd = ret;
	ret = pmadv_target_alive(t);
	if (ret < 0) {
		close(s->fd);
		s->fd = -1;
		return ret;
	}
	s->next_addr = from;
	s->from = from;
	pmadv_maps_parser_init(&s->parser, kind == PMADV_SRC_SMAPS);
	return 0;
}

void pmadv_vma_src_close(struct pmadv_vma_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
}

int pmadv_vma_query(int fd, uint64_t addr, bool or_next,
		    struct pmadv_vma_rec *r)
{
	struct pmadv_procmap_query q;
	int ret;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = or_next ? PMADV_PQ_COVERING_OR_NEXT : 0;
	q.query_addr = addr;
	q.vma_name_addr = (uint64_t)(uintptr_t)r->name;
	q.vma_name_size = sizeof(r->name);
	r->long_name = false;
	ret = ioctl(fd, PMADV_PROCMAP_QUERY, &q);
	if (ret < 0 && errno == ENAMETOOLONG) {
		/* a path longer than PATH_MAX (6.11 to 6.18 answer so): the
		 * VMA without its name, as the text source reports it */
		r->long_name = true;
		q.vma_name_addr = 0;
		q.vma_name_size = 0;
		ret = ioctl(fd, PMADV_PROCMAP_QUERY, &q);
	}
	if (ret < 0)
		return errno == ENOENT ? 0 : -errno;
	r->start = q.vma_start;
	r->end = q.vma_end;
	r->offset = q.vma_offset;
	r->inode = q.inode;
	r->dev_major = q.dev_major;
	r->dev_minor = q.dev_minor;
	/* vma_name_size comes back as the length with its NUL, 0 if none. */
	if (q.vma_name_size == 0)
		r->name[0] = '\0';
	r->name[sizeof(r->name) - 1] = '\0';
	r->name_len = strnlen(r->name, q.vma_name_size);
	r->attrs = (q.vma_flags & PMADV_PQ_READ ? PMADV_VMA_READ : 0) |
		   (q.vma_flags & PMADV_PQ_WRITE ? PMADV_VMA_WRITE : 0) |
		   (q.vma_flags & PMADV_PQ_EXEC ? PMADV_VMA_EXEC : 0) |
		   (r->long_name ? PMADV_VMA_LONGNAME : 0);
	r->attrs |= pmadv_vma_classify(q.vma_flags & PMADV_PQ_SHARED, r->inode,
				       r->dev_major, r->dev_minor, r->name,
				       r->name_len);
	return 1;
}

static int query_next(struct pmadv_vma_src *s, struct pmadv_vma_rec *r)
{
	int ret = pmadv_vma_query(s->fd, s->next_addr, true, r);

	if (ret == 0)
		s->eof = true;
	if (ret == 1)
		s->next_addr = r->end;
	return ret;
}

/* Makes room for at least one more read; -EIO past TEXT_LIMIT (a line
 * longer than the kernel can write). */
static int text_room(struct pmadv_vma_src *s)
{
	char *nb;
	size_t ncap;

	if (s->pos) {
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->len -= s->pos;
		s->pos = 0;
	}
	if (s->len < s->cap)
		return 0;
	ncap = s->cap ? s->cap * 2 : TEXT_BUF;
	if (ncap > TEXT_LIMIT)
		return -EIO;
	nb = realloc(s->buf, ncap);
	if (!nb)
		return -ENOMEM;
	s->buf = nb;
	s->cap = ncap;
	return 0;
}

/*
 * /proc/PID/maps writes a newline in a path as \012, and a path that holds
 * those four characters the same way. For a file mapping whose decoded
 * name has a newline, /proc/PID/map_files/START-END (CAP_SYS_ADMIN) names
 * the file exactly, as PROCMAP_QUERY does; without that right the newline
 * stands.
 */
static void resolve_newline(const struct pmadv_vma_src *s,
			    struct pmadv_vma_rec *r)
{
	char file[64], path[128], exact[PMADV_VMA_NAME_MAX + 2];
	ssize_t n;

	if (!r->inode || !memchr(r->name, '\n', r->name_len))
		return;
	snprintf(file, sizeof(file), "map_files/%" PRIx64 "-%" PRIx64,
		 r->start, r->end);
	pmadv_proc_path(s->pid, file, path, sizeof(path));
	n = readlink(path, exact, sizeof(exact));
	if (n <= 0)
		return;
	if (n > PMADV_VMA_NAME_MAX) {
		/* longer than a name can be: "" and long_name, as the
		 * ioctl reports it (the decoded text was shorter) */
		r->name[0] = '\0';
		r->name_len = 0;
		r->long_name = true;
		return;
	}
	memcpy(r->name, exact, (size_t)n);
	r->name[n] = '\0';
	r->name_len = (size_t)n;
}

static int text_next(struct pmadv_vma_src *s, struct pmadv_vma_rec *r)
{
	for (;;) {
		char *line = s->buf + s->pos, *nl;
		ssize_t n;
		int ret;

		nl = s->len > s->pos ? memchr(line, '\n', s->len - s->pos)
				     : NULL;
		if (nl) {
			s->pos += (size_t)(nl - line) + 1;
			ret = pmadv_maps_parser_line(&s->parser, line,
						     (size_t)(nl - line), r);
			if (ret < 0)
				return -EIO; /* not the format we know */
			if (ret > 0) {
				resolve_newline(s, r);
				return 1;
			}
			continue;
		}
		if (s->eof) {
			/* A last line without '\n' is not something the
			 * kernel writes: treat it as a torn read. */
			if (s->len > s->pos)
				return -EIO;
			ret = pmadv_maps_parser_end(&s->parser, r);
			if (ret > 0)
				resolve_newline(s, r);
			return ret;
		}
		if ((ret = text_room(s)) < 0)
			return ret;
		do
			n = read(s->fd, s->buf + s->len, s->cap - s->len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == ENOENT ? -ESRCH : -errno;
		if (n == 0)
			s->eof = true;
		s->len += (size_t)n;
	}
}

static int src_next(struct pmadv_vma_src *s, struct pmadv_vma_rec *r)
{
	int ret;

	if (s->kind != PMADV_SRC_QUERY)
		return text_next(s, r);
	if (s->eof)
		return 0;
	ret = query_next(s, r);
	if (ret != -ENOTTY && ret != -EINVAL) {
		if (ret >= 0 && pmadv_vma_query_probed() < 0)
			__atomic_store_n(&query_ok, 1, __ATOMIC_RELEASE);
		return ret;
	}
	/* This kernel has no PROCMAP_QUERY (ENOTTY), or a struct it does not
	 * accept (EINVAL): remember, and read the same fd as text unless the
	 * caller insisted on the ioctl. */
	if (pmadv_vma_query_probed() == 1)
		return ret;
	__atomic_store_n(&query_ok, 0, __ATOMIC_RELEASE);
	pmadv_debug("PROCMAP_QUERY: %s, reading /proc/PID/maps as text",
		    strerror(-ret));
	if (!s->may_fallback)
		return -EOPNOTSUPP;
	s->kind = PMADV_SRC_TEXT;
	/* Text starts at the first VMA; the caller's filter skips the ones
	 * below 'from'. */
	return text_next(s, r);
}

/* Whether the thread the source reads through (a process whose main
 * thread has exited) is gone, or going (its address space let go): the
 * kernel ends its maps with EOF or ESRCH then, though the process runs
 * on. */
static bool via_gone(const struct pmadv_vma_src *s)
{
	return s->via && !pmadv_task_has_mm(s->pid, s->via);
}

/* The same source again through another live thread, from the end of the
 * last record returned: 0, or -errno (-ESRCH when none lives). */
static int reopen_via(struct pmadv_vma_src *s)
{
	int fd = pmadv_open_proc(s->t, s->kind == PMADV_SRC_SMAPS ? "smaps"
								    : "maps",
				 &s->via);

	if (fd < 0)
		return fd;
	close(s->fd);
	s->fd = fd;
	s->eof = false;
	s->len = s->pos = 0;
	s->next_addr = s->resume;
	pmadv_maps_parser_init(&s->parser, s->kind == PMADV_SRC_SMAPS);
	pmadv_debug("maps of PID %d: the thread read through exited, reading "
		    "on through thread %d from %#llx", (int)s->pid,
		    (int)s->via, (unsigned long long)s->resume);
	return s->via ? 0 : -ESRCH;
}

int pmadv_vma_src_next(struct pmadv_vma_src *s, struct pmadv_vma_rec *r)
{
	int64_t start = 0;
	int ret;

	for (int tries = 0;; tries++) {
		ret = src_next(s, r);
		if (ret > 0 && r->end <= s->resume)
			continue; /* returned before the source was reopened */
		if ((ret == 0 || ret == -ESRCH) && via_gone(s) &&
		    pmadv_target_runs(s->t) == 1 &&
		    pmadv_thread_retry(tries, &start)) {
			/* the thread chosen next may be gone too: again */
			ret = reopen_via(s);
			if (ret < 0 && ret != -ESRCH)
				return ret;
			continue;
		}
		break;
	}
	if (ret > 0) {
		s->count++;
		s->resume = r->end;
	}
	/* No VMA at all: the process has no mm any more (a zombie) or never
	 * had one (a kernel thread). The ioctl says ESRCH; so does
	 * process_madvise; the text, empty, would say nothing. */
	if (ret == 0 && !s->count &&
	    (s->kind != PMADV_SRC_QUERY || !s->from))
		return -ESRCH;
	return ret;
}
