/* The engine's settings from the environment, in nook itself: run/create
 * mount overlays (NOOK_OVERLAY_NO_FD) without the engine module. */
#include "cmd/commands.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include <stdint.h>
#include <stdlib.h>

/* The engine's settings from the environment: the command layer reads the
 * variables (docs/images.md), the library only sees the struct. */
static struct nk_engine_env env_settings;

static const char *env_str(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

void nk_cmd_engine_env_init(void)
{
        static bool done;
        struct nk_engine_env *e = &env_settings;
        if (done)
                return;
        done = true;
        e->insecure_registries = env_str("NOOK_INSECURE_REGISTRIES");
        e->overlay_no_fd =
                env_str("NOOK_OVERLAY_NO_FD") && streq(getenv("NOOK_OVERLAY_NO_FD"), "1");
        e->auth_file = env_str("REGISTRY_AUTH_FILE");
        e->home = env_str("HOME");
        e->xdg_config_home = env_str("XDG_CONFIG_HOME");
        e->xdg_runtime_dir = env_str("XDG_RUNTIME_DIR");
        e->docker_config = env_str("DOCKER_CONFIG");
        const char *max = env_str("NOOK_MAX_LAYER_BYTES");
        unsigned long long v = 0;
        if (max && (nk_parse_uint(max, UINT64_MAX, &v) < 0 || v == 0))
                nk_warn("NOOK_MAX_LAYER_BYTES: `%s` is not a positive number of bytes, ignored",
                        max);
        e->max_layer_bytes = v;
        nk_engine_set_env(e);
}
