/* Shared by the cgroup commands (cgroup_cmds.c, cg_*.c). */
#pragma once
#include "cmd/commands.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/state.h"

/* Load the container's state and open its cgroup. With `lock`, the state
 * lock fd is returned in *lock_fd (close to unlock). */
int nk_cg_cmd_open(const struct nk_global *g, const char *id, bool lock, int *lock_fd,
                   struct nk_state **st, struct nk_cgroup **cg, nk_error **err);
int nk_cg_cmd_print_json(json_t *o, bool pretty);

int nk_cmd_update(const struct nk_global *g, int argc, char **argv);
int nk_cmd_events(const struct nk_global *g, int argc, char **argv);
int nk_cmd_info(const struct nk_global *g, int argc, char **argv);
