/* nook — one error type for the whole library.
 *
 * A failure is reported once, where it happens, with errno and a message that
 * names what failed on what (path, id, JSON path, value). Callers add context
 * on the way up with nk_error_wrap(): the final text reads outermost first,
 * "create container abc: mount proc on /proc: Permission denied".
 * Every function that can fail takes `nk_error **err` last and returns -1
 * (or NULL) after setting it.
 *
 * errno_, one rule: it is the error a system or library call reported
 * (errno, or its negative return), passed on unchanged. A refusal nook
 * decides itself on its input (config.json, the command line, a state
 * file, a container in the wrong status, an internal invariant) carries 0:
 * the message says why, and no ": Invalid argument" is appended to it.
 * Nook itself never sets EINVAL, ERANGE or EPERM for a value or a policy
 * it refuses. An errno constant without a failed call names a condition of
 * the system that callers test or users read as the kernel would put it:
 * ENOENT (absent), EEXIST, EBUSY (in use), ESRCH (not running), ETIMEDOUT,
 * EPIPE (the peer is gone), ENOTSUP (the host cannot), EPROTO (a broken
 * sync message), ENOMEM.
 *
 * Out of memory, one way: a function that takes err reports ENOMEM through
 * it, nk_error_set(err, ENOMEM, "<the step>") ("rootfs plan"), never a
 * bare -1 that leaves err unset nor errno from a later call; a small
 * helper without err (a string builder) returns NULL or -1 and its caller,
 * which has err, sets ENOMEM; a helper with no error path at all (text for
 * a message, the cgroup plan builder, this error machinery itself) calls
 * nk_oom(). Every allocation is checked: asprintf < 0, strdup/malloc NULL,
 * and a jansson constructor's NULL (json_pack, json_dumps, json_object,
 * json_string: the last also refuses text that is not UTF-8, so a record
 * built from paths uses json_pack, which fails whole, and says which).
 * Never a bare abort() or a NULL left unchecked.
 *
 * The first error wins: nk_error_set() leaves an error already set alone,
 * so a caller may set its own after a callee failed and the callee's (more
 * precise) one is what the user sees; add context with nk_error_wrap(). */
#pragma once
#include <stdarg.h>

typedef struct nk_error {
        int errno_; /* the failed call's errno; 0 for nook's own refusals */
        char *msg;  /* full text, context first; never NULL */
} nk_error;

/* Out of memory where there is no error path: "nook: out of memory" on
 * stderr, then abort(). */
void nk_oom(void) __attribute__((noreturn));

/* Set *err (if err is not NULL and *err is still unset) and return -1. */
int nk_error_set(nk_error **err, int errno_, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int nk_error_setv(nk_error **err, int errno_, const char *fmt, va_list ap);
/* Hand a callee's error `e` (owned) up through err: it becomes *err unless
 * err is NULL or already holds an error, in which case e is freed. Returns
 * -1. Use this, never `*err = e`. */
int nk_error_pass(nk_error **err, nk_error *e);
/* Prefix the message of an existing error with "context: ". Returns -1. */
int nk_error_wrap(nk_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message including strerror(errno_) when it is set. Caller frees. */
char *nk_error_text(const nk_error *e);
void nk_error_free(nk_error *e);
static inline void nk_error_freep(nk_error **e)
{
        if (*e)
                nk_error_free(*e);
}
#define _cleanup_error_ __attribute__((cleanup(nk_error_freep)))
