/* Small file helpers. All fds O_CLOEXEC. */
#pragma once
#include "error.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read a whole file (NUL-terminated; *len excludes the NUL). */
int nk_read_file(const char *path, char **out, size_t *len, nk_error **err);
int nk_read_file_at(int dirfd, const char *path, char **out, size_t *len, nk_error **err);
/* Write (truncate) a whole file; creates it with `mode` if absent. */
/* write(2) all of buf, again after EINTR or a short write; -1 with errno. */
int nk_write_all(int fd, const void *buf, size_t len);
int nk_write_file(const char *path, const char *data, size_t len, mode_t mode, nk_error **err);
int nk_write_file_at(int dirfd, const char *path, const char *data, size_t len, nk_error **err);
/* A file of the procfs this process sees at /proc, `rel` below it
 * ("self/oom_score_adj", "sys/kernel/shmmax"): only when /proc is the root
 * of a procfs and no other mount lies on the way (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS), never created. A bind mount over
 * /proc/1 or /proc/sys/... is an error, not somewhere else to write. */
int nk_proc_open(const char *rel, int flags, nk_error **err);
/* Write a whole file opened by nk_proc_open (O_WRONLY, no O_TRUNC). */
int nk_proc_write(const char *rel, const char *data, size_t len, nk_error **err);
/* temp file in the same dir + fsync + rename + fsync(dir): readers see the
 * old or the new content, and the new one survives a crash. */
int nk_write_file_atomic(const char *path, const char *data, size_t len, mode_t mode,
                         nk_error **err);
/* The same without the fsyncs, for files that mean nothing after a reboot
 * (runtime state, pid files): readers still never see a partial file. */
int nk_write_file_replace(const char *path, const char *data, size_t len, mode_t mode,
                          nk_error **err);
/* Put tmp (a file written in dirfd, not synced) in name's place: swapped
 * with name (renameat2 RENAME_EXCHANGE), then tmp, the old content now,
 * unlinked; a plain rename when name is absent or the file system cannot
 * swap. Readers see the old or the new file whole, as with rename(2), but
 * ext4 does not first write the new data back (auto_da_alloc does that on
 * a rename over an existing file: 0.5 ms and more per call here). After a
 * power loss the file may come back empty: only for state that means
 * nothing after a reboot, whose readers take an empty file for none.
 * -1 with errno set. */
int nk_swap_in_at(int dirfd, const char *tmp, const char *name);
/* mkdir -p; existing directories are fine. */
int nk_mkdir_p(const char *path, mode_t mode, nk_error **err);
/* rm -rf, not crossing mount points; absent is fine. */
int nk_rm_rf(const char *path, nk_error **err);
bool nk_path_exists(const char *path);
/* flock(fd, how), waiting through signals: 0, or -1 with errno set. */
int nk_flock_wait(int fd, int how);
/* Close every fd >= first but the `n` in keep (entries below first are
 * skipped): what a process about to become visible to a container must
 * not hold. */
int nk_close_fds_except(unsigned first, const int *keep, size_t n);
