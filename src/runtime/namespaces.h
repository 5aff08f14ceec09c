/* nook — namespaces: which to create at clone, which to join by path, id
 * maps, and the time namespace offsets. */
#pragma once
#include "spec.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct nk_ns_fds {
        int fd[NK_NS__COUNT]; /* joined namespaces, opened before clone; -1 = none */
};

/* Open every linux.namespaces[].path (errors name the path). */
int nk_ns_open_joined(const struct nk_spec *spec, struct nk_ns_fds *out, nk_error **err);
void nk_ns_close(struct nk_ns_fds *f);
/* CLONE_NEW* flags for namespaces created at clone. cgroup and time are
 * left out: the child unshares them itself once it sits in its cgroup /
 * has written its clock offsets. */
uint64_t nk_ns_clone_flags(const struct nk_spec *spec);
bool nk_ns_new(const struct nk_spec *spec, enum nk_ns_type t);
/* Parent: write /proc/PID/{uid,gid}_map. */
int nk_ns_write_idmaps(pid_t pid, const struct nk_spec *spec, nk_error **err);
/* An fd of a new user namespace with these mappings (owned by ours), for
 * idmapped mounts: made by a short-lived child cloned into it. */
int nk_ns_userns_fd(const struct nk_idmap *uids, size_t n_uids, const struct nk_idmap *gids,
                    size_t n_gids, nk_error **err);
/* Whether the namespace fd is one of ours (/proc/self/ns/NAME): 1 or 0;
 * -1 with errno when either can't be looked at. The one test for "a joined
 * namespace that is the host's" (create refuses to write to it) and "a
 * namespace the container shares with us" (exec does not join it). */
int nk_ns_is_ours(enum nk_ns_type t, int fd);
/* setns into every fd held but the pid one, in the one order (user first,
 * mount last). Errors name the spec's path when it has one (spec may be
 * NULL). Writes nothing: the fds stay open. */
int nk_ns_join(const struct nk_ns_fds *f, const struct nk_spec *spec, nk_error **err);
/* Child: bring up `lo` of a new network namespace, setns into joined
 * namespaces (nk_ns_join; their fds closed after), then unshare the new
 * cgroup and time namespaces. */
int nk_ns_join_child(const struct nk_spec *spec, struct nk_ns_fds *f, nk_error **err);

/* What a process cloned late into a joined pid namespace (exec's, a
 * sidecar's init) must set through the host's /proc before it joins the
 * mount namespace, where it is visible (the container's /proc shows only
 * the container's pid namespace): oom_score_adj and the LSM exec labels,
 * both inherited across fork. oom_score_adj goes before any user
 * namespace is joined, as runc does. */
struct nk_process;
int nk_ns_host_proc_steps(const struct nk_process *p, nk_error **err);

/* The last step into a container whose processes could watch /proc: the
 * caller holds every namespace but the pid one (so its root and cwd are
 * the container's) and is in nook's own pid namespace, where nothing of
 * the container can see it. This joins pid_fd's pid namespace (-1: none),
 * closes every fd >= first_fd but `keep`, and clones the process that goes
 * on into it as our parent's child (CLONE_PARENT; `death_signal` as
 * nk_clone's). The caller exits here, after telling the parent the new
 * pid over sync_fd (NK_SYNC_PID); 0 is returned in the new process. With
 * `wait_go` it goes on once the parent answered GO; without, the report
 * is sent only once the new process has exec'd or exited (CLONE_VFORK),
 * so any error record it sent before comes first and the report means
 * "exec'd": the parent reads up to it, never to EOF. -1: failed, the
 * caller is still the one process. */
int nk_ns_enter_pid_last(int pid_fd, unsigned first_fd, const int *keep, size_t n_keep, int sync_fd,
                         int death_signal, bool wait_go, nk_error **err);
/* The parent's side: the new process's pid (checked to be our child) and
 * a pidfd for it (-1 where the kernel has none). The caller reaps the one
 * that sent it. */
int nk_ns_receive_pid(int sync_fd, pid_t *pid, int *pidfd, nk_error **err);
/* For kernels whose procfs lacks pidns= (before 6.15): an fsopen("proc")
 * context, which takes the pid namespace of the process that opens it,
 * opened by a short-lived process born in pid_fd's pid namespace. That
 * process is visible there, so it holds nothing of the host: its root and
 * cwd are an empty tmpfs of a mount namespace of its own (pivot_root, the
 * old root detached) and its only fd is the socket the context comes back
 * over. */
int nk_ns_procfs_context(int pid_fd, nk_error **err);
