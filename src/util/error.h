/* nook — one error type for the whole library.
 *
 * A failure is reported once, where it happens, with errno and a message that
 * names what failed on what (path, id, JSON path, value). Callers add context
 * on the way up with nk_error_wrap(): the final text reads outermost first,
 * "create container abc: mount proc on /proc: Permission denied".
 * Every function that can fail takes `nk_error **err` last and returns -1
 * (or NULL) after setting it. */
#pragma once
#include <stdarg.h>

typedef struct nk_error {
        int errno_;  /* 0 when the failure is not a syscall's */
        char *msg;   /* full text, context first; never NULL */
} nk_error;

/* Set *err (if err is not NULL and *err is still unset) and return -1. */
int nk_error_set(nk_error **err, int errno_, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int nk_error_setv(nk_error **err, int errno_, const char *fmt, va_list ap);
/* Prefix the message of an existing error with "context: ". Returns -1. */
int nk_error_wrap(nk_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message including strerror(errno_) when it is set. Caller frees. */
char *nk_error_text(const nk_error *e);
void nk_error_free(nk_error *e);
static inline void nk_error_freep(nk_error **e) { if (*e) nk_error_free(*e); }
#define _cleanup_error_ __attribute__((cleanup(nk_error_freep)))
