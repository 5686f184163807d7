/*
 * Small state files in a process's own directory (its chroot): written
 * atomically (temporary file 0600, fsync, rename), read whole with a size
 * bound.  Used by ctrld (machine key, prefs) and netd (node/disco keys).
 */
#ifndef PM_STATEFILE_H
#define PM_STATEFILE_H

#include <stddef.h>
#include <sys/types.h>

#define STATEFILE_MAX	65536

/* 0 or -errno. */
int	statefile_write(const char *path, const void *data, size_t len);
/* Bytes read into buf (NUL-terminated, so at most cap - 1), or -errno
 * (-ENOENT: no such file; -EFBIG: larger than cap - 1). */
ssize_t	statefile_read(const char *path, char *buf, size_t cap);

#endif
