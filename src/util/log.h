/* Logging for the runtime face: --log FILE with --log-format text|json
 * (json lines {"level","msg","time"} as containerd and podman read them).
 * Errors also go to stderr. Library code may log; it never prints results. */
#pragma once
#include <stdbool.h>

enum nk_log_level { NK_LOG_DEBUG, NK_LOG_INFO, NK_LOG_WARN, NK_LOG_ERROR };

/* -1 with errno when the log file can't be opened for writing. */
int nk_log_init(const char *path, bool json, bool debug);
void nk_log(enum nk_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool nk_log_debug_enabled(void);
/* crun's --log-level error: warnings are not shown or logged. */
void nk_log_errors_only(void);
/* In a process that closed the log fd (one about to enter a container):
 * forget it, so nothing is written to whatever reuses its number. */
void nk_log_detach(void);
/* s with control characters shown as \n, \r, \t, \xNN or \uNNNN, and
 * bytes that are not well-formed UTF-8 as \xNN: one line of valid UTF-8,
 * fit for a terminal, a log line and a JSON string alike. */
char *nk_log_escape(const char *s);
/* s is well-formed UTF-8 (what jansson takes as a JSON string). */
bool nk_utf8_valid(const char *s);
#define nk_debug(...)                                                                              \
        do {                                                                                       \
                if (nk_log_debug_enabled())                                                        \
                        nk_log(NK_LOG_DEBUG, __VA_ARGS__);                                         \
        } while (0)
#define nk_warn(...) nk_log(NK_LOG_WARN, __VA_ARGS__)
