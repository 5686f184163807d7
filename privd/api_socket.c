/*
 * The local API socket.  privd creates and binds it (the directory under
 * /run needs root) and hands the listening fd to ctrld, which serves it and
 * decides per connection from SO_PEERCRED who may change settings.  The
 * socket is world-connectable: anyone may read status.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "privd.h"

/* Creates the parent directory if missing; refuses one others can write. */
static int
prepare_dir(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	dirname(dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & S_IWOTH && !(st.st_mode & S_ISVTX)))
		return -EPERM;
	return 0;
}

/* A stale socket from an earlier run is removed; any other file is not. */
static int
remove_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	return unlink(path) == 0 ? 0 : -errno;
}

int
api_socket_create(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	if ((r = prepare_dir(path)) < 0 || (r = remove_stale(path)) < 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0666) != 0 || listen(fd, 64) != 0) {
		r = -errno;
		close(fd);
		unlink(path);
		return r;
	}
	return fd;
}
