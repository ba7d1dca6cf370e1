// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Turns on a target (ptrace/tracer.c: requests and holds of one process
 * on one target take turns): served in the order asked, a waiter that
 * times out leaves the line without holding up those behind it, and a
 * thread that holds a turn for a hold gets EBUSY for its own request.
 * No target process is needed: the turns are keyed by PID only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ptrace/ptrace.h"

#define PID 4000000 /* above any pid_max: never a real process */

static atomic_int taken, stop;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Takes the turn again as soon as it gave it back. */
static void *hogger(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		if (pt_take_turn(PID, 10000) < 0)
			continue;
		atomic_fetch_add(&taken, 1);
		usleep(300);
		pt_end_turn(PID);
	}
	return NULL;
}

/*
 * Two threads that take the turn again as soon as they give it back; this
 * one asks 200 times. In line, at most one of them is served before it
 * (the one waiting ahead; the holder was counted before it asked, or a
 * moment after). Before 0.2's last change a bare condition variable let
 * the hoggers win the turn again and again.
 */
static void test_in_order(void **state)
{
	pthread_t th[2];
	int most = 0;

	(void)state;
	atomic_store(&stop, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hogger, NULL), 0);
	while (atomic_load(&taken) < 10)
		usleep(100);
	for (int i = 0; i < 200; i++) {
		int before = atomic_load(&taken), during;

		assert_int_equal(pt_take_turn(PID, 10000), 0);
		during = atomic_load(&taken) - before;
		if (during > most)
			most = during;
		usleep(100);
		pt_end_turn(PID);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	print_message("at most %d of the hoggers' turns while one waited\n",
		      most);
	assert_true(most <= 2);
}

struct waiter {
	int timeout_ms, ret;
	double waited;
};

static void *wait_turn(void *arg)
{
	struct waiter *w = arg;
	double t0 = now();

	w->ret = pt_take_turn(PID, w->timeout_ms);
	w->waited = now() - t0;
	if (w->ret == 0)
		pt_end_turn(PID);
	return NULL;
}

/* The first in line times out; the second, behind it, is served as soon
 * as the holder lets go, not held up by the gap. */
static void test_timeout_leaves_line(void **state)
{
	struct waiter w1 = { 50, 1, 0 }, w2 = { 5000, 1, 0 };
	pthread_t t1, t2;

	(void)state;
	assert_int_equal(pt_take_turn(PID, 1000), 0);
	assert_int_equal(pthread_create(&t1, NULL, wait_turn, &w1), 0);
	usleep(10000);
	assert_int_equal(pthread_create(&t2, NULL, wait_turn, &w2), 0);
	pthread_join(t1, NULL);
	assert_int_equal(w1.ret, -ETIMEDOUT);
	usleep(100000);
	pt_end_turn(PID);
	pthread_join(t2, NULL);
	assert_int_equal(w2.ret, 0);
	assert_true(w2.waited < 1.0);
	/* and nothing is left taken */
	assert_int_equal(pt_take_turn(PID, 100), 0);
	pt_end_turn(PID);
}

/* A turn a thread holds for a hold: its own request gets EBUSY at once,
 * another thread's waits for it. */
static void test_owner_busy(void **state)
{
	struct waiter w = { 100, 1, 0 };
	pthread_t t;
	double t0;

	(void)state;
	assert_int_equal(pt_take_turn_as(PID, 1000,
					 (pid_t)syscall(SYS_gettid)), 0);
	t0 = now();
	assert_int_equal(pt_take_turn(PID, 1000), -EBUSY);
	assert_true(now() - t0 < 0.5);
	assert_int_equal(pthread_create(&t, NULL, wait_turn, &w), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.ret, -ETIMEDOUT);
	pt_end_turn(PID);
	assert_int_equal(pt_take_turn(PID, 100), 0);
	pt_end_turn(PID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_timeout_leaves_line),
		cmocka_unit_test(test_owner_busy),
	};

	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
