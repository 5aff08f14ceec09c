/* nook — capabilities, user switch, no_new_privs, seccomp, LSM labels.
 *
 * Order inside the container init (child), as child.c calls it:
 *   ... rootfs, hostname, sysctl, rlimits ...
 *   nk_security_child_before_start()  bounding set, setgroups/setresgid/
 *                                     setresuid keeping caps, capset, ambient,
 *                                     no_new_privs, LSM exec labels
 *   (wait for `nook start` on the exec fifo)
 *   nk_security_child_final()         seccomp filter loaded (if not already),
 *                                     notify fd sent to listenerPath
 *   execve()
 * A seccomp filter built from the profile is prepared in the parent before
 * clone (nk_seccomp_prepare), so a bad profile fails before any side effect
 * and the child only loads it. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include "spec.h"

struct nk_seccomp;

/* Pure check of linux.seccomp (actions, ops, flags, architectures). Unknown
 * syscall names are not an error (skipped at build time with a debug log). */
int nk_seccomp_validate(json_t *seccomp, const char *where, nk_error **err);

/* Build the filter (libseccomp) and, when the profile uses SCMP_ACT_NOTIFY,
 * connect to listenerPath. NULL seccomp gives *out = NULL. */
int nk_seccomp_prepare(json_t *seccomp, struct nk_seccomp **out, nk_error **err);
void nk_seccomp_free(struct nk_seccomp *s);

/* `state_json`: the container state (OCI state object) to send with the
 * listener fd; may be NULL when there is no listener. */
int nk_security_child_before_start(const struct nk_process *p, struct nk_seccomp *sc,
                                   const char *state_json, nk_error **err);
int nk_security_child_final(const struct nk_process *p, struct nk_seccomp *sc,
                            const char *state_json, nk_error **err);
