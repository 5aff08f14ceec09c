/* nook — capabilities, user switch, no_new_privs, seccomp, LSM labels.
 *
 * Order inside the container init (child), as child.c calls it:
 *   ... rootfs, hostname, sysctl, rlimits ...
 *   nk_security_child_before_start()  LSM exec labels, bounding set,
 *                                     setgroups/setresgid/setresuid keeping
 *                                     caps, capset, ambient, no_new_privs
 *   (wait for `nook start` on the exec fifo)
 *   nk_security_child_final()         seccomp filter loaded, notify fd sent
 *                                     to listenerPath
 *   execve()
 * A seccomp filter built from the profile is prepared in the parent before
 * clone (nk_seccomp_prepare), so a bad profile fails before any side effect
 * and the child only loads it. Loading needs no_new_privs or CAP_SYS_ADMIN:
 * when the process gets neither, before_start keeps CAP_SYS_ADMIN in the
 * effective and permitted sets only (never inheritable or ambient); the
 * kernel recomputes both sets from inheritable, bounding, ambient and file
 * caps at execve, so it does not survive into the container process.
 * docs/security.md has the full story. */
#pragma once
#include "spec.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct nk_seccomp;

/* Pure check of linux.seccomp (actions, ops, flags, architectures). Unknown
 * syscall names are not an error (skipped at build time with a debug log).
 * `where` is the JSON path of the object ("linux.seccomp"). */
int nk_seccomp_validate(json_t *seccomp, const char *where, nk_error **err);

/* Build the filter (libseccomp, exported as a BPF program) and, when the
 * profile uses SCMP_ACT_NOTIFY, connect to listenerPath. NULL seccomp gives
 * *out = NULL. The connected socket is O_CLOEXEC; the parent frees its copy
 * with nk_seccomp_free() after clone. */
int nk_seccomp_prepare(json_t *seccomp, struct nk_seccomp **out, nk_error **err);
/* The same, with built programs kept in `cache_dir` (made 0700 if
 * missing; NULL: no cache) and taken from there when this binary built
 * the very same profile before: libseccomp's build of the default
 * profile costs more CPU than the rest of a container's creation. */
int nk_seccomp_prepare_cached(json_t *seccomp, const char *cache_dir, struct nk_seccomp **out,
                              nk_error **err);
void nk_seccomp_free(struct nk_seccomp *s);
/* Number of BPF instructions (for --debug and tests). */
size_t nk_seccomp_insn_count(const struct nk_seccomp *s);
/* The BPF program as seccomp(2) will get it (nook's prefix, then
 * libseccomp's), for tests that run it on made-up seccomp_data. */
struct sock_filter;
const struct sock_filter *nk_seccomp_program(const struct nk_seccomp *s);

/* The filter libseccomp builds from a profile, in its readable pseudo-code
 * (PFC), written to fd. For tests and `--debug`. */
int nk_seccomp_export_pfc(json_t *seccomp, int fd, nk_error **err);

/* Load the filter in the calling process (seccomp(2) with the profile's
 * flags) and, with a listener, send the notify fd plus the container
 * process state to listenerPath. `state_json` is the OCI state object. */
int nk_seccomp_load(struct nk_seccomp *s, const char *state_json, nk_error **err);
/* The socket connected to listenerPath (NULL or none: -1), for a caller
 * that closes every other fd before the load. */
int nk_seccomp_listener_sock(const struct nk_seccomp *s);

/* The engine's default profile (data/seccomp-default.json, embedded at
 * build time) resolved for the architecture nook was built for (never
 * `uname -m`, which personality(PER_LINUX32) changes) and the container's
 * capability bounding set `caps` (bit N = capability N): rules that need a
 * capability appear only when it is present. Returns a new OCI
 * linux.seccomp object. */
json_t *nk_seccomp_default_profile(uint64_t caps, nk_error **err);
/* A profile document in Docker's format (archMap, includes/excludes by
 * caps and arches, "name") or OCI's, resolved the same way for `caps`
 * and checked with nk_seccomp_validate; errors start with `where` (the
 * file name). New reference, or NULL. includes.minKernel is not looked
 * at: a rule for a syscall the kernel lacks changes nothing. */
json_t *nk_seccomp_profile_resolve(json_t *doc, uint64_t caps, const char *where, nk_error **err);
/* The raw embedded data file text. */
const char *nk_seccomp_default_profile_text(void);

/* OCI features: the "seccomp" object of `nook features` (enabled, actions,
 * operators, archs, knownFlags, supportedFlags). New reference. */
json_t *nk_seccomp_features(void);

/* ---- capabilities (caps.c) ---------------------------------------------- */

/* What the child applies, computed purely from the spec and what nook
 * holds, so it can be unit tested and printed. */
struct nk_caps_plan {
        uint64_t bounding, effective, permitted, inheritable, ambient;
        /* CAP_SYS_ADMIN held in effective+permitted until the seccomp load
         * (no no_new_privs and the process would not hold it otherwise). */
        bool keep_admin;
};

/* `have`: the permitted set nook's init holds now; `last_cap`: the kernel's
 * highest capability (/proc/sys/kernel/cap_last_cap). Errors name the set
 * and the capability. Ambient capabilities that are not both permitted and
 * inheritable are dropped with a debug log (the kernel refuses to raise
 * them; runc and crun ignore them the same way). */
int nk_caps_plan(const struct nk_process *p, bool with_seccomp, uint64_t have, int last_cap,
                 struct nk_caps_plan *out, nk_error **err);
/* "CAP_CHOWN,CAP_KILL" for a mask (caller frees). */
char *nk_caps_to_string(uint64_t caps);
int nk_cap_last_cap(void);

/* ---- LSM (lsm.c) -------------------------------------------------------- */

bool nk_apparmor_enabled(void);
bool nk_selinux_enabled(void);
/* Parent, before any side effect: a requested AppArmor profile, SELinux
 * process label or mount label on a host where that LSM is off is an error
 * (AppArmor "unconfined" is accepted). Also caches the LSM state for the
 * child, whose /sys may not show it. */
int nk_lsm_check(const struct nk_spec *s, nk_error **err);
/* Child: write the exec labels (/proc/thread-self/attr/...) that take effect
 * at execve. */
int nk_lsm_apply_exec_labels_child(const struct nk_process *p, nk_error **err);

/* ---- the runtime binary (selfexe.c) ------------------------------------ */

/* Whether /proc/self/exe is out of a container's reach already: on a
 * read-only mount, or a memfd sealed against writes. */
bool nk_self_exe_protected(void);
/* Commands that put a process into a running container (exec) call this
 * first, with main's argv: unless nook is protected already, it re-execs
 * nook (same argv and environment) from a sealed memfd copy of its binary,
 * or a read-only detached mount of it, so a container can never write the
 * host's nook through /proc/PID/exe (CVE-2019-5736). Returns only when
 * nothing was needed (0) or on failure (-1). */
int nk_seal_self_exe(char **argv, nk_error **err);
/* create and run call this once the spec is known, before
 * nk_container_create/run. If nook is protected already: 0, *init_fd -1.
 * Else, if `may_hand_over` (nk_container_may_hand_over(); see
 * src/runtime/trampoline/trampoline.c): 0 and *init_fd a sealed memfd of
 * nook-init, for nk_create_opts.init_fd (the caller closes it). Else
 * re-exec as nk_seal_self_exe() does: returns only on failure. */
int nk_self_exe_guard(char **argv, bool may_hand_over, int *init_fd, nk_error **err);

/* Whether the profile (NULL: none) lets every one of `syscalls` (a NULL-
 * terminated list) through unconditionally, and has no listener. Errs
 * towards false: rules with argument conditions count as not allowing. */
bool nk_seccomp_allows_plainly(json_t *sc, const char *const *syscalls);

/* `state_json`: the container state (OCI state object) to send with the
 * listener fd; may be NULL when there is no listener. */
int nk_security_child_before_start(const struct nk_process *p, struct nk_seccomp *sc,
                                   const char *state_json, nk_error **err);
int nk_security_child_final(const struct nk_process *p, struct nk_seccomp *sc,
                            const char *state_json, nk_error **err);

/* For a process that becomes visible to the container only after this
 * (exec's joiner, a sidecar's init; docs/security.md, "exec"): the
 * bounding set, user switch, capabilities, ambient set, no_new_privs and,
 * without no_new_privs, the seccomp filter (loading it needs
 * CAP_SYS_ADMIN then, dropped right after the load; whatever the caller
 * does afterwards runs under the container's filter). With no_new_privs
 * the load needs no privilege: *filter_left is set and the caller calls
 * nk_seccomp_load() as its last step before execve. LSM exec labels are
 * the caller's, through a procfs it is visible in. */
int nk_security_final_creds(const struct nk_process *p, struct nk_seccomp *sc,
                            const char *state_json, bool *filter_left, nk_error **err);
