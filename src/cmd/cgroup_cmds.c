/* Commands over the container's cgroup: update, pause, resume, ps, events,
 * info. This file: the table, pause/resume and ps. */
#include "cmd/cg_cmds.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* pause: running -> paused; resume: paused -> running. */
static int freeze_cmd(const struct nk_global *g, int argc, char **argv, bool frozen)
{
        const char *cmd = frozen ? "pause" : "resume", *id = NULL;
        int r = nk_cmd_one_id(cmd, argc, argv, &id);
        if (r)
                return r;
        nk_error *err = NULL;
        struct nk_container *c = NULL;
        if (nk_container_open(g->root, id, NK_CONTAINER_LOCK, &c, &err) < 0)
                return nk_cmd_fail(err);
        r = frozen ? nk_container_pause(c, &err) : nk_container_resume(c, &err);
        nk_container_close(c);
        return r < 0 ? nk_cmd_fail(err) : 0;
}

static int cmd_pause(const struct nk_global *g, int argc, char **argv)
{
        return freeze_cmd(g, argc, argv, true);
}

static int cmd_resume(const struct nk_global *g, int argc, char **argv)
{
        return freeze_cmd(g, argc, argv, false);
}

static void proc_row(pid_t pid)
{
        char path[64], *line = NULL, cmd[4096] = "";
        size_t cap = 0;
        long ppid = 0;
        unsigned uid = 0;
        char stat = '?';
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "re");
        while (f && getline(&line, &cap, f) > 0) {
                sscanf(line, "PPid: %ld", &ppid);
                sscanf(line, "Uid: %u", &uid);
                sscanf(line, "State: %c", &stat);
        }
        if (f)
                fclose(f);
        free(line);
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        f = fopen(path, "re");
        size_t n = f ? fread(cmd, 1, sizeof(cmd) - 1, f) : 0;
        if (f)
                fclose(f);
        for (size_t i = 0; i + 1 < n; i++)
                if (cmd[i] == '\0')
                        cmd[i] = ' ';
        printf("%-8u %-8d %-8ld %-4c %s\n", uid, (int)pid, ppid, stat, cmd);
}

static int cmd_ps(const struct nk_global *g, int argc, char **argv)
{
        bool json = false;
        int r = nk_cmd_format_option("ps", argc, argv, &json);
        if (r)
                return r;
        if (optind >= argc)
                return nk_cmd_usage_error("ps", "expects a container ID");
        nk_error *err = NULL;
        struct nk_container *ct = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        if (nk_container_open(g->root, argv[optind], 0, &ct, &err) < 0)
                return nk_cmd_fail(err);
        r = nk_container_pids(ct, &pids, &n, &err);
        nk_container_close(ct);
        if (r < 0)
                return nk_cmd_fail(err);
        if (json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(a, json_integer(pids[i]));
                return nk_cmd_json_out(a, false);
        }
        printf("%-8s %-8s %-8s %-4s %s\n", "UID", "PID", "PPID", "STAT", "CMD");
        for (size_t i = 0; i < n; i++)
                proc_row(pids[i]);
        return 0;
}

const struct nk_command nk_cgroup_commands[] = {
        {"update", nk_cmd_update, "update [options] ID",
         "change the resource limits of a container"},
        {"pause", cmd_pause, "pause ID", "freeze every process of a container"},
        {"resume", cmd_resume, "resume ID", "thaw a paused container"},
        {"ps", cmd_ps, "ps [--format table|json] ID", "list the processes of a container"},
        {"events", nk_cmd_events, "events [--stats] [--interval D] ID",
         "print container events (OOM) and resource statistics as JSON"},
        {"info", nk_cmd_info, "info [--format table|json]",
         "show the host as nook sees it: cgroups, namespaces, kernel features"},
        {0},
};
