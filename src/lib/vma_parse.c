// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The /proc/PID/maps and smaps line parser. Pure functions over a buffer,
 * no I/O, so that a fuzzer can feed it anything: every byte is bounds-checked
 * against the given length, never against a terminator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vma.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads a hex number of at most maxdigits digits at *pos. */
static int get_hex(const char *s, size_t len, size_t *pos,
		   unsigned int maxdigits, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int n = 0;
	int d;

	while (*pos < len && (d = hexval(s[*pos])) >= 0) {
		if (++n > maxdigits)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
		(*pos)++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int get_dec(const char *s, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int n = 0;

	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
		unsigned int d = (unsigned int)(s[*pos] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		n++;
		(*pos)++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int expect(const char *s, size_t len, size_t *pos, char c)
{
	if (*pos >= len || s[*pos] != c)
		return -EINVAL;
	(*pos)++;
	return 0;
}

static bool name_is(const char *name, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && !memcmp(name, lit, n);
}

static bool name_starts(const char *name, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && !memcmp(name, lit, n);
}

unsigned int pmadv_vma_classify(bool shared, uint64_t inode,
				unsigned int dev_major, unsigned int dev_minor,
				const char *name, size_t len)
{
	/* A VMA with a file has a device or an inode; shared anonymous
	 * memory is a shmem file, so "shared" wins over everything. */
	if (shared)
		return PMADV_VMA_SHARED;
	if (inode || dev_major || dev_minor)
		return PMADV_VMA_FILE;
	if (len && name[0] == '[') {
		if (name_is(name, len, "[heap]"))
			return PMADV_VMA_ANON | PMADV_VMA_HEAP;
		/* "[stack:TID]" on kernels before 4.5 */
		if (name_starts(name, len, "[stack"))
			return PMADV_VMA_ANON | PMADV_VMA_STACK;
		if (name_starts(name, len, "[anon:"))
			return PMADV_VMA_ANON;
		if (name_is(name, len, "[vdso]"))
			return PMADV_VMA_SPECIAL | PMADV_VMA_VDSO;
		if (name_is(name, len, "[vvar]") ||
		    name_is(name, len, "[vvar_vclock]"))
			return PMADV_VMA_SPECIAL | PMADV_VMA_VVAR;
		if (name_is(name, len, "[vsyscall]"))
			return PMADV_VMA_SPECIAL | PMADV_VMA_VSYSCALL;
		return PMADV_VMA_SPECIAL; /* [uprobes], [sigpage]... */
	}
	return PMADV_VMA_ANON;
}

/* Copies the name, turning the kernel's one escape (show_map_vma's
 * mangle_path writes '\n' as "\012", and nothing else) back into a
 * newline, so both sources report the same name. A path holding the four
 * characters \012 reads the same: the text source resolves that case
 * (vma_src.c). Any other backslash is a byte of the name. One longer than
 * PMADV_VMA_NAME_MAX bytes becomes "" and long_name, as PROCMAP_QUERY
 * cannot return it. */
static void copy_name(struct pmadv_vma_rec *r, const char *s, size_t len)
{
	size_t i = 0, o = 0;

	r->long_name = false;
	while (i < len) {
		if (o == PMADV_VMA_NAME_MAX) {
			r->long_name = true;
			o = 0;
			break;
		}
		if (len - i >= 4 && !memcmp(s + i, "\\012", 4)) {
			r->name[o++] = '\n';
			i += 4;
			continue;
		}
		r->name[o++] = s[i++];
	}
	r->name[o] = '\0';
	r->name_len = o;
}

int pmadv_maps_parse_header(const char *s, size_t len,
			    struct pmadv_vma_rec *r)
{
	static const char perm_on[4] = { 'r', 'w', 'x', 's' };
	static const unsigned int perm_bit[3] = { PMADV_VMA_READ,
						  PMADV_VMA_WRITE,
						  PMADV_VMA_EXEC };
	uint64_t start, end, off, maj, min, ino;
	unsigned int prot = 0;
	bool shared = false;
	size_t pos = 0;

	if (get_hex(s, len, &pos, 16, &start) || expect(s, len, &pos, '-') ||
	    get_hex(s, len, &pos, 16, &end) || expect(s, len, &pos, ' '))
		return -EINVAL;
	if (start >= end)
		return -EINVAL;
	if (len - pos < 5)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		char c = s[pos + (size_t)i];

		if (c == perm_on[i]) {
			if (i < 3)
				prot |= perm_bit[i];
			else
				shared = true;
		} else if (!(c == '-' || (i == 3 && c == 'p'))) {
			return -EINVAL;
		}
	}
	pos += 4;
	if (expect(s, len, &pos, ' ') || get_hex(s, len, &pos, 16, &off) ||
	    expect(s, len, &pos, ' ') || get_hex(s, len, &pos, 8, &maj) ||
	    expect(s, len, &pos, ':') || get_hex(s, len, &pos, 8, &min) ||
	    expect(s, len, &pos, ' ') || get_dec(s, len, &pos, &ino))
		return -EINVAL;
	/* Padding before the name; the line may also end right here. */
	if (pos < len && s[pos] != ' ')
		return -EINVAL;
	while (pos < len && s[pos] == ' ')
		pos++;

	r->start = start;
	r->end = end;
	r->offset = off;
	r->inode = ino;
	r->dev_major = (unsigned int)maj;
	r->dev_minor = (unsigned int)min;
	copy_name(r, s + pos, len - pos);
	r->attrs = prot | (r->long_name ? PMADV_VMA_LONGNAME : 0) |
		   pmadv_vma_classify(shared, ino, r->dev_major,
					     r->dev_minor, r->name,
					     r->name_len);
	return 0;
}

int pmadv_maps_parse_vmflags(const char *s, size_t len, unsigned int *attrs)
{
	static const char key[] = "VmFlags:";
	unsigned int bits = PMADV_VMA_VMFLAGS;
	size_t pos = sizeof(key) - 1;

	if (len < pos || memcmp(s, key, pos))
		return 0;
	/* Two-letter mnemonics separated by spaces (fs/proc/task_mmu.c). */
	while (pos < len) {
		size_t w = pos;

		while (w < len && s[w] != ' ')
			w++;
		if (w - pos == 2) {
			if (!memcmp(s + pos, "lo", 2))
				bits |= PMADV_VMA_LOCKED;
			else if (!memcmp(s + pos, "pf", 2))
				bits |= PMADV_VMA_PFNMAP;
			else if (!memcmp(s + pos, "ht", 2))
				bits |= PMADV_VMA_HUGETLB;
			else if (!memcmp(s + pos, "nh", 2))
				bits |= PMADV_VMA_NOHUGEPAGE;
			else if (!memcmp(s + pos, "dp", 2))
				bits |= PMADV_VMA_DROPPABLE;
		}
		pos = w + 1;
	}
	*attrs = bits;
	return 1;
}

void pmadv_maps_parser_init(struct pmadv_maps_parser *p, bool smaps)
{
	p->smaps = smaps;
	p->pending = false;
}

/* An smaps header is told from a "Key: value" line by its shape: keys are
 * words ending in ':', headers start with lowercase hex and a '-'. */
static bool looks_like_header(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && hexval(s[i]) >= 0)
		i++;
	return i > 0 && i < len && s[i] == '-';
}

int pmadv_maps_parser_line(struct pmadv_maps_parser *p, const char *line,
			   size_t len, struct pmadv_vma_rec *out)
{
	unsigned int vmf;
	int ret = 0;

	if (!p->smaps)
		return pmadv_maps_parse_header(line, len, out) ? -EINVAL : 1;
	if (!looks_like_header(line, len)) {
		if (!p->pending)
			return -EINVAL; /* a field before any VMA */
		if (pmadv_maps_parse_vmflags(line, len, &vmf))
			p->cur.attrs |= vmf;
		return 0;
	}
	if (p->pending) {
		*out = p->cur;
		ret = 1;
	}
	p->pending = false;
	if (pmadv_maps_parse_header(line, len, &p->cur))
		return -EINVAL;
	p->pending = true;
	return ret;
}

int pmadv_maps_parser_end(struct pmadv_maps_parser *p,
			  struct pmadv_vma_rec *out)
{
	if (!p->pending)
		return 0;
	*out = p->cur;
	p->pending = false;
	return 1;
}

long pmadv_maps_parse_buf(const char *buf, size_t len, bool smaps,
			  int (*cb)(void *ctx, const struct pmadv_vma_rec *r),
			  void *ctx)
{
	/* Heap, not TLS: a __thread block here would cost every thread of
	 * every program linked with the library ~8 KiB. */
	struct {
		struct pmadv_maps_parser p;
		struct pmadv_vma_rec r;
	} *st = malloc(sizeof(*st));
	size_t pos = 0;
	long n = 0;
	int ret;

	if (!st)
		return -ENOMEM;
	pmadv_maps_parser_init(&st->p, smaps);
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		ret = pmadv_maps_parser_line(&st->p, buf + pos, l, &st->r);
		if (ret < 0) {
			n = ret;
			goto out;
		}
		if (ret > 0) {
			n++;
			if (cb && cb(ctx, &st->r))
				goto out;
		}
		pos += l + 1;
	}
	if (pmadv_maps_parser_end(&st->p, &st->r) > 0) {
		n++;
		if (cb)
			cb(ctx, &st->r);
	}
out:
	free(st);
	return n;
}
