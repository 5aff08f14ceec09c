/* Shared by the cgroup commands (cgroup_cmds.c, cg_*.c). Each opens a
 * container handle, calls one library verb over it and prints. */
#pragma once
#include "cmd/commands.h"
#include "runtime/container.h"

int nk_cmd_update(const struct nk_global *g, int argc, char **argv);
int nk_cmd_events(const struct nk_global *g, int argc, char **argv);
int nk_cmd_info(const struct nk_global *g, int argc, char **argv);
/* The table `info` prints of nk_host_info()'s object (the engine's info
 * prints its counts first). */
void nk_cmd_info_print(json_t *o);
