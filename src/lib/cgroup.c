// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The processes of a cgroup, one handle at a time (pmadv_cgroup_*): read
 * from the kernel's list (cgroup v2 cgroup.procs; cgroup.threads in a
 * threaded cgroup; the v1 tasks file) through one buffer whose size the
 * caller bounds, never a copy of the whole list. A process is returned only
 * after its handle is open AND it is still a member: the list is a snapshot,
 * and between reading a PID and opening it the process may have left the
 * cgroup, or exited and had its PID reused by a stranger. Checking
 * /proc/PID/cgroup after the open, then that the handle's process still
 * lives, proves that what the handle names was a member after the open.
 *
 * /proc/PID/cgroup names a cgroup relative to the reader's cgroup
 * namespace. Where the mount's root lies above that namespace's root (a
 * mount inherited from outside the namespace: mountinfo shows its root as
 * "/.."), no path of the mount can be placed against those names; there
 * the check after the open reads the cgroup's own list again and looks for
 * the ID in it, which costs one read of the list per member.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "errnos.h"
#include "internal.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_DEFAULT_BUF 4096
#define CG_MIN_BUF 64
#define CG_MAX_BUF (64u << 20) /* 16 M processes remembered */
#define CG_LINE 32 /* a PID or TID line, with room to spare */

/* A file read line by line through a buffer that is never grown. */
struct lines {
	int fd;
	char *buf;
	size_t cap, start, len;
};

struct pmadv_cgroup {
	struct lines list;
	unsigned int flags;    /* pmadv_open() flags for the handles */
	unsigned int source;   /* PMADV_CGROUP_SRC_* */
	int v1;                /* a v1 hierarchy: match by controllers */
	int dirfd;             /* the cgroup, when membership is checked by
				* reading its list again, else -1 */
	bool domain_threaded;  /* v2 "domain threaded": its cgroup.procs
				* lists the processes of its threaded
				* subtree too */
	pid_t *seen;           /* processes returned, in thread lists */
	size_t nseen, capseen;
	struct pmadv_cgroup_stats st;
	char controllers[512]; /* v1: the hierarchy's, comma separated */
	char rel[];            /* the path as /proc/PID/cgroup shows it */
};

/* The next line, without its newline, NUL-terminated in place: 1, 0 at
 * the end, -EOVERFLOW for a line longer than the buffer (the rest of it
 * is skipped), or -errno of read(). */
static int next_line(struct lines *l, char **out)
{
	bool overflow = false;

	for (;;) {
		char *nl = memchr(l->buf + l->start, '\n', l->len - l->start);
		ssize_t n;

		if (nl) {
			*nl = '\0';
			*out = l->buf + l->start;
			l->start = (size_t)(nl - l->buf) + 1;
			if (overflow)
				return -EOVERFLOW;
			return 1;
		}
		if (l->start) {
			memmove(l->buf, l->buf + l->start, l->len - l->start);
			l->len -= l->start;
			l->start = 0;
		}
		if (l->len == l->cap) { /* too long: drop what we have */
			overflow = true;
			l->len = 0;
		}
		do
			n = read(l->fd, l->buf + l->len, l->cap - l->len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (!l->len)
				return 0;
			/* a last line without a newline */
			if (l->len == l->cap)
				return -EOVERFLOW;
			l->buf[l->len] = '\0';
			*out = l->buf;
			l->start = l->len = 0;
			return overflow ? -EOVERFLOW : 1;
		}
		l->len += (size_t)n;
	}
}

/* Decodes mountinfo's \ooo escapes in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (const char *r = s; *r; w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' &&
		    r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 |
				    (r[3] - '0'));
			r += 4;
		} else {
			*w = *r++;
		}
	}
	*w = '\0';
}

/* The mount of cgroupfs that holds abs (a canonical path): the path of
 * abs as the kernel shows it in /proc/PID/cgroup (the mount's root plus
 * the rest), and a v1 hierarchy's controllers from its super options. */
static int hierarchy_of(const char *abs, int v1, char *rel, size_t rellen,
			char *ctl, size_t ctllen)
{
	char buf[2 * PATH_MAX + 512], *line;
	struct lines l = { -1, buf, sizeof(buf) - 1, 0, 0 };
	size_t best = 0;
	int ret;

	l.fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (l.fd < 0)
		return -errno;
	rel[0] = '\0';
	while ((ret = next_line(&l, &line)) != 0) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[32], opts[512];
		const char *dash = ret > 0 ? strstr(line, " - ") : NULL;
		size_t mlen;

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root,
				    mnt) != 2 ||
		    sscanf(dash + 3, "%31s %*s %511s", fstype, opts) != 2)
			continue;
		if (strcmp(fstype, v1 ? "cgroup" : "cgroup2"))
			continue;
		/* the kernel writes space, tab, newline and backslash in
		 * these fields as \ooo; the root is compared decoded */
		unescape_octal(root);
		mlen = strlen(mnt);
		if (strcmp(mnt, "/") == 0)
			mlen = 0;
		if (strncmp(abs, mnt, mlen) ||
		    (abs[mlen] != '/' && abs[mlen] != '\0') ||
		    (rel[0] && mlen < best))
			continue;
		const char *head = strcmp(root, "/") || !abs[mlen] ? root : "";

		if (strlen(head) + strlen(abs + mlen) >= rellen ||
		    strlen(opts) >= ctllen)
			continue;
		best = mlen;
		strcpy(rel, head);
		strcat(rel, abs + mlen);
		strcpy(ctl, opts);
	}
	close(l.fd);
	if (!rel[0])
		return -EINVAL;
	/* A mount whose root lies above this process's cgroup namespace
	 * root ("/.."): /proc/PID/cgroup names cgroups relative to the
	 * namespace's root, which this path cannot be placed against:
	 * -EXDEV, and the caller checks members by their list instead. */
	if (!strncmp(rel, "/..", 3) && (rel[3] == '/' || !rel[3]))
		return -EXDEV;
	return 0;
}

static const char *list_name(unsigned int source)
{
	return source == PMADV_CGROUP_SRC_PROCS	    ? "cgroup.procs"
	       : source == PMADV_CGROUP_SRC_THREADS ? "cgroup.threads"
						    : "tasks";
}

/* Whether a controllers field of /proc/PID/cgroup ("cpu,cpuacct",
 * "name=systemd") names the hierarchy whose super options are ctl. */
static bool same_hierarchy(const char *field, const char *ctl)
{
	char copy[512], *save = NULL;

	if (!field[0])
		return false;
	snprintf(copy, sizeof(copy), "%s", field);
	for (char *c = strtok_r(copy, ",", &save); c;
	     c = strtok_r(NULL, ",", &save)) {
		const char *p = ctl;
		size_t n = strlen(c);
		bool found = false;

		while (!found && (p = strstr(p, c))) {
			found = (p == ctl || p[-1] == ',') &&
				(p[n] == ',' || p[n] == '\0');
			p += n;
		}
		if (!found)
			return false;
	}
	return true;
}

/* Whether cgroup path p lies below path top ("/a/b" below "/a"). */
static bool within(const char *p, const char *top)
{
	size_t n = strlen(top);

	if (n == 1 && top[0] == '/')
		return p[0] == '/';
	return !strncmp(p, top, n) && p[n] == '/';
}

/* 1 when /proc/PID[/task/TID]/cgroup puts the task in the cgroup, 0 when
 * not (or it is gone), -errno when it cannot be read for another cause. */
static int member(const struct pmadv_cgroup *cg, pid_t pid, pid_t tid)
{
	char path[64], buf[PATH_MAX + 320], *line;
	struct lines l = { -1, buf, sizeof(buf) - 1, 0, 0 };
	int ret, found = 0;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup",
			 (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	l.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (l.fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	while (!found && (ret = next_line(&l, &line)) != 0) {
		char *c1, *c2;

		if (ret == -EOVERFLOW)
			continue; /* a longer path than ours */
		if (ret < 0) {
			found = ret == -ESRCH ? 0 : ret;
			break;
		}
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		/* v2: the line "0::PATH"; v1: "N:CONTROLLERS:PATH" */
		if (cg->v1 ? !same_hierarchy(c1 + 1, cg->controllers)
			   : strcmp(line, "0:") != 0)
			continue;
		found = strcmp(c2 + 1, cg->rel) == 0 ||
			(cg->domain_threaded && within(c2 + 1, cg->rel));
		if (cg->v1)
			break;
	}
	close(l.fd);
	return found;
}

/* 1 when the cgroup's list, read again now, holds id; 0 when not (or
 * the cgroup is gone); -errno when it cannot be read. */
static int listed(const struct pmadv_cgroup *cg, pid_t id)
{
	char buf[4096], *line, *end;
	struct lines l = { -1, buf, sizeof(buf) - 1, 0, 0 };
	int ret, found = 0;

	l.fd = openat(cg->dirfd, list_name(cg->source), O_RDONLY | O_CLOEXEC);
	if (l.fd < 0)
		return errno == ENOENT || errno == ENODEV ? 0 : -errno;
	while (!found && (ret = next_line(&l, &line)) != 0) {
		if (ret < 0) {
			found = ret == -ENODEV ? 0 : ret == -EOVERFLOW ? -EIO
								    : ret;
			break;
		}
		found = strtol(line, &end, 10) == id && !*end;
	}
	close(l.fd);
	return found;
}

/* Whether the v2 cgroup at dirfd is "domain threaded" (Linux 4.14): the
 * root of a threaded subtree, whose cgroup.procs lists every process of
 * the subtree, also one whose main thread moved into a threaded child
 * (/proc/PID/cgroup then names the child). */
static bool is_domain_threaded(int dirfd)
{
	char buf[64] = "";
	int fd = openat(dirfd, "cgroup.type", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && !strncmp(buf, "domain threaded", 15);
}

static int open_list(int dirfd, const char *name, struct lines *l)
{
	ssize_t n;

	l->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0)
		return -errno;
	/* The first read: a threaded cgroup's cgroup.procs fails here. */
	do
		n = read(l->fd, l->buf, l->cap);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;

		close(l->fd);
		l->fd = -1;
		return -err;
	}
	l->start = 0;
	l->len = (size_t)n;
	return 0;
}

static int cgroup_open(const char *path, size_t bufsz, unsigned int flags,
		       struct pmadv_cgroup **out)
{
	char abs[PATH_MAX], rel[PATH_MAX], ctl[512] = "";
	struct pmadv_cgroup *cg;
	struct statfs sf;
	int dirfd, ret;
	bool by_list;
	size_t rlen;

	if (!path || !out || (flags & ~PMADV_OPEN_PIDFD))
		return -EINVAL;
	*out = NULL;
	if (!bufsz)
		bufsz = CG_DEFAULT_BUF;
	if (bufsz < CG_MIN_BUF || bufsz > CG_MAX_BUF)
		return -EINVAL;
	/* the list's IDs are the caller's; /proc must number them alike */
	ret = pmadv_proc_check();
	if (ret < 0)
		return ret;
	if (!realpath(path, abs))
		return errno == ENAMETOOLONG || errno == ENOENT ||
		       errno == ENOTDIR || errno == EACCES || errno == ELOOP
			   ? -errno
			   : -EIO;
	dirfd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if (fstatfs(dirfd, &sf) < 0) {
		ret = -errno;
		goto out_dir;
	}
	if (sf.f_type != CGROUP_SUPER_MAGIC && sf.f_type != CGROUP2_SUPER_MAGIC) {
		pmadv_debug("%s is not in a cgroup filesystem", abs);
		ret = -EMEDIUMTYPE;
		goto out_dir;
	}
	ret = hierarchy_of(abs, sf.f_type == CGROUP_SUPER_MAGIC, rel,
			   sizeof(rel), ctl, sizeof(ctl));
	by_list = ret == -EXDEV;
	if (by_list)
		pmadv_debug("%s: its mount's root lies outside this cgroup "
			    "namespace: members are checked by reading the "
			    "list again", abs);
	else if (ret < 0) {
		pmadv_debug("%s: no cgroup mount in /proc/self/mountinfo "
			    "holds it", abs);
		goto out_dir;
	}
	rlen = strlen(rel) + 1;
	/* + 8: the list buffer starts aligned, for the pid_t array a
	 * thread list keeps at its end */
	cg = calloc(1, sizeof(*cg) + rlen + 8 + bufsz);
	if (!cg) {
		ret = -ENOMEM;
		goto out_dir;
	}
	memcpy(cg->rel, rel, rlen);
	snprintf(cg->controllers, sizeof(cg->controllers), "%s", ctl);
	cg->flags = flags;
	cg->dirfd = -1;
	cg->v1 = sf.f_type == CGROUP_SUPER_MAGIC;
	cg->list.buf = (char *)(((uintptr_t)(cg->rel + rlen) + 7) &
				~(uintptr_t)7);
	cg->list.cap = bufsz;
	if (cg->v1) {
		cg->source = PMADV_CGROUP_SRC_TASKS;
		ret = open_list(dirfd, "tasks", &cg->list);
	} else {
		cg->source = PMADV_CGROUP_SRC_PROCS;
		cg->domain_threaded = is_domain_threaded(dirfd);
		ret = open_list(dirfd, "cgroup.procs", &cg->list);
		if (ret == -EOPNOTSUPP) { /* a threaded cgroup */
			cg->source = PMADV_CGROUP_SRC_THREADS;
			ret = open_list(dirfd, "cgroup.threads", &cg->list);
		}
	}
	if (ret == -ENODEV) {
		/* removed between the open of the directory and the read of
		 * its list: as if removed a moment earlier */
		pmadv_debug("%s was removed while it was being opened", abs);
		ret = -ENOENT;
	}
	if (ret < 0) {
		free(cg);
		goto out_dir;
	}
	if (cg->source != PMADV_CGROUP_SRC_PROCS) {
		/* A thread list names a process once per thread: the rest
		 * of the buffer remembers the processes returned. */
		size_t line = CG_LINE;

		cg->list.cap = line;
		if (cg->list.len > line) {
			/* the first read was larger: start again, small */
			lseek(cg->list.fd, 0, SEEK_SET);
			cg->list.len = 0;
		}
		cg->seen = (pid_t *)(void *)(cg->list.buf +
			   ((line + sizeof(pid_t) - 1) & ~(sizeof(pid_t) - 1)));
		cg->capseen = (bufsz - (size_t)((char *)cg->seen -
			       cg->list.buf)) / sizeof(pid_t);
	}
	cg->st.source = cg->source;
	pmadv_debug("cgroup %s (%s, as %s in /proc/PID/cgroup)", abs,
		    list_name(cg->source), by_list ? "?" : cg->rel);
	if (by_list) {
		cg->dirfd = dirfd;
		dirfd = -1;
	}
	*out = cg;
	ret = 0;
out_dir:
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}

PMADV_API int pmadv_cgroup_open(const char *path, size_t bufsz,
				unsigned int flags, struct pmadv_cgroup **out)
{
	int saved = errno, ret = cgroup_open(path, bufsz, flags, out);

	errno = saved;
	return (int)PMADV_RC(pmadv_cgroup_open, ret);
}

static bool seen(const struct pmadv_cgroup *cg, pid_t pid)
{
	for (size_t i = 0; i < cg->nseen; i++)
		if (cg->seen[i] == pid)
			return true;
	return false;
}

/* Opens the process of one listed ID and checks it is still a member:
 * 1 with *out, 0 to skip it, -errno. */
static int open_member(struct pmadv_cgroup *cg, pid_t id,
		       struct pmadv_target **out)
{
	struct pmadv_target *t;
	pid_t pid = id, tid = 0;
	int ret;

	if (cg->source != PMADV_CGROUP_SRC_PROCS) {
		pid = pmadv_tgid_of(id);
		if (pid == -ESRCH)
			return 0;
		if (pid < 0)
			return pid;
		if (seen(cg, pid))
			return 0;
		tid = id;
	}
	ret = pmadv_open(pid, cg->flags, &t);
	if (ret == -ESRCH || ret == -EINVAL) /* gone, or now a thread */
		return 0;
	if (ret < 0)
		return ret;
	/* After the open: the handle's process, if it still lives after
	 * the check, is the one whose membership was read. */
	if (cg->dirfd < 0)
		ret = member(cg, pid, tid);
	else if ((ret = listed(cg, id)) == 1 && tid && pmadv_tgid_of(tid) != pid)
		ret = 0; /* the thread listed is not this process's now */
	if (ret == 1 && pmadv_target_alive(t) < 0)
		ret = 0;
	if (ret <= 0) {
		if (!ret)
			pmadv_debug("PID %d left the cgroup or exited since "
				    "the list was read: skipped", (int)pid);
		pmadv_close(t);
		return ret;
	}
	if (cg->source != PMADV_CGROUP_SRC_PROCS) {
		if (cg->nseen == cg->capseen) {
			pmadv_close(t);
			return -ENOBUFS;
		}
		cg->seen[cg->nseen++] = pid;
	}
	*out = t;
	return 1;
}

static int cgroup_next(struct pmadv_cgroup *cg, struct pmadv_target **out)
{
	char *line, *end;
	int ret;

	if (!cg || !out)
		return -EINVAL;
	*out = NULL;
	for (;;) {
		long id;

		ret = next_line(&cg->list, &line);
		/* the cgroup was removed meanwhile (ENODEV from its list):
		 * it has no members left, the list ends */
		if (ret == -ENODEV)
			ret = 0;
		if (ret <= 0)
			return ret == -EOVERFLOW ? -EIO : ret;
		errno = 0;
		id = strtol(line, &end, 10);
		if (end == line || *end || id < 0 || id > INT_MAX || errno)
			return -EIO;
		cg->st.listed++;
		/* 0: a member outside the caller's PID namespace, which the
		 * kernel lists without a number it could use */
		ret = id ? open_member(cg, (pid_t)id, out) : 0;
		if (ret == 0)
			cg->st.skipped++;
		if (ret != 0)
			break;
	}
	if (ret > 0)
		cg->st.returned++;
	return ret;
}

PMADV_API int pmadv_cgroup_next(struct pmadv_cgroup *cg,
				struct pmadv_target **out)
{
	int saved = errno, ret = cgroup_next(cg, out);

	errno = saved;
	return (int)PMADV_RC(pmadv_cgroup_next, ret);
}

PMADV_API int pmadv_cgroup_stats(const struct pmadv_cgroup *cg,
				 struct pmadv_cgroup_stats *out, size_t outsz)
{
	if (!cg || !out)
		return (int)PMADV_RC(pmadv_cgroup_stats, -EINVAL);
	pmadv_struct_out(out, outsz, &cg->st, sizeof(cg->st));
	return 0;
}

PMADV_API void pmadv_cgroup_close(struct pmadv_cgroup *cg)
{
	if (!cg)
		return;
	if (cg->list.fd >= 0)
		close(cg->list.fd);
	if (cg->dirfd >= 0)
		close(cg->dirfd);
	free(cg);
}
