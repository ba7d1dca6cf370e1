/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pmadvise: declarations shared by the files of the command-line tool.
 * Nothing here is part of the library's API.
 */
#ifndef PMADVISE_CLI_H
#define PMADVISE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <libsmartcols/libsmartcols.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "procmadvise.h"

/* Exit statuses, documented in pmadvise(8). */
enum {
	EXIT_ALL_ADVISED = 0,
	EXIT_SOME_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_NO_PERMISSION = 3,
	EXIT_TARGET_GONE = 4,
	EXIT_NOT_SUPPORTED = 5,
	EXIT_TIMEOUT = 6,
	EXIT_SYSTEM = 7,
	EXIT_TARGET_BUSY = 8,
	EXIT_SIGNAL_BASE = 128,
};

/* Advice values from the kernel's uapi, for systems whose headers are
 * older than the advice. */
/* Why EXDEV from pmadv_open or pmadv_cgroup_open. */
#define PROC_FOREIGN                                                       \
	"/proc here is the /proc of another PID namespace, where this "    \
	"number names another process (a new PID namespace needs a /proc " \
	"of its own: unshare --mount-proc)"
#define ADVICE_COLD 20
#define ADVICE_PAGEOUT 21
#define ADVICE_POPULATE_READ 22
#define ADVICE_POPULATE_WRITE 23
#define ADVICE_COLLAPSE 25

/* One address range given with --range. */
struct cli_range {
	uintptr_t start;
	size_t len;
};

/* Which VMAs to pick when the ranges come from the target's layout. */
enum {
	SEL_ANON = 0x1,
	SEL_FILE = 0x2,
	SEL_SHARED = 0x4,
	SEL_ALL = 0x8,
};

/* How tables print (output.c): the options util-linux's tools share. */
struct out_opts {
	bool json;              /* -J, --json */
	bool raw;               /* -r, --raw */
	bool noheadings;        /* -n, --noheadings */
	bool all;               /* --output-all */
	bool list;              /* --list-columns */
	const char *columns;    /* -o, --output: NULL for the default */
};

struct cli_opts {
	int advice;
	unsigned int methods;   /* 0: every rung (auto) */
	unsigned int flags;     /* PMADV_F_* */
	int timeout_ms;         /* 0: none */
	struct out_opts out;
	bool short_n;           /* -n itself, not --noheadings */
	bool dry_run;
	bool verbose;
	bool hold;
	unsigned int select;    /* SEL_* */
	size_t min_size;
	struct cli_range *ranges;
	size_t nranges;
	const char *cgroup;
	pid_t *pids;
	size_t npids;
	/* budgets and pacing (pace.c); 0: none */
	size_t max_bytes;       /* --max-bytes: the whole run */
	unsigned int percent;   /* --percent: of each process's bytes */
	int time_ms;            /* --time: the whole run */
	size_t rate;            /* --rate: bytes per second */
	/* cgroup reclaim (cgreclaim.c) */
	const char *via;        /* --via: "memory.reclaim", NULL */
	int swappiness;         /* --swappiness; -1: not given */
	bool compare;           /* --compare */
};

/* Memory of a process from /proc/PID/smaps_rollup, in KiB; -1 unknown. */
struct mem_kb {
	long long rss;
	long long swap;
};

/* What execve changes in a process and nothing else does: its program
 * and where the kernel put its stack and arguments (/proc/PID/stat). */
struct exec_id {
	unsigned long long start_stack, arg_start, env_end;
	unsigned long long dev, ino; /* of /proc/PID/exe */
};

/* A range whose VMA no longer matched after advising. */
struct cli_change {
	uintptr_t start, end;
	unsigned int what; /* PMADV_CHANGE_* */
};

/* Outcome of one process, as reported. */
enum proc_status {
	PROC_OK,          /* everything advised (or listed, in a dry run) */
	PROC_PARTIAL,     /* some ranges advised, some failed */
	PROC_FAILED,      /* nothing advised */
};

struct proc_report {
	pid_t pid;
	int advice;             /* the request's, for the words of its errors */
	char comm[64];
	enum proc_status status;
	int error;              /* positive errno of the process-level error */
	int exit_class;         /* EXIT_* this process contributes */
	char message[1024];     /* a sentence a person can act on, or "" */
	struct iovec *iov;      /* the ranges chosen */
	size_t n;
	int *errors;            /* per range: 0 done, errno, or -1 not tried */
	size_t bytes_total;
	struct pmadv_result res;
	struct mem_kb before, after;
	/* The chosen ranges' residency (pmadv_residency) before and after;
	 * res_*_err: 0, or the positive errno that left it unknown. */
	struct pmadv_residency res_before, res_after;
	int res_before_err, res_after_err;
	char note[512];         /* what the residency says of the effect */
	const char *stopped;    /* the budget that ended it: "max_bytes",
				 * "percent", "time"; NULL */
	size_t partial;         /* the range a budget stopped inside, whose
				 * first partial_bytes were advised (when
				 * partial_bytes is not 0) */
	size_t partial_bytes;
	double ms;
	bool attempted;         /* pmadv_advise ran */
	bool hold_failed;       /* the error is --hold's */
	double hold_at;         /* now_ms() as --hold was asked for */
	bool hold_expired;      /* --hold's lease (--timeout) ended before
				 * the release: the target ran again */
	struct exec_id exec;    /* the program when the request began */
	bool exec_seen;         /* it ran execve before the request ended */
	size_t nchanged;        /* advised ranges whose VMA changed meanwhile */
	struct cli_change *changed;
	void *sel;              /* select.c's state between select and finish */
};

/* parse.c */
int parse_size(const char *s, size_t *out);
int parse_addr(const char *s, uintptr_t *out);
int parse_range(const char *s, struct cli_range *out);
int parse_pid(const char *s, pid_t *out);
int parse_ms(const char *s, int *out);
/* A signal: a number, or a name with or without SIG (KILL, SIGTERM). */
int parse_signal(const char *s, int *out);
/* A duration: digits with ms, s, m or h (none: seconds), in ms (> 0). */
int parse_duration(const char *s, int *ms);
/* SIZE or SIZE/s, > 0. */
int parse_rate(const char *s, size_t *out);
int parse_percent(const char *s, unsigned int *out);
/* memory.reclaim's swappiness=: 0 to 200. */
int parse_swappiness(const char *s, int *out);

/* util.c */
extern const char *progname;
void out_of_memory(void) __attribute__((noreturn));
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
double now_ms(void);
const char *errno_name(int err);
void human_size(size_t bytes, char *buf, size_t len);
size_t utf8_len(const unsigned char *p);
void human_str(char *out, size_t len, const char *in);
size_t page_size(void);
int write_all(int fd, const void *buf, size_t len);

/* procinfo.c */
int read_mem(pid_t pid, struct mem_kb *out);
void read_comm(pid_t pid, char *buf, size_t len);
/* The digits of the largest PID (kernel.pid_max less one). */
unsigned int pid_width(void);
char read_state(pid_t pid);
pid_t thread_in_state(pid_t pid, const char *states);
/* The process (thread group) task tid belongs to, or -errno. */
pid_t read_tgid(pid_t tid);
int read_exec_id(pid_t pid, struct exec_id *out);
bool same_program(const struct exec_id *a, const struct exec_id *b);
/* PF_KTHREAD in /proc/PID/stat: no user memory, no signals. */
bool is_kernel_thread(pid_t pid);
int swap_total_kb(long long *out);

/* explain.c */
int explain_target_error(struct pmadv_target *t, pid_t pid, int advice,
			 unsigned int methods, int err, bool held, char *msg,
			 size_t len);
const char *range_reason(int err, int advice);
/* The rungs the library will try for --method's mask (0: all), narrowed
 * by PMADV_METHODS as the library narrows it. */
unsigned int effective_methods(unsigned int methods);
/* The documented exit status for a process that failed with err. */
int exit_class_of(int err);

/* signals.c */
extern volatile sig_atomic_t cli_cancel; /* the library's cancel flag */
extern volatile sig_atomic_t cli_signal;  /* the signal that stops us */
extern volatile sig_atomic_t cli_timed_out;
/* What a forced exit leaves on stdout, for its message (report.c). */
enum {
	REPORT_NONE,    /* nothing yet */
	REPORT_ROWS,    /* a table: a row for each process done */
	REPORT_JSON,    /* nothing: the document comes at the end */
	REPORT_CLOSING, /* the document, or the default view's ranges,
			 * notes and total, being written */
};
extern volatile sig_atomic_t cli_report;
bool cli_stopping(void);
void signals_install(void);
int signals_grace(void);
void signals_grace_disarm(void);
void deadline_arm(int ms);
void deadline_disarm(void);

/* select.c: the ranges to advise in one target. */
int select_ranges(struct pmadv_target *t, const struct cli_opts *o,
		  struct proc_report *p);
void select_finish(struct pmadv_target *t, const struct cli_opts *o,
		   struct proc_report *p);

/* pace.c: the run's budgets and pacing. */
struct pace {
	double end;             /* now_ms() of --time's end, or 0 */
	double due;             /* now_ms() when the next call may start */
	size_t left;            /* of --max-bytes; SIZE_MAX: none */
	size_t rate, quantum;   /* --rate; the most bytes per call then */
	const char *stopped;    /* a budget of the run ended it */
};
void pace_init(struct pace *pc, const struct cli_opts *o);
/* pmadv_advise over p's ranges within the budgets, into p->res and
 * p->errors: the bytes advised (also when a budget ended it, with
 * p->stopped set), or the -errno that ended it. */
ssize_t pace_advise(struct pace *pc, struct pmadv_target *t,
		    const struct cli_opts *o, struct proc_report *p,
		    struct pmadv_opts *opts);

/* run.c */
int run_advise(const struct cli_opts *o);
/* The exit status so far, with one process's class added: 0 when
 * everything worked; the shared class when every failure was of one kind
 * (all "no permission", all "gone"...); 1 for a mix. */
int combine_status(int status, int cls);

/* report.c */
struct report_state;
/* 0, or EXIT_USAGE after naming an unknown column of -o. */
int report_check_columns(const struct cli_opts *o);
void report_list_columns(const struct cli_opts *o);
struct report_state *report_begin(const struct cli_opts *o, size_t ntargets);
void report_process(struct report_state *rs, const struct proc_report *p);
void report_progress(struct report_state *rs, size_t done, pid_t pid);
/* A budget of the run (--max-bytes, --time) ended it, before the last
 * not_reached processes. */
void report_budget(struct report_state *rs, const char *stopped,
		   size_t not_reached);
int report_end(struct report_state *rs, int status);

/* output.c: tables, raw lines and JSON through libsmartcols. */
/* OUT_LIST: items separated by newlines; a JSON array. */
enum { OUT_STR, OUT_NUM, OUT_BOOL, OUT_LIST };
struct out_column {
	const char *key;        /* JSON key; upper case in a table */
	int type;               /* OUT_* */
	int flags;              /* SCOLS_FL_* of its table column */
	bool deflt;             /* in a table without -o */
	const char *help;       /* for --list-columns */
	unsigned int width;     /* of a streamed table: the widest cell
				 * expected (0: its header's) */
};
/* The columns -o/--output-all/the default pick, as indexes into cols
 * (sel has room for ncols); -1 after a usage message naming the column. */
int out_select(const struct out_opts *oo, const struct out_column *cols,
	       size_t ncols, int *sel, size_t *nsel);
void out_list_columns(const struct out_opts *oo,
		      const struct out_column *cols, size_t ncols);
struct libscols_table *out_table(const struct out_opts *oo, const char *name);
void out_add_columns(struct libscols_table *tb, const struct out_column *cols,
		     const int *sel, size_t nsel);
/* A table printed a line at a time (out_stream), with widths fixed up
 * front from each column's header and width; not for JSON, nothing to
 * fix in raw lines. */
void out_fix_widths(const struct out_opts *oo, struct libscols_table *tb,
		    const struct out_column *cols, const int *sel,
		    size_t nsel);
/* Prints the lines added since the last call, the header before the
 * first (unless --noheadings), flushes them and forgets them. */
void out_stream(struct libscols_table *tb);
struct libscols_line *out_line(struct libscols_table *tb);
/* Cell i of a line; a NULL string stays empty (null in JSON). */
void out_str(const struct out_opts *oo, struct libscols_line *ln, size_t i,
	     const char *s);
void out_fmt(struct libscols_line *ln, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A byte count: exact in raw and JSON, "1.5 MiB" in a table. */
void out_size(const struct out_opts *oo, struct libscols_line *ln, size_t i,
	      unsigned long long bytes);
/* The table as one more key of a JSON object being written to f:
 * ',\n   "name": [...]'. */
void out_json_table(FILE *f, struct libscols_table *tb);

/* cgreclaim.c: --via memory.reclaim and --compare. */
/* A usage error of those options, or NULL. */
const char *cgreclaim_check(const struct cli_opts *o);
int run_cgreclaim(const struct cli_opts *o);
/* 0 when memory.reclaim of cg can be written, else the exit status after
 * a line on stderr that says why not. */
int cgreclaim_usable(const char *cg);

/* demo.c */
int demo_main(int argc, char **argv);

/* reap.c: pmadvise reap */
int reap_main(int argc, char **argv);

/* util.c: a guardian, a process forked to run undo(arg) once pmadvise
 * closes g->fd or dies (the kernel closes the pipe then too, SIGKILL
 * included), so that what undo undoes is undone on every exit path.
 * guardian_start: 0 or -errno. guardian_end: closes the pipe and waits
 * for the guardian; false when there was none. guardian_dismiss: ends it
 * (SIGKILL) without the undo. A child of pmadvise that
 * must not delay the undo closes g->fd. */
struct guardian {
	pid_t pid;         /* 0: none */
	int fd;            /* -1: none */
};
int guardian_start(struct guardian *g, const char *name,
		   void (*undo)(void *), void *arg);
bool guardian_end(struct guardian *g);
void guardian_dismiss(struct guardian *g);

/* zram.c */
struct zram_swap {
	int id;            /* -1: none */
	char dev[64];
	bool made_node;    /* dev was created by us: unlink it */
	bool swapped_on;
	struct guardian guard; /* removes the device */
};
int zram_swap_create(struct zram_swap *z, size_t bytes, char *msg,
		     size_t len);
void zram_swap_destroy(struct zram_swap *z);

#endif /* PMADVISE_CLI_H */
