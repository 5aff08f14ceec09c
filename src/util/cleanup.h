/* Ownership helpers: a null-safe cleanup attribute per owned kind, and
 * explicit transfer with TAKE_PTR / TAKE_FD. */
#pragma once
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void nk_freep(void *p)
{
        free(*(void **)p);
}
static inline void nk_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void nk_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
static inline void nk_closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}
static inline void nk_strv_freep(char ***v)
{
        if (!*v)
                return;
        for (char **p = *v; *p; p++)
                free(*p);
        free(*v);
}

#define _cleanup_(f)       __attribute__((cleanup(f)))
#define _cleanup_free_     _cleanup_(nk_freep)
#define _cleanup_close_    _cleanup_(nk_closep)
#define _cleanup_fclose_   _cleanup_(nk_fclosep)
#define _cleanup_closedir_ _cleanup_(nk_closedirp)
#define _cleanup_strv_     _cleanup_(nk_strv_freep)

/* For our own structs: DEFINE_CLEANUP(nk_spec, nk_spec_free) gives
 * _cleanup_nk_spec_ calling nk_spec_free(p) when p is not NULL. */
#define DEFINE_CLEANUP(type, fn)                                                                   \
        static inline void fn##p(struct type **p)                                                  \
        {                                                                                          \
                if (*p)                                                                            \
                        fn(*p);                                                                    \
        }

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _tp = (p);                                                           \
                (p) = NULL;                                                                        \
                _tp;                                                                               \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _tf = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _tf;                                                                               \
        })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b)   (strcmp((a), (b)) == 0)
