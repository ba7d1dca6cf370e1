/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private: what the rest of the library may know about active holds. The
 * ptrace rung cannot attach to a target that a ptrace hold of this process
 * already traces; this is its way to find a thread it may use instead.
 */
#ifndef PMADV_HOLD_H
#define PMADV_HOLD_H

#include <sys/types.h>

#include "internal.h"

/*
 * When the calling thread holds t's process with ptrace (pmadv_hold without
 * PMADV_HOLD_SIGSTOP), stores in *tid a thread of it that is in a ptrace
 * stop with the calling thread as its tracer, and returns 0; else -ENOENT.
 * The thread stays the hold's: a user may run code in it with ptrace but
 * must leave it stopped, registers restored, and never detach it.
 */
int pmadv_hold_tracee(const struct pmadv_target *t, pid_t *tid) PMADV_HIDDEN;

#endif /* PMADV_HOLD_H */
