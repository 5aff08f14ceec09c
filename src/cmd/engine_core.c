/* The engine face's commands that live in the binary itself rather than in
 * the nook-engine module: those that must start fast or stay small. */
#include "cmd/commands.h"
#include "cmd/engine/ctr_cmd.h"
#include "engine/monitor/monitor.h"
#include "net/ctrnet.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The monitor's --rm: the container's networks, through the networking
 * module (loaded only then, at the monitor's very end); the netns file
 * goes later (monitor.c, after the exit code is told). */
static void monitor_net_down(const char *store, const char *root, const char *id)
{
        nk_error *e = NULL;
        if (nk_ctr_net_teardown(store, root, id, NK_CTRNET_KEEP_NETNS, &e) < 0)
                nk_error_free(e); /* rm -f and network prune finish it */
}

static int cmd_monitor(const struct nk_global *g, int argc, char **argv)
{
        return nk_cmd_monitor_main(g, argc, argv, monitor_net_down, nk_ctr_net_preload);
}

const struct nk_command nk_engine_core_commands[] = {
        {"run", nk_cmd_run, "run [options] IMAGE [COMMAND [ARG...]]" NK_RUN_OPTIONS,
         "create and start a container from an image", NK_CMD_H_IS_OPTION},
        {"create", nk_cmd_create, "create [options] IMAGE [COMMAND [ARG...]]" NK_RUN_OPTIONS,
         "create a container (start it with `start`)", NK_CMD_H_IS_OPTION},
        {"start", nk_cmd_start, "start [-a] [-i] CONTAINER...", "start containers"},
        {"stop", nk_cmd_stop, "stop [-t SECONDS] CONTAINER...",
         "stop containers (the stop signal, then SIGKILL)"},
        {"restart", nk_cmd_restart, "restart [-t SECONDS] CONTAINER...", "restart containers"},
        {"kill", nk_cmd_kill, "kill [-s SIGNAL] CONTAINER...", "signal containers (default KILL)"},
        {"rm", nk_cmd_rm, "rm [-f] [-v] CONTAINER...", "remove containers"},
        {"ps", nk_cmd_ps,
         "ps [-a] [-q] [--no-trunc] [--format json|table|TEMPLATE] [--filter KEY=VALUE]",
         "list containers"},
        {"logs", nk_cmd_logs, "logs [-f] [-t] [--tail N] [--since T] [--until T] CONTAINER",
         "show a container's log"},
        {"wait", nk_cmd_wait, "wait CONTAINER...", "wait for containers to stop, print exit codes"},
        {"inspect", nk_cmd_inspect, "inspect [-f TEMPLATE] CONTAINER...",
         "show containers' details (JSON)"},
        {"exec", nk_cmd_ctr_exec,
         "exec [-i] [-t] [-d] [-e K=V] [-u UID[:GID]] [-w DIR] CONTAINER CMD...",
         "run a command in a running container", NK_CMD_SELF_EXE_SEAL},
        {"pause", nk_cmd_pause, "pause CONTAINER...", "freeze containers"},
        {"unpause", nk_cmd_unpause, "unpause CONTAINER...", "thaw containers"},
        {"rename", nk_cmd_rename, "rename CONTAINER NEW_NAME", "rename a container"},
        {"attach", nk_cmd_attach, "attach [--no-stdin] CONTAINER",
         "attach to a running container's stdio (detach: ctrl-p ctrl-q)"},
        {"container", nk_cmd_container, "container prune|ls|rm|inspect|... [options]",
         "manage containers"},
        {"port", nk_cmd_port,
         "port CONTAINER [PRIVATE_PORT[/PROTO]] | port add|rm CONTAINER "
         "[IP:]HOST_PORT:PORT[/PROTO]",
         "list a container's published ports, or publish/unpublish one live"},
        {"top", nk_cmd_top, "top CONTAINER [-o pid,user,time,cmd,...]",
         "show a container's processes"},
        {"stats", nk_cmd_stats, "stats [--no-stream] [--format json|table|TEMPLATE] [CONTAINER...]",
         "show containers' CPU, memory and process counts (default: all running)"},
        {"update", nk_cmd_ctr_update,
         "update [--memory SIZE] [--memory-swap SIZE] [--cpus N] [--cpu-shares N] "
         "[--cpuset-cpus LIST] [--pids-limit N] [--restart POLICY] [--egress-rate RATE] "
         "[--ingress-rate RATE] CONTAINER...",
         "change containers' resource limits, bandwidth limits and restart policy"},
        {"cp", nk_cmd_cp, "cp [-a] CONTAINER:SRC DST|- | cp [-a] SRC|- CONTAINER:DST",
         "copy files between a container and the host (owner, mode, times kept); "
         "`-`: a tar on stdout or stdin"},
        {"diff", nk_cmd_diff, "diff CONTAINER",
         "list the files a container added (A), changed (C) and deleted (D)"},
        {"monitor", cmd_monitor, "monitor [options] ID", NULL},
        {0},
};
