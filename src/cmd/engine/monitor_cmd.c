/* `nook monitor [options] ID`, the per-container monitor's command line
 * (src/engine/monitor/ is the monitor): started by run/start/restart,
 * never by a user, so not listed. */
#include "cmd/commands.h"
#include "cmd/engine/ctr_cmd.h"
#include "engine/monitor/monitor.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int restart_policy(const char *v, enum nk_monitor_restart *out)
{
        static const char *const names[] = {"no", "on-failure", "always", "unless-stopped"};
        for (int i = 0; i < 4; i++)
                if (streq(v, names[i])) {
                        *out = (enum nk_monitor_restart)i;
                        return 0;
                }
        return -1;
}

struct fresh_ctx {
        const struct nk_global *g;
        int argc;
        char **argv;
};
static int parse_resume(const char *v, struct nk_monitor_handoff *h);
static void reexec_loop(const struct nk_global *g, int argc, char **argv,
                        const struct nk_monitor_handoff *h);
static void fresh_loop(const struct nk_monitor_handoff *h, void *arg);

int nk_cmd_monitor_main(const struct nk_global *g, int argc, char **argv,
                        void (*net_down)(const char *store, const char *root, const char *id),
                        void (*net_warm)(const char *store, const char *id))
{
        enum {
                O_TTY = 256,
                O_STDIN,
                O_RM,
                O_WAIT,
                O_RESTART,
                O_RMAX,
                O_NAME,
                O_LSIZE,
                O_LFILE,
                O_FD,
                O_ROOTFS,
                O_RESUME,
                O_GATE
        };
        static const struct option opts[] = {
                {"tty", no_argument, NULL, O_TTY},
                {"stdin", no_argument, NULL, O_STDIN},
                {"rm", no_argument, NULL, O_RM},
                {"wait-attach", no_argument, NULL, O_WAIT},
                {"gate", no_argument, NULL, O_GATE},
                {"restart", required_argument, NULL, O_RESTART},
                {"restart-max", required_argument, NULL, O_RMAX},
                {"name", required_argument, NULL, O_NAME},
                {"log-max-size", required_argument, NULL, O_LSIZE},
                {"log-max-file", required_argument, NULL, O_LFILE},
                {"status-fd", required_argument, NULL, O_FD},
                {"rootfs-fd", required_argument, NULL, O_ROOTFS},
                {"resume", required_argument, NULL, O_RESUME},
                {0},
        };
        struct nk_monitor_opts o = {.store = g->store,
                                    .root = g->root,
                                    .systemd_cgroup = g->systemd_cgroup,
                                    .no_cgroup = g->no_cgroup,
                                    .log_max_file = 1,
                                    .status_fd = -1,
                                    .rootfs_fd = -1,
                                    .argv = g->argv};
        unsigned long long v;
        const char *resume = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                bool bad = false;
                switch (c) {
                case O_TTY:
                        o.tty = true;
                        break;
                case O_STDIN:
                        o.stdin_open = true;
                        break;
                case O_RM:
                        o.rm = true;
                        break;
                case O_WAIT:
                        o.wait_attach = true;
                        break;
                case O_GATE:
                        o.gate = true;
                        break;
                case O_RESTART:
                        bad = restart_policy(optarg, &o.restart) < 0;
                        break;
                case O_NAME:
                        o.name = optarg;
                        break;
                case O_RESUME:
                        resume = optarg;
                        break;
                case O_RMAX:
                case O_LSIZE:
                case O_LFILE:
                case O_FD:
                case O_ROOTFS:
                        bad = nk_parse_uint(optarg, 1ULL << 40, &v) < 0;
                        if (c == O_RMAX)
                                o.restart_max = (int)v;
                        else if (c == O_LSIZE)
                                o.log_max_size = (int64_t)v;
                        else if (c == O_LFILE)
                                o.log_max_file = (int)v;
                        else if (c == O_FD)
                                o.status_fd = (int)v;
                        else
                                o.rootfs_fd = (int)v;
                        break;
                default:
                        bad = true;
                }
                if (bad)
                        return nk_cmd_usage_error("monitor", "bad option");
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("monitor", "expects one container id");
        o.id = argv[optind];
        struct nk_monitor_handoff h;
        struct fresh_ctx fc = {g, argc, argv};
        o.fresh = fresh_loop;
        o.fresh_arg = &fc;
        o.net_down = net_down;
        o.net_warm = net_warm;
        if (resume) {
                if (parse_resume(resume, &h) < 0)
                        return nk_cmd_usage_error("monitor", "--resume: `%s`", resume);
                return nk_monitor_loop(&o, &h);
        }
        /* Started in a session of its own: fork once more, so the monitor
         * is not a session leader (it could take a terminal) and its
         * starter's child exits at once. */
        pid_t child = fork();
        if (child < 0)
                return 125;
        if (child > 0)
                _exit(0);
        /* Nothing of the starter's: only the status pipe and the rootfs
         * mount stay open, the latter close-on-exec (monitor.c). */
        int keep[2], n = 0;
        if (o.status_fd >= 0)
                keep[n++] = o.status_fd;
        if (o.rootfs_fd >= 0)
                keep[n++] = o.rootfs_fd;
        nk_close_fds_except(3, keep, (size_t)n);
        if (o.rootfs_fd >= 0 && fcntl(o.rootfs_fd, F_SETFD, FD_CLOEXEC) < 0)
                o.rootfs_fd = -1; /* not an fd after all: made in set-up instead */
        if (chdir("/") < 0)
                return 125;
        /* Set-up in a child: this process stays the small image exec
         * made, with no second exec to shed the spec, seccomp and the
         * runtime's heap (a restart still sheds its own: o.fresh). */
        int rc = nk_monitor_setup_apart(&o, &h);
        if (rc != 0)
                return rc;
        return nk_monitor_loop(&o, &h);
}

/* --resume=PID,RESTARTS,PIDFD,OUT,ERR,IN,LISTEN,LOG,DFD,C0:C1:...:C15 */
static int parse_resume(const char *v, struct nk_monitor_handoff *h)
{
        int off = 0;
        if (sscanf(v, "%d,%d,%d,%d,%d,%d,%d,%d,%d,%n", &h->pid, &h->restarts, &h->pidfd, &h->out_fd,
                   &h->err_fd, &h->in_fd, &h->listen_fd, &h->log_fd, &h->dfd, &off) != 9 ||
            off == 0)
                return -1;
        const char *p = v + off;
        for (int i = 0; i < NK_MONITOR_CLIENTS; i++) {
                int n = 0;
                if (sscanf(p, "%d%n", &h->clients[i], &n) != 1)
                        return -1;
                p += n;
                if (*p == ':')
                        p++;
        }
        return *p ? -1 : 0;
}

/* The loop in a fresh image of nook: set-up's heap (the spec, seccomp,
 * the runtime's state) is gone, and what stays is mostly shared pages. */
static void reexec_loop(const struct nk_global *g, int argc, char **argv,
                        const struct nk_monitor_handoff *h)
{
        int fds[7 + NK_MONITOR_CLIENTS] = {h->pidfd,     h->out_fd, h->err_fd, h->in_fd,
                                           h->listen_fd, h->log_fd, h->dfd};
        memcpy(fds + 7, h->clients, sizeof h->clients);
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                if (fds[i] >= 0 && fcntl(fds[i], F_SETFD, 0) < 0)
                        return;
        char resume[256];
        int k = snprintf(resume, sizeof resume, "--resume=%d,%d,%d,%d,%d,%d,%d,%d,%d,", h->pid,
                         h->restarts, h->pidfd, h->out_fd, h->err_fd, h->in_fd, h->listen_fd,
                         h->log_fd, h->dfd);
        for (int i = 0; i < NK_MONITOR_CLIENTS && k > 0 && (size_t)k < sizeof resume; i++)
                k += snprintf(resume + k, sizeof resume - (size_t)k, "%s%d", i ? ":" : "",
                              h->clients[i]);
        char *v[64];
        int n = 0;
        v[n++] = "nook";
        v[n++] = "--root";
        v[n++] = (char *)g->root;
        v[n++] = "--store";
        v[n++] = (char *)g->store;
        if (g->no_cgroup)
                v[n++] = "--cgroup-manager=disabled";
        if (g->systemd_cgroup)
                v[n++] = "--systemd-cgroup";
        v[n++] = "monitor";
        for (int i = 1; i < argc - 1 && n < 60; i++)
                if (strncmp(argv[i], "--status-fd", 11) != 0 &&
                    strncmp(argv[i], "--rootfs-fd", 11) != 0 &&
                    strncmp(argv[i], "--resume", 8) != 0)
                        v[n++] = argv[i];
        v[n++] = resume;
        v[n++] = argv[argc - 1];
        v[n] = NULL;
        if (k > 0 && (size_t)k < sizeof resume)
                execv("/proc/self/exe", v);
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++) /* failed: back as they were */
                if (fds[i] >= 0)
                        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
}

static void fresh_loop(const struct nk_monitor_handoff *h, void *arg)
{
        const struct fresh_ctx *c = arg;
        reexec_loop(c->g, c->argc, c->argv, h);
}
