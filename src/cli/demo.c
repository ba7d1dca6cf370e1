// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `pmadvise demo`: the zero-setup tour. It starts a child that holds a large
 * anonymous region and a file mapping it has read, pages both out through
 * pmadv_advise, and shows what happened: the child's Rss and Swap, the
 * file's pages in the page cache, the rung that did the work and the time
 * taken. The child then checks its memory is intact. With --zram a
 * temporary swap device makes the anonymous part visible on a machine
 * without swap. With --compare the child lives in a cgroup v2 of its own
 * and the same two ranges go through `pmadvise --compare` (cgreclaim.c):
 * per-process PAGEOUT, then memory.reclaim of the bytes it reclaimed,
 * side by side. Every exit path kills the child and removes the device
 * and the cgroup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pmadvise.h"

#define DEMO_ANON_DEFAULT (256u << 20)
#define READY_TIMEOUT_MS 60000

/* What the child tells the parent once its memory is in place; or, with
 * anon 0, why it could not join its cgroup (join_err, an errno). */
struct child_hello {
	uintptr_t anon, file;
	int join_err;
};

struct demo {
	size_t anon_size, file_size;
	bool zram;
	bool compare;
	char cg[PATH_MAX];  /* --compare: the target's cgroup, or "" */
	struct guardian cg_guard; /* removes it */
	struct zram_swap z;
	int file_fd;
	char file_path[64];
	void *file_view;    /* our own mapping of the file, for mincore */
	pid_t child;
	int to_child, from_child;
	struct child_hello hello;
	struct pmadv_target *t;
};

/* The checksum the child computes before and after the advice: proof that
 * paged-out memory comes back intact. */
static uint64_t checksum(const uint64_t *p, size_t words)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < words; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Compressible but not trivially so, like a real heap: a same-filled page
 * would be stored by zram as a single word and prove little. */
static void fill_anon(uint64_t *p, size_t bytes)
{
	size_t words = bytes / sizeof(*p);

	for (size_t i = 0; i < words; i++)
		p[i] = (i / 512) * 0x9e3779b97f4a7c15ull + (i % 61);
}

static volatile uint64_t child_sink;

static void child_touch_file(const unsigned char *f, size_t bytes)
{
	uint64_t sum = 0;

	for (size_t off = 0; off < bytes; off += page_size())
		sum += f[off];
	child_sink = sum;
}

/* Moves the calling process into the cgroup at cg: 0 or -errno. */
static int join_cgroup(const char *cg)
{
	char path[PATH_MAX + 16], pid[24];
	int fd, ret = 0, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, pid, (size_t)n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

/* The target process. Never returns. Commands on `in`: 'c' checks the
 * memory and answers '1' (intact) or '0'; end of file ends the child. */
static void child_main(struct demo *d, pid_t parent, int in, int out)
{
	struct child_hello hello;
	uint64_t sum;
	void *anon, *file;
	char cmd;

	/* The parent may have died before the death signal was armed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_IGN); /* the parent decides when we stop */
	/* Holding the guardian's pipe open would keep the zram device alive
	 * for as long as we live. */
	if (d->z.guard.fd >= 0)
		close(d->z.guard.fd);
	if (d->cg_guard.fd >= 0)
		close(d->cg_guard.fd);
	/* --compare: into its cgroup before any page is charged; a refusal
	 * is told to the parent, which says why */
	memset(&hello, 0, sizeof(hello));
	if (d->cg[0] && (hello.join_err = -join_cgroup(d->cg)) > 0) {
		if (write(out, &hello, sizeof(hello)) != sizeof(hello))
			_exit(1);
		_exit(1);
	}
	anon = mmap(NULL, d->anon_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	file = mmap(NULL, d->file_size, PROT_READ, MAP_SHARED, d->file_fd, 0);
	if (anon == MAP_FAILED || file == MAP_FAILED)
		_exit(1);
	fill_anon(anon, d->anon_size);
	sum = checksum(anon, d->anon_size / 8);
	child_touch_file(file, d->file_size);
	hello.anon = (uintptr_t)anon;
	hello.file = (uintptr_t)file;
	if (write(out, &hello, sizeof(hello)) != sizeof(hello))
		_exit(1);
	for (;;) {
		ssize_t n = read(in, &cmd, 1);
		char ok;

		/* A rung that injects madvise through ptrace may interrupt
		 * this read: only end of file means "stop". */
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			break;
		ok = checksum(anon, d->anon_size / 8) == sum ? '1' : '0';
		if (write(out, &ok, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int read_timeout(int fd, void *buf, size_t len, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return cli_stopping() ? -EINTR : -ETIMEDOUT;
	n = read(fd, buf, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EPIPE;
}

static int start_child(struct demo *d)
{
	pid_t parent = getpid();
	int down[2], up[2], ret;

	if (pipe2(down, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(up, O_CLOEXEC) < 0) {
		ret = -errno;
		close(down[0]);
		close(down[1]);
		return ret;
	}
	d->child = fork();
	if (d->child == 0) {
		close(down[1]);
		close(up[0]);
		child_main(d, parent, down[0], up[1]);
	}
	ret = d->child < 0 ? -errno : 0;
	close(down[0]);
	close(up[1]);
	d->to_child = down[1];
	d->from_child = up[0];
	if (ret < 0)
		return ret;
	ret = read_timeout(d->from_child, &d->hello, sizeof(d->hello),
			   READY_TIMEOUT_MS);
	return ret;
}

static void stop_child(struct demo *d)
{
	if (d->to_child >= 0)
		close(d->to_child);
	if (d->from_child >= 0)
		close(d->from_child);
	d->to_child = d->from_child = -1;
	if (d->child > 0) {
		kill(d->child, SIGKILL);
		while (waitpid(d->child, NULL, 0) < 0 && errno == EINTR)
			;
		d->child = -1;
	}
}

/* The file is unlinked at once: nothing is left in /var/tmp whatever
 * happens to the demo, and the open descriptor keeps it alive. The pages
 * are written back before the child maps them, since reclaim drops clean
 * page cache but leaves dirty pages to writeback. */
static int make_file(struct demo *d)
{
	size_t chunk = 1u << 20;
	char *buf = xcalloc(1, chunk);
	int ret = 0;

	strcpy(d->file_path, "/var/tmp/pmadvise-demo.XXXXXX");
	d->file_fd = mkostemp(d->file_path, O_CLOEXEC);
	if (d->file_fd < 0) {
		ret = -errno;
		goto out;
	}
	unlink(d->file_path);
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (char)('a' + i % 26);
	for (size_t off = 0; off < d->file_size && !ret; off += chunk)
		ret = write_all(d->file_fd, buf, d->file_size - off < chunk ?
				d->file_size - off : chunk);
	if (!ret && fsync(d->file_fd) < 0)
		ret = -errno;
	/* --compare: written here, the pages are charged to this process's
	 * cgroup; dropped, the target's reads charge its own */
	if (!ret && d->compare)
		posix_fadvise(d->file_fd, 0, 0, POSIX_FADV_DONTNEED);
	if (!ret) {
		d->file_view = mmap(NULL, d->file_size, PROT_READ, MAP_SHARED,
				    d->file_fd, 0);
		if (d->file_view == MAP_FAILED) {
			d->file_view = NULL;
			ret = -errno;
		}
	}
out:
	free(buf);
	return ret;
}

/* Pages of the file in the page cache, seen through our own untouched
 * mapping: mincore reports the cache, not who has the page mapped. */
static long resident_pages(const struct demo *d)
{
	size_t pages = d->file_size / page_size();
	unsigned char *vec = xcalloc(pages, 1);
	long n = 0;

	if (mincore(d->file_view, d->file_size, vec) < 0) {
		free(vec);
		return -1;
	}
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

struct snapshot {
	struct mem_kb mem;
	long file_pages;
	/* the two advised ranges themselves (pmadv_residency), or err */
	struct pmadv_residency anon, file;
	int res_err;
};

static void take_snapshot(const struct demo *d, struct snapshot *s)
{
	struct iovec anon = { (void *)d->hello.anon, d->anon_size };
	struct iovec file = { (void *)d->hello.file, d->file_size };

	read_mem(d->child, &s->mem);
	s->file_pages = resident_pages(d);
	s->res_err = pmadv_residency(d->t, &anon, 1, &s->anon,
				     sizeof(s->anon));
	if (!s->res_err)
		s->res_err = pmadv_residency(d->t, &file, 1, &s->file,
					     sizeof(s->file));
}

static void demo_cleanup(struct demo *d)
{
	stop_child(d);
	pmadv_close(d->t);
	d->t = NULL;
	if (d->file_view)
		munmap(d->file_view, d->file_size);
	if (d->file_fd >= 0)
		close(d->file_fd);
	zram_swap_destroy(&d->z);
	guardian_end(&d->cg_guard);
}

static void print_setup(const struct demo *d, long long swap_kb)
{
	char a[32], f[32], s[32];

	human_size(d->anon_size, a, sizeof(a));
	human_size(d->file_size, f, sizeof(f));
	printf("pmadvise demo: MADV_PAGEOUT given to another process\n\n");
	printf("  target        PID %d, a child started by this demo\n",
	       (int)d->child);
	printf("  anonymous     %s at %#lx, written by the target\n", a,
	       (unsigned long)d->hello.anon);
	printf("  file mapping  %s at %#lx, read by the target (%s, "
	       "already unlinked)\n", f, (unsigned long)d->hello.file,
	       d->file_path);
	if (d->zram) {
		human_size((size_t)swap_kb << 10, s, sizeof(s));
		printf("  swap          %s, a temporary zram device "
		       "(removed at exit); %s of swap in all\n", d->z.dev, s);
	} else if (swap_kb > 0) {
		human_size((size_t)swap_kb << 10, s, sizeof(s));
		printf("  swap          %s configured\n", s);
	} else {
		printf("  swap          none\n");
	}
}

static void print_kb_row(const char *what, long long before, long long after)
{
	if (before < 0 || after < 0) {
		printf("  %-14s %12s %12s\n", what, "?", "?");
		return;
	}
	printf("  %-14s %9lld kB %9lld kB   (%+lld kB)\n", what, before, after,
	       after - before);
}

static void print_result(const struct demo *d, const struct pmadv_result *r,
			 double ms, const struct snapshot *b,
			 const struct snapshot *a)
{
	long pages = (long)(d->file_size / page_size());
	char adv[32];

	human_size(r->bytes, adv, sizeof(adv));
	printf("\npmadv_advise(PID %d, 2 ranges, MADV_PAGEOUT):\n",
	       (int)d->child);
	printf("  rung          %s\n", r->method ?
	       pmadv_method_name(r->method) : "none");
	printf("  time          %.1f ms, %u kernel call%s\n", ms, r->calls,
	       r->calls == 1 ? "" : "s");
	printf("  advised       %s in %zu of 2 ranges\n\n", adv, r->done);
	printf("  %-14s %12s %12s\n", "", "before", "after");
	if (!b->res_err && !a->res_err) {
		/* the ranges advised, counted page by page */
		print_kb_row("anon resident", (long long)(b->anon.resident >> 10),
			     (long long)(a->anon.resident >> 10));
		print_kb_row("anon swapped", (long long)(b->anon.swapped >> 10),
			     (long long)(a->anon.swapped >> 10));
		print_kb_row("file mapped", (long long)(b->file.resident >> 10),
			     (long long)(a->file.resident >> 10));
	} else {
		printf("  (the ranges' residency is unknown: %s)\n",
		       strerror(-(b->res_err ? b->res_err : a->res_err)));
	}
	/* the whole process, from smaps_rollup */
	print_kb_row("Rss", b->mem.rss, a->mem.rss);
	print_kb_row("Swap", b->mem.swap, a->mem.swap);
	if (b->file_pages >= 0 && a->file_pages >= 0)
		printf("  %-14s %6ld pages %6ld pages  (%ld%% -> %ld%% of the "
		       "file in the page cache)\n", "file resident",
		       b->file_pages, a->file_pages,
		       100 * b->file_pages / pages,
		       100 * a->file_pages / pages);
}

static void print_verdict(const struct demo *d, long long swap_kb,
			  const struct snapshot *b, const struct snapshot *a)
{
	long long moved = a->mem.swap - b->mem.swap;
	long dropped = b->file_pages - a->file_pages;
	char sz[32];

	putchar('\n');
	if (swap_kb <= 0) {
		printf("No swap is configured, so the kernel has nowhere to "
		       "put anonymous memory:\nMADV_PAGEOUT is accepted for it "
		       "and changes nothing (Rss stays). The file\nmapping "
		       "shows the effect instead: its clean pages left the "
		       "page cache\n(%ld pages). Run 'pmadvise demo --zram' as "
		       "root to add a temporary zram swap\ndevice and see the "
		       "anonymous memory move too.\n", dropped);
		return;
	}
	human_size(moved > 0 ? (size_t)moved << 10 : 0, sz, sizeof(sz));
	if (moved < (long long)(d->anon_size >> 11)) { /* under half */
		printf("Only %s of anonymous memory went to swap: the swap "
		       "may be full or slow\n(see /proc/swaps); %ld file "
		       "pages left the page cache.\n", sz, dropped);
		return;
	}
	printf("The target's anonymous memory went to swap (%s) and %ld of "
	       "its file pages\nleft the page cache; the target itself did "
	       "nothing.\n", sz, dropped);
}

/* Asks the child to read all of its memory back and compare. */
static void print_integrity(struct demo *d)
{
	char ok = 0;

	if (write(d->to_child, "c", 1) != 1 ||
	    read_timeout(d->from_child, &ok, 1, READY_TIMEOUT_MS) < 0) {
		printf("The target did not answer the integrity check.\n");
		return;
	}
	printf("The target read its memory back: %s.\n", ok == '1' ?
	       "every byte intact" : "CHECKSUM MISMATCH");
}

static int parse_demo_args(struct demo *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zram", no_argument, NULL, 'z' },
		{ "compare", no_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "zs:h", opts, NULL)) != -1) {
		switch (c) {
		case 'z':
			d->zram = true;
			break;
		case 'c':
			d->compare = true;
			break;
		case 's':
			if (parse_size(optarg, &d->anon_size) < 0 ||
			    d->anon_size < (1u << 20)) {
				fprintf(stderr, "%s demo: --size '%s': expected "
					"a size of at least 1M\n", progname,
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			printf("Usage: %s demo [--zram] [--compare] [--size "
			       "SIZE]\n", progname);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s demo: unexpected argument '%s'\n",
			progname, argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

/* From /proc rather than libcap: the tool itself does not link libcap,
 * and uid 0 without capabilities must not pass for root here. */
static bool have_cap_sys_admin(void)
{
	char line[256];
	bool yes = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			yes = (strtoull(line + 7, NULL, 16) >> 21) & 1;
	fclose(f);
	return yes;
}

static int demo_fail(const char *what, int err)
{
	if (err == -EINTR && cli_stopping())
		return EXIT_SIGNAL_BASE + cli_signal;
	fprintf(stderr, "%s demo: %s: %s\n", progname, what, strerror(-err));
	return EXIT_SYSTEM;
}

/* The first cgroup2 mount of /proc/self/mounts: 0 with its path, or
 * -ENOENT. */
static int cgroup2_mount(char *out, size_t len)
{
	char line[PATH_MAX + 256];
	FILE *f = fopen("/proc/self/mounts", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], type[32];

		/* a mount point with a space or newline (\040) is skipped */
		if (sscanf(line, "%*s %4095s %31s", mnt, type) == 2 &&
		    !strcmp(type, "cgroup2") && !strchr(mnt, '\\') &&
		    strlen(mnt) < len) {
			strcpy(out, mnt);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

/* The guardian's undo: the cgroup, once its one member is gone (the
 * target dies with the demo, PR_SET_PDEATHSIG; its reaping may take a
 * moment). */
static void remove_cgroup(void *arg)
{
	const char *cg = arg;

	for (int i = 0; i < 500; i++) {
		if (rmdir(cg) == 0 || errno != EBUSY)
			return;
		usleep(10000);
	}
	fprintf(stderr, "%s demo: could not remove the cgroup %s: %s\n",
		progname, cg, strerror(errno));
}

/* --compare: a cgroup of the target's own, directly below the cgroup v2
 * root, where memory.reclaim works; or the exit status, said why. */
static int make_cgroup(struct demo *d)
{
	char mnt[PATH_MAX];
	int st;

	if (cgroup2_mount(mnt, sizeof(mnt)) < 0) {
		fprintf(stderr, "%s demo: --compare: no cgroup2 filesystem is "
			"mounted (/proc/self/mounts): memory.reclaim needs "
			"cgroup v2 with the memory controller\n", progname);
		return EXIT_NOT_SUPPORTED;
	}
	/* pmadvise-demo-PID, or -PID-N where that exists (a demo of the
	 * same PID in another PID namespace, or one killed with its
	 * guardian). The guardian first: killed right after the mkdir, the
	 * demo still leaves no cgroup behind (its undo finds none if there
	 * is none); dismissed where the mkdir fails, since what is there is
	 * not ours. */
	for (int i = 0;; i++) {
		int err;

		if ((size_t)snprintf(d->cg, sizeof(d->cg), i ?
				     "%s/pmadvise-demo-%d-%d" :
				     "%s/pmadvise-demo-%d", mnt, (int)getpid(),
				     i) >= sizeof(d->cg)) {
			fprintf(stderr, "%s demo: --compare: the cgroup2 "
				"mount's path is too long\n", progname);
			d->cg[0] = '\0';
			return EXIT_SYSTEM;
		}
		st = guardian_start(&d->cg_guard, "pmadvise-cgroup",
				    remove_cgroup, d->cg);
		if (st < 0) {
			fprintf(stderr, "%s demo: --compare: cannot start the "
				"process that removes the cgroup at exit: %s\n",
				progname, strerror(-st));
			d->cg[0] = '\0';
			return EXIT_SYSTEM;
		}
		if (mkdir(d->cg, 0755) == 0)
			break;
		err = errno;
		guardian_dismiss(&d->cg_guard);
		if (err == EEXIST && i < 16)
			continue;
		fprintf(stderr, "%s demo: --compare: cannot create the cgroup "
			"%s: %s\n", progname, d->cg, strerror(err));
		d->cg[0] = '\0';
		return err == EACCES || err == EPERM || err == EROFS
			       ? EXIT_NO_PERMISSION
			       : EXIT_SYSTEM;
	}
	st = cgreclaim_usable(d->cg);
	if (st) {
		guardian_dismiss(&d->cg_guard);
		rmdir(d->cg);
		d->cg[0] = '\0';
	}
	return st;
}

/* The target could not join its cgroup: why, in one line; the status. */
static int join_failed(const struct demo *d)
{
	int err = d->hello.join_err;

	fprintf(stderr, "%s demo: --compare: the target cannot join the "
		"cgroup %s: %s (%s)%s\n", progname, d->cg, strerror(err),
		errno_name(err), err == ENOENT
		? "; this process is in a cgroup namespace that the cgroup "
		  "lies outside of (the cgroup2 mount, with nsdelegate, was "
		  "inherited from outside it): run the demo outside the "
		  "namespace"
		: "");
	return err == ENOENT ? EXIT_NOT_SUPPORTED
	       : err == EACCES || err == EPERM ? EXIT_NO_PERMISSION
					       : EXIT_SYSTEM;
}

static int setup(struct demo *d)
{
	char msg[256];
	int ret;

	if (d->compare && (ret = make_cgroup(d)))
		return ret;

	if (d->zram) {
		if (!have_cap_sys_admin()) {
			fprintf(stderr, "%s demo: --zram needs root "
				"(CAP_SYS_ADMIN): it creates a swap device "
				"(zram, swapon)\n", progname);
			return EXIT_NO_PERMISSION;
		}
		/* Twice the region: room for it uncompressed and more. */
		ret = zram_swap_create(&d->z, 2 * d->anon_size, msg,
				       sizeof(msg));
		if (ret < 0) {
			fprintf(stderr, "%s demo: --zram: %s\n", progname, msg);
			return EXIT_SYSTEM;
		}
	}
	ret = make_file(d);
	if (ret < 0)
		return demo_fail("cannot create the file in /var/tmp", ret);
	ret = start_child(d);
	if (ret < 0)
		return demo_fail("the target process did not start", ret);
	if (!d->hello.anon)
		return join_failed(d);
	ret = pmadv_open(d->child, 0, &d->t);
	if (ret < 0)
		return demo_fail("pmadv_open", ret);
	return 0;
}

static int advise_and_show(struct demo *d)
{
	struct pmadv_opts o = PMADV_OPTS_INIT;
	struct pmadv_result r;
	struct snapshot b, a;
	struct iovec iov[2];
	long long swap_kb = 0;
	char msg[2048];
	ssize_t ret;
	double t0, ms;

	iov[0].iov_base = (void *)d->hello.anon;
	iov[0].iov_len = d->anon_size;
	iov[1].iov_base = (void *)d->hello.file;
	iov[1].iov_len = d->file_size;
	o.flags = PMADV_F_CONTINUE;
	o.cancel = &cli_cancel;
	swap_total_kb(&swap_kb);
	print_setup(d, swap_kb);
	take_snapshot(d, &b);
	t0 = now_ms();
	ret = pmadv_advise(d->t, iov, 2, ADVICE_PAGEOUT, &o, &r);
	ms = now_ms() - t0;
	if (ret < 0) {
		if (cli_stopping())
			return EXIT_SIGNAL_BASE + cli_signal;
		ret = explain_target_error(d->t, d->child, ADVICE_PAGEOUT, 0,
					   (int)-ret, false, msg, sizeof(msg));
		fprintf(stderr, "\n%s demo: %s\n", progname, msg);
		return (int)ret;
	}
	take_snapshot(d, &a);
	print_result(d, &r, ms, &b, &a);
	print_verdict(d, swap_kb, &b, &a);
	print_integrity(d);
	return r.nfailed ? EXIT_SOME_FAILED : EXIT_ALL_ADVISED;
}

/* --compare: `pmadvise --cgroup CG --compare --range ANON --range FILE`
 * over the target's cgroup, then the target's own check. */
static int compare_and_show(struct demo *d)
{
	struct cli_range r[2] = { { d->hello.anon, d->anon_size },
				  { d->hello.file, d->file_size } };
	struct cli_opts o;
	char a[32], f[32];
	int ret;

	memset(&o, 0, sizeof(o));
	o.advice = ADVICE_PAGEOUT;
	o.flags = PMADV_F_CONTINUE;
	o.swappiness = -1;
	o.compare = true;
	o.cgroup = d->cg;
	o.ranges = r;
	o.nranges = 2;
	human_size(d->anon_size, a, sizeof(a));
	human_size(d->file_size, f, sizeof(f));
	printf("pmadvise demo --compare: per-process MADV_PAGEOUT against the "
	       "cgroup's\n"
	       "memory.reclaim, on the same memory\n\n");
	printf("  target        PID %d, alone in the cgroup %s\n",
	       (int)d->child, d->cg);
	printf("  memory        %s anonymous (written) and %s of a file "
	       "(read)\n", a, f);
	printf("  swap          %s\n\n", d->zram ? d->z.dev : "as configured");
	fflush(stdout);
	ret = run_cgreclaim(&o);
	if (cli_stopping()) /* asked to stop: no check of 256 MiB more */
		return ret;
	putchar('\n');
	print_integrity(d);
	return ret;
}

int demo_main(int argc, char **argv)
{
	struct demo d;
	int ret;

	memset(&d, 0, sizeof(d));
	d.z.id = -1;
	d.z.guard.fd = -1;
	d.cg_guard.fd = -1;
	d.file_fd = d.to_child = d.from_child = -1;
	d.anon_size = DEMO_ANON_DEFAULT;
	ret = parse_demo_args(&d, argc, argv);
	if (ret)
		return ret < 0 ? 0 : ret;
	d.anon_size -= d.anon_size % page_size();
	d.file_size = d.anon_size / 4;
	d.file_size -= d.file_size % page_size();
	fflush(stdout);
	signals_install();
	ret = setup(&d);
	if (!ret && cli_stopping())
		ret = EXIT_SIGNAL_BASE + cli_signal;
	if (!ret)
		ret = d.compare ? compare_and_show(&d) : advise_and_show(&d);
	demo_cleanup(&d);
	if (cli_stopping() && ret < EXIT_SIGNAL_BASE)
		ret = EXIT_SIGNAL_BASE + cli_signal;
	return ret;
}
