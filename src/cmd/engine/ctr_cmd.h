/* The container commands of the engine (run, ps, stop, ...): what they
 * share. */
#pragma once
#include "cmd/engine/engine_cmd.h"
#include "engine/container/ctr.h"
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* run's and create's usage with their options (Docker's). */
#define NK_RUN_OPTIONS                                                                             \
        "\n"                                                                                       \
        "  -d, --detach             run in the background, print the id\n"                         \
        "  -i, --interactive        keep stdin open   -t, --tty   a terminal\n"                    \
        "  --rm                     remove it (and its anonymous volumes) when it exits\n"         \
        "  --name NAME              -e, --env K=V   --env-file FILE   -l, --label K=V\n"           \
        "  -w, --workdir DIR        -u, --user USER[:GROUP]   -h, --hostname NAME\n"               \
        "  --entrypoint CMD         --read-only   --privileged\n"                                  \
        "  -v, --volume SRC:DST[:ro]   --mount type=bind|volume|tmpfs,...   --tmpfs DST\n"         \
        "  -m, --memory SIZE        --memory-swap SIZE   --cpus N   --cpu-shares N\n"              \
        "  --cpuset-cpus LIST       --pids-limit N   --shm-size SIZE   --ulimit T=S[:H]\n"         \
        "  --cap-add CAP            --cap-drop CAP   --security-opt seccomp=FILE|unconfined\n"     \
        "  --security-opt no-new-privileges   --device HOST[:CTR[:PERMS]]   --sysctl K=V\n"        \
        "  --userns host|auto       --uidmap C:H:N   --gidmap C:H:N\n"                             \
        "  --restart no|on-failure[:N]|always|unless-stopped\n"                                    \
        "  --stop-signal SIG        --stop-timeout S   --pull missing|always|never\n"              \
        "  --log-opt max-size=SIZE|max-file=N   --cidfile FILE\n"                                  \
        "  --network NAME|bridge|none|host|container:REF   --ip IP   --ip6 IP\n"                   \
        "  --network-alias NAME     --mac-address MAC   --add-host HOST:IP\n"                      \
        "  -p, --publish [IP:][HOST[-END]:]PORT[-END][/tcp|udp|sctp]   -P, --publish-all\n"        \
        "  --dns IP                 --dns-search DOMAIN   --dns-option OPT\n"                      \
        "  --init                   a tiny init as PID 1 (signals, zombies)   --init-path FILE\n"  \
        "  --egress-rate RATE       --ingress-rate RATE   (10mbit, 500kbps: what it "              \
        "sends/receives)\n"                                                                        \
        "Exit codes: 125 nook's error, 126 not executable, 127 not found, else the container's."

int nk_cmd_run(const struct nk_global *g, int argc, char **argv);
int nk_cmd_create(const struct nk_global *g, int argc, char **argv);
int nk_cmd_start(const struct nk_global *g, int argc, char **argv);
int nk_cmd_stop(const struct nk_global *g, int argc, char **argv);
int nk_cmd_restart(const struct nk_global *g, int argc, char **argv);
int nk_cmd_kill(const struct nk_global *g, int argc, char **argv);
int nk_cmd_rm(const struct nk_global *g, int argc, char **argv);
int nk_cmd_ps(const struct nk_global *g, int argc, char **argv);
int nk_cmd_logs(const struct nk_global *g, int argc, char **argv);
int nk_cmd_wait(const struct nk_global *g, int argc, char **argv);
int nk_cmd_inspect(const struct nk_global *g, int argc, char **argv);
int nk_cmd_ctr_exec(const struct nk_global *g, int argc, char **argv);
int nk_cmd_pause(const struct nk_global *g, int argc, char **argv);
int nk_cmd_unpause(const struct nk_global *g, int argc, char **argv);
int nk_cmd_rename(const struct nk_global *g, int argc, char **argv);
int nk_cmd_container(const struct nk_global *g, int argc, char **argv);
int nk_cmd_top(const struct nk_global *g, int argc, char **argv);
int nk_cmd_stats(const struct nk_global *g, int argc, char **argv);
int nk_cmd_ctr_update(const struct nk_global *g, int argc, char **argv);
int nk_cmd_cp(const struct nk_global *g, int argc, char **argv);
int nk_cmd_diff(const struct nk_global *g, int argc, char **argv);
int nk_cmd_port(const struct nk_global *g, int argc, char **argv);
/* ps's PORTS text of a record ("0.0.0.0:8080->80/tcp, ..."), malloc'd. */
char *nk_ctr_ports_text(json_t *rec);

/* Print "nook: TEXT" for a failed container command and return `code`
 * (Docker: 125 for run/create's own errors, 1 for the other commands). */
int nk_ctr_fail(nk_error *e, int code);
/* container.json of id (a new reference), NULL with err. */
json_t *nk_ctr_record(const char *store, const char *id, nk_error **err);
int nk_ctr_record_save(const char *store, const char *id, json_t *rec, nk_error **err);
/* The same, fsynced only if `durable`. */
int nk_ctr_record_write(const char *store, const char *id, json_t *rec, bool durable,
                        nk_error **err);
/* Work done between the container's creation and its start (the monitor
 * waits for it): `run` readies the network there. */
struct nk_ctr_gate {
        int (*fn)(void *arg, nk_error **err);
        void *arg;
};
/* Start the monitor of a created or exited container; see run. With
 * attach, relay its stdio here and return the container's exit code;
 * else return 0 once it runs. A set-up failure (printed) returns the
 * monitor's code (125-127) with *failed set; so does a gate (NULL: none)
 * whose fn failed, the creation then undone by the monitor. Takes *rootfs
 * (the detached overlay, nk_image_rootfs_create/open: handed to the
 * monitor, closed here once it has it) and *lock (the rootfs lock,
 * released once the monitor reported: the container runs, or failed);
 * both set to -1. */
int nk_ctr_start_monitor(const struct nk_global *g, const char *id, json_t *rec, bool attach,
                         bool stdin_open, const struct nk_ctr_gate *gate, int *rootfs, int *lock,
                         bool *failed);
/* `nook monitor [options] ID` (argv from "monitor" on); net_down: the
 * --rm teardown of its networks (nk_ctr_net_teardown), net_warm what
 * loads its code early (nk_ctr_net_preload). The monitor's exit code
 * (src/cmd/engine/monitor_cmd.c). */
int nk_cmd_monitor_main(const struct nk_global *g, int argc, char **argv,
                        void (*net_down)(const char *store, const char *root, const char *id),
                        void (*net_warm)(const char *store, const char *id));
/* Attach to the running container's monitor: its output here, our stdin
 * there (unless no_stdin, or it was not made with -i); ctrl-p ctrl-q
 * detaches from a terminal. Returns its exit code, or 0 once detached. */
int nk_ctr_attach(const struct nk_global *g, const char *id, json_t *rec, bool no_stdin);
int nk_cmd_attach(const struct nk_global *g, int argc, char **argv);
/* Stop: the stop signal, then SIGKILL after `timeout` s; waits for the
 * monitor to record the exit. */
int nk_ctr_stop(const struct nk_global *g, const char *id, json_t *rec, int timeout,
                nk_error **err);
/* rm -f: kill everything of it and remove all it left anywhere; with
 * volumes (rm -v) its anonymous volumes too. */
int nk_ctr_force_remove(const struct nk_global *g, const char *id, bool volumes, nk_error **err);
/* A container's networks (net/ctrnet.h), when it has any (its
 * `networks` file): teardown at rm (flags: NK_CTRNET_*, net/ctrnet.h),
 * and at start, made again
 * where its network namespace is gone (a reboot; rec updated and saved).
 * Neither loads the networking module for a container without networks. */
int nk_ctr_net_teardown(const char *store, const char *root, const char *id, unsigned flags,
                        nk_error **err);
int nk_ctr_net_restore(const struct nk_global *g, const char *id, json_t *rec, nk_error **err);
/* The networking module loaded now if the container has networks (the
 * monitor of a --rm one, while it runs: its teardown then has it). */
void nk_ctr_net_preload(const char *store, const char *id);
/* Its first step alone: marked stopped (no restart), thawed, every
 * process of its cgroup SIGKILLed; nothing waited for. */
void nk_ctr_kill_for_removal(const struct nk_global *g, const char *id);
/* The Docker-style object `inspect` prints (record + State). */
json_t *nk_ctr_inspect_json(const struct nk_global *g, const char *id, nk_error **err);
/* --format's Go template (engine/gotmpl.h) run over obj; NULL and one line
 * on stderr naming cmd when the template is wrong or fails on obj. */
char *nk_ctr_template(const char *cmd, const char *tmpl, json_t *obj);
/* The same in two steps, for a listing: parse once, run for each row
 * (NULL: the error is printed as nk_ctr_template does). */
struct nk_tmpl;
struct nk_tmpl *nk_ctr_template_parse(const char *cmd, const char *tmpl);
char *nk_ctr_template_exec(const char *cmd, const struct nk_tmpl *t, json_t *obj);
/* Docker's tabwriter: lines of tab-separated cells printed with the
 * columns padded to the widest cell + 3 spaces. */
void nk_ctr_print_table(char **lines);
/* `--format TEMPLATE` or `table TEMPLATE` over rows (a JSON array of
 * objects): a line each, or a header made from hdr (field: column name)
 * and Docker's padded columns. 1 after a template error (printed). */
int nk_ctr_print_templated(const char *cmd, const char *format, json_t *hdr, json_t *rows);
/* The cgroup parent the engine puts containers under ($NOOK_CGROUP_PARENT
 * or /nook), absolute. */
const char *nk_ctr_cgroup_parent(void);
