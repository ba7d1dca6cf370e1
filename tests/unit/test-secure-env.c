// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The library's environment is ignored in a privileged program: a copy of
 * this program made set-user-ID (to nobody, run by root: AT_SECURE) must
 * not see PMADV_METHODS, which the same copy without the bit sees. The
 * library is linked in statically, since the loader ignores $ORIGIN and
 * LD_LIBRARY_PATH in such a program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procmadvise.h"

/* Child: what pmadv_diagnose answers about itself under a PMADV_METHODS
 * that is not a list of methods. */
static int child(void)
{
	struct pmadv_target *t;
	char why[256];
	int ret = pmadv_open(getpid(), 0, &t);

	if (ret < 0)
		return 3;
	ret = pmadv_diagnose(t, MADV_COLD, PMADV_METHOD_SYSCALL, why,
			     sizeof(why));
	printf("secure=%lu einval=%d\n", getauxval(AT_SECURE),
	       ret == -EINVAL && strstr(why, "PMADV_METHODS") != NULL);
	pmadv_close(t);
	return 0;
}

static int copy(const char *to, mode_t mode, uid_t uid)
{
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	struct stat st;
	int ok;

	if (in < 0 || out < 0 || fstat(in, &st) < 0)
		return -1;
	ok = sendfile(out, in, NULL, (size_t)st.st_size) == st.st_size &&
	     fchown(out, uid, (gid_t)-1) == 0 && fchmod(out, mode) == 0;
	close(in);
	close(out);
	return ok ? 0 : -1;
}

/* Runs path child with PMADV_METHODS=garbage; its one line in out. */
static int run(const char *path, char *out, size_t len)
{
	int p[2], st;
	pid_t pid;
	ssize_t n;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		setenv("PMADV_METHODS", "garbage", 1);
		execl(path, path, "child", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, len - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			       WEXITSTATUS(st) == 0
		       ? 0
		       : -1;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/pmadv-secure-XXXXXX", plain[64], suid[64];
	char a[128], b[128];
	int fail = 0;

	if (argc > 1 && !strcmp(argv[1], "child"))
		return child();
#if defined(__SANITIZE_ADDRESS__)
	/* the sanitizer runtime will not start in a set-user-ID program */
	printf("SKIP: not under AddressSanitizer\n");
	return 77;
#endif
	if (geteuid() != 0) {
		const char *ci = getenv("CI");

		printf("SKIP: needs root\n");
		return ci && !strcmp(ci, "true") ? 1 : 77;
	}
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		return 1;
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(suid, sizeof(suid), "%s/suid", dir);
	if (copy(plain, 0755, 0) < 0 || copy(suid, 04755, 65534) < 0 ||
	    run(plain, a, sizeof(a)) < 0 || run(suid, b, sizeof(b)) < 0) {
		printf("FAIL: could not set up or run the copies\n");
		fail = 1;
	} else {
		printf("plain: %ssuid:  %s", a, b);
		if (strcmp(a, "secure=0 einval=1\n")) {
			printf("FAIL: the plain copy did not see "
			       "PMADV_METHODS\n");
			fail = 1;
		}
		if (strcmp(b, "secure=1 einval=0\n")) {
			printf("FAIL: the set-user-ID copy saw "
			       "PMADV_METHODS\n");
			fail = 1;
		}
	}
	unlink(plain);
	unlink(suid);
	rmdir(dir);
	return fail;
}
