// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What this guest kernel offers the library, found by trying it (never by
 * its version number): pidfd_open, which advice process_madvise accepts
 * for another process and for the caller itself, PROCMAP_QUERY and
 * process_mrelease. Prints one line, "PMADV-KERNEL <release>: ...", that
 * README's matrix and libprocmadvise(7) quote, and checks what holds on
 * every kernel whatever it offers: each answer is "done" or the one
 * errno that means "not here"; advice accepted for another process is
 * accepted for the caller too and really acts (a remote MADV_COLD takes
 * the target's pages off the referenced list); advice that can destroy
 * data is never accepted for another process.
 */
#include <sys/utsname.h>

#include "vmtest.h"

#define PAGE 4096UL
#define HPAGE (2UL << 20)

#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* PROCMAP_QUERY (6.11), which the host's linux/fs.h (6.1) lacks: the
 * command encodes the full 104-byte struct procmap_query, but the kernel
 * reads and writes only q.size bytes, so the head up to the VMA's bounds
 * is enough here. */
struct procmap_query_head {
	uint64_t size, query_flags, query_addr, vma_start, vma_end;
};
#define PROCMAP_QUERY _IOC(_IOC_READ | _IOC_WRITE, 'f', 17, 104)

static const struct {
	int advice;
	const char *name;
	int destructive;
} advices[] = {
	{ MADV_WILLNEED, "WILLNEED", 0 },
	{ MADV_COLD, "COLD", 0 },
	{ MADV_PAGEOUT, "PAGEOUT", 0 },
	{ MADV_COLLAPSE, "COLLAPSE", 0 },
	{ MADV_POPULATE_READ, "POPULATE_READ", 0 },
	{ MADV_DONTNEED, "DONTNEED", 1 },
	{ MADV_FREE, "FREE", 1 },
};
#define NADV (sizeof(advices) / sizeof(advices[0]))

/* A 2 MiB-aligned anonymous huge-page-sized region: MADV_COLLAPSE refuses
 * anything smaller, so only here does its EINVAL mean "not accepted". */
static char *region;
static char *raw; /* the mapping it lies in */

static void touch(void *arg)
{
	(void)arg;
	vt_touch(region, HPAGE);
}

/* 0 where the kernel took the advice, else -errno. */
static int advise(int pidfd, int advice)
{
	struct iovec iov = { region, HPAGE };

	return syscall(SYS_process_madvise, pidfd, &iov, 1, advice, 0) < 0 ? -errno : 0;
}

/*
 * Appends the names of the advice accepted; returns a bit per entry. Each
 * advice gets memory in the same state, touched and resident (a page
 * already paged out, say, would make MADV_COLLAPSE refuse for the memory's
 * sake): a fresh target for another process, the region touched again for
 * the caller itself (selffd).
 */
static unsigned probe_advice(int selffd, char *out, size_t size)
{
	const char *who = selffd >= 0 ? "self" : "remote";
	unsigned mask = 0;
	size_t i;

	out[0] = '\0';
	for (i = 0; i < NADV; i++) {
		struct vt_target t = { -1, -1 };
		int r;

		if (selffd >= 0) {
			vt_touch(region, HPAGE);
			r = advise(selffd, advices[i].advice);
		} else {
			t = vt_spawn(touch, NULL);
			r = advise(t.pidfd, advices[i].advice);
			vt_kill(&t);
		}
		/* Accepted advice may still fail for the memory (COLLAPSE
		 * with EAGAIN, say); a refused one is always EINVAL. */
		CHECK(r == 0 || r == -EINVAL || r == -EAGAIN || r == -ENOMEM,
		      "%s MADV_%s: unexpected %s", who, advices[i].name, strerror(-r));
		if (r == -EINVAL)
			continue;
		mask |= 1u << i;
		snprintf(out + strlen(out), size - strlen(out), "%s%s",
			 out[0] ? "," : "", advices[i].name);
	}
	if (!out[0])
		snprintf(out, size, "none");
	return mask;
}

static const char *procmap_query(void)
{
	struct procmap_query_head q;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		vt_die("open /proc/self/maps");
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uintptr_t)region;
	r = ioctl(fd, PROCMAP_QUERY, &q) ? -errno : 0;
	close(fd);
	CHECK(r == 0 || r == -ENOTTY, "PROCMAP_QUERY: %s", strerror(-r));
	if (r)
		return "no";
	CHECK(q.vma_start <= (uintptr_t)region && q.vma_end >= (uintptr_t)region + HPAGE,
	      "PROCMAP_QUERY: VMA %#llx-%#llx misses the region at %p",
	      (unsigned long long)q.vma_start, (unsigned long long)q.vma_end,
	      (void *)region);
	return "yes";
}

int main(void)
{
	char remote[128], self[128];
	unsigned rmask, smask;
	struct vt_target t;
	struct utsname u;
	const char *mrelease;
	int selffd, r;
	size_t i;
	long ref, after;

	raw = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		vt_die("mmap");
	region = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	vt_touch(region, HPAGE);
	uname(&u);

	selffd = vt_pidfd_open(getpid());
	if (selffd < 0) {
		CHECK(errno == ENOSYS, "pidfd_open: %s", strerror(errno));
		printf("PMADV-KERNEL %s: pidfd_open no\n", u.release);
		return vt_finish("t_kernel");
	}
	t = vt_spawn(touch, NULL);

	r = advise(t.pidfd, MADV_COLD);
	if (r == -ENOSYS) {
		snprintf(remote, sizeof(remote), "no process_madvise");
		snprintf(self, sizeof(self), "no process_madvise");
		rmask = smask = 0;
	} else {
		rmask = probe_advice(-1, remote, sizeof(remote));
		smask = probe_advice(selffd, self, sizeof(self));
		/* Where process_madvise exists, another process could be
		 * given COLD and PAGEOUT from the first release on. */
		CHECK((rmask & 6u) == 6u, "remote COLD and PAGEOUT refused: %s", remote);
		CHECK((smask & rmask) == rmask,
		      "advice accepted for another process refused for the caller: %s vs %s",
		      remote, self);
		for (i = 0; i < NADV; i++)
			CHECK(!(advices[i].destructive && (rmask & (1u << i))),
			      "destructive MADV_%s accepted for another process",
			      advices[i].name);
		/* The accepted COLD acts: the target's pages are no longer
		 * referenced (not always all of them: pages still in a
		 * per-CPU LRU batch keep their flag). */
		vt_kill(&t);
		t = vt_spawn(touch, NULL);
		ref = vt_smaps_kb(t.pid, (uintptr_t)raw, "Referenced:");
		CHECK(advise(t.pidfd, MADV_COLD) == 0, "remote MADV_COLD");
		after = vt_smaps_kb(t.pid, (uintptr_t)raw, "Referenced:");
		CHECK(ref >= 1000 && after >= 0 && after <= ref / 4,
		      "Referenced %ld kB -> %ld kB after a remote MADV_COLD", ref, after);
	}

	/* A live process that is not exiting: EINVAL where the call exists. */
	r = syscall(SYS_process_mrelease, t.pidfd, 0) < 0 ? -errno : 0;
	CHECK(r == -EINVAL || r == -ENOSYS, "process_mrelease: %s", strerror(-r));
	mrelease = r == -ENOSYS ? "no" : "yes";

	printf("PMADV-KERNEL %s: pidfd_open yes; process_madvise for another process: %s; "
	       "for itself: %s; PROCMAP_QUERY %s; process_mrelease %s\n",
	       u.release, remote, self, procmap_query(), mrelease);
	vt_kill(&t);
	close(selffd);
	return vt_finish("t_kernel");
}
