/* The nook-engine module: the engine commands that need its libraries
 * (libcurl, libarchive, OpenSSL, libnftables, libmnl), loaded only when one
 * of them runs. Its own file so that main and the commands built into the
 * binary (run/create, which load it only to pull) both reach it. */
#include "cmd/commands.h"
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The engine commands live in the nook-engine module with the heavy
 * libraries they need; it is loaded only when one of them runs, or when
 * run/create (in nook itself) need an image made or pulled. Looked up
 * next to the binary first (a build tree), then in the install dir. */
static void *engine_module(void)
{
        static void *h;
        if (h)
                return h;
        char exe[PATH_MAX], path[PATH_MAX + 32];
        const char *env = getenv("NOOK_ENGINE_MODULE");
        h = env ? dlopen(env, RTLD_NOW | RTLD_GLOBAL) : NULL;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (!h && n > 0) {
                exe[n] = '\0';
                snprintf(path, sizeof path, "%s/nook-engine.so", dirname(exe));
                h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        }
        if (h && !env)
                /* A command that seals /proc/self/exe (exec) runs again from
                 * a memfd copy, which has no directory to look beside. */
                setenv("NOOK_ENGINE_MODULE", path, 1);
        if (!h)
                h = dlopen(NOOK_ENGINE_DIR "/nook-engine.so", RTLD_NOW | RTLD_GLOBAL);
        if (!h)
                fprintf(stderr, "nook: engine module not found (%s)\n", dlerror());
        return h;
}

void *nk_cmd_engine_symbol(const char *name)
{
        void *h = engine_module();
        void *sym = h ? dlsym(h, name) : NULL;
        if (h && !sym)
                fprintf(stderr, "nook: engine module: no `%s`\n", name);
        return sym;
}
