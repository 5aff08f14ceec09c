/* The nook-engine module: the engine commands that need its libraries
 * (libcurl, libarchive, OpenSSL, libnftables, libmnl), loaded only when one
 * of them runs. Its own file so that main and the commands built into the
 * binary (run/create, which load it only to pull) both reach it. */
#include "cmd/commands.h"
#include "net/ctrnet.h"
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
static void *load_module(const char *file, const char *env_name)
{
        void *h;
        char exe[PATH_MAX], path[PATH_MAX + 32];
        const char *env = getenv(env_name);
        h = env ? dlopen(env, RTLD_NOW | RTLD_GLOBAL) : NULL;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (!h && n > 0) {
                exe[n] = '\0';
                snprintf(path, sizeof path, "%s/%s", dirname(exe), file);
                h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        }
        if (h && !env)
                /* A command that seals /proc/self/exe (exec) runs again from
                 * a memfd copy, which has no directory to look beside. */
                setenv(env_name, path, 1);
        if (!h) {
                snprintf(path, sizeof path, "%s/%s", NOOK_ENGINE_DIR, file);
                h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        }
        if (!h)
                fprintf(stderr, "nook: module %s not found (%s)\n", file, dlerror());
        return h;
}

static void *engine_module(void)
{
        static void *h;
        if (!h)
                h = load_module("nook-engine.so", "NOOK_ENGINE_MODULE");
        return h;
}

/* The small networking module (src/net and libmnl): what run/create, rm,
 * start and the monitor's --rm need, without the engine module. When the
 * engine module is loaded already (a `nook network` command), its copy of
 * src/net serves. */
const struct nk_net_ops *nk_cmd_net_ops(void)
{
        static const struct nk_net_ops *ops;
        static void *h;
        if (ops)
                return ops;
        if (!h)
                h = load_module("nook-net.so", "NOOK_NET_MODULE");
        ops = h ? dlsym(h, NK_NET_OPS_SYMBOL) : NULL;
        if (h && !ops)
                fprintf(stderr, "nook: net module: no `%s`\n", NK_NET_OPS_SYMBOL);
        return ops;
}

void *nk_cmd_engine_symbol(const char *name)
{
        void *h = engine_module();
        void *sym = h ? dlsym(h, name) : NULL;
        if (h && !sym)
                fprintf(stderr, "nook: engine module: no `%s`\n", name);
        return sym;
}
