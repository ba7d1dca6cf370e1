/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private: what the rest of the library may know about active holds. The
 * ptrace rung cannot attach to a target that a ptrace hold already traces
 * (it takes turns with the holds of this process, see pmadv_hold(3)).
 */
#ifndef PMADV_HOLD_H
#define PMADV_HOLD_H

#include <sys/types.h>

#include "internal.h"

/*
 * When the calling thread holds t's process with ptrace (pmadv_hold without
 * PMADV_HOLD_SIGSTOP), stores in *tid a thread of it that the hold keeps in
 * a ptrace stop, the leader if it can, and returns 0; else -ENOENT. Its
 * tracer is the hold's helper process (see hold.c), not the calling
 * thread: only code that helper runs may make ptrace requests on it. The
 * thread stays the hold's: leave it stopped and never detach it.
 */
int pmadv_hold_tracee(const struct pmadv_target *t, pid_t *tid) PMADV_HIDDEN;

#endif /* PMADV_HOLD_H */
