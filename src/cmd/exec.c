#include "cmd/commands.h"
