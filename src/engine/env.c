/* The engine's settings from the caller (see struct nk_engine_env). */
#include "engine/engine.h"

static const struct nk_engine_env none;
static const struct nk_engine_env *current = &none;

void nk_engine_set_env(const struct nk_engine_env *env)
{
        current = env ? env : &none;
}

const struct nk_engine_env *nk_engine_get_env(void)
{
        return current;
}
