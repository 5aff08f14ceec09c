#include "error.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void nk_oom(void)
{
        static const char msg[] = "nook: out of memory\n";
        (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
        abort();
}

int nk_error_setv(nk_error **err, int errno_, const char *fmt, va_list ap)
{
        if (!err || *err)
                return -1;
        nk_error *e = calloc(1, sizeof(*e));
        if (!e)
                nk_oom();
        e->errno_ = errno_;
        if (vasprintf(&e->msg, fmt, ap) < 0)
                nk_oom();
        *err = e;
        return -1;
}

int nk_error_set(nk_error **err, int errno_, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        nk_error_setv(err, errno_, fmt, ap);
        va_end(ap);
        return -1;
}

int nk_error_pass(nk_error **err, nk_error *e)
{
        if (err && !*err)
                *err = e;
        else
                nk_error_free(e);
        return -1;
}

int nk_error_wrap(nk_error **err, const char *fmt, ...)
{
        if (!err || !*err)
                return -1;
        char *ctx = NULL, *joined = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&ctx, fmt, ap) < 0)
                nk_oom();
        va_end(ap);
        if (asprintf(&joined, "%s: %s", ctx, (*err)->msg) < 0)
                nk_oom();
        free(ctx);
        free((*err)->msg);
        (*err)->msg = joined;
        return -1;
}

char *nk_error_text(const nk_error *e)
{
        char *s = NULL;
        if (e->errno_)
                (void)!asprintf(&s, "%s: %s", e->msg, strerror(e->errno_));
        else
                s = strdup(e->msg);
        if (!s)
                nk_oom();
        return s;
}

void nk_error_free(nk_error *e)
{
        if (!e)
                return;
        free(e->msg);
        free(e);
}
