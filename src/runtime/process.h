/* nook — process attributes applied by the container init (and exec)
 * before the user switch: rlimits, oom_score_adj, I/O priority, scheduler,
 * personality, umask, session keyring, CPU affinity. */
#pragma once
#include "spec.h"
#include <stdbool.h>

int nk_process_apply_rlimits(const struct nk_process *p, nk_error **err);
/* ioprio, scheduler (with `sched`), CPU affinity, personality
 * (personality is per spec, so passed separately), umask. */
int nk_process_apply_attrs(const struct nk_process *p, const struct nk_spec *spec, bool sched,
                           nk_error **err);
/* oom_score_adj, through the procfs at /proc (verified, never created):
 * one the caller is visible in. Inherited across fork. */
int nk_process_apply_oom_score_adj(const struct nk_process *p, nk_error **err);
/* Whether process.scheduler survives a fork: not SCHED_DEADLINE (which
 * refuses to fork) and not SCHED_FLAG_RESET_ON_FORK. */
bool nk_process_sched_inherited(const struct nk_process *p);
int nk_process_apply_scheduler(const struct nk_process *p, nk_error **err);
/* A new session keyring named after the container (unless disabled). */
int nk_process_join_keyring(const char *id, nk_error **err);
/* Find args[0] in the PATH of env (as execvp would), inside the current
 * root. Returns a malloc'd path or NULL with err. */
char *nk_process_find_exec(const struct nk_process *p, nk_error **err);
/* --preserve-fds N passes fds 3..N+2 to the container. Any of them not
 * open would be taken by the next fd nook opens (its log, a namespace, a
 * cgroup file) and so handed to the container: hold those numbers with
 * /dev/null. Call before opening anything. */
int nk_process_reserve_fds(int n, nk_error **err);
/* Just before execve: fds 3..3+preserve-1 stay open across it, everything
 * from 3+preserve on is marked close-on-exec. */
int nk_process_fds_for_exec(int preserve, nk_error **err);
/* The home field of the first passwd line (name:pw:uid:gid:gecos:home:shell)
 * for uid in `text` (modified), "/" for an empty one, NULL without a line;
 * malformed lines are skipped. Pure. */
char *nk_passwd_home(char *text, uid_t uid);
/* The process environment with HOME set as runc sets it when env has none
 * (or an empty one): from the passwd entry of process.user.uid in the
 * current root's /etc/passwd, "/" without one. *env is p->env when HOME
 * is set already, else a new array (the strings are p->env's). */
int nk_process_home_env(const struct nk_process *p, char ***env, nk_error **err);
/* Give stdio that is the runtime's channel (our pty slave, an anonymous
 * pipe) to process.user.uid, as runc does; never a terminal or file of
 * the caller. Before the user switch. */
int nk_process_chown_stdio(const struct nk_process *p, bool own_pty, nk_error **err);
