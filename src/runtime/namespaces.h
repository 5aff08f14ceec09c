/* nook — namespaces: which to create at clone, which to join by path, id
 * maps, and the time namespace offsets. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include "spec.h"

struct nk_ns_fds {
        int fd[NK_NS__COUNT];   /* joined namespaces, opened before clone; -1 = none */
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
/* Child: setns into joined namespaces (user first), then unshare the new
 * cgroup and time namespaces. */
int nk_ns_join_child(const struct nk_spec *spec, struct nk_ns_fds *f, nk_error **err);
