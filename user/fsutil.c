// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Small file-system helpers (fsutil.h): the instance lock, removing what a
 * stopped or crashed instance left behind without following a symlink,
 * and telling whether a directory is safe to put the control socket in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "passthru-common.h"

#define PT_LOCK_PID_WAIT_US	50000

void pt_remove_path(const char *path)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		/* Not a directory, or a symlink: unlink() never follows. */
		unlink(path);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	rmdir(path);
}

/* The pid written in a lock file by its holder, 0 if none is readable. */
static pid_t lock_holder(int fd)
{
	char buf[24] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	return n > 0 ? (pid_t)atoi(buf) : 0;
}

/* Lock @path's file; -EAGAIN if the file we locked was removed meanwhile. */
static int lock_file(const char *path, pid_t *holder)
{
	struct stat st, now;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out_close;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		*holder = lock_holder(fd);
		if (!*holder) {
			/* It has just locked: give it the moment it takes to write its pid. */
			usleep(PT_LOCK_PID_WAIT_US);
			*holder = lock_holder(fd);
		}
		goto out_close;
	}
	/* Its owner may have unlinked it between our open and flock. */
	if (lstat(path, &now) || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		err = -EAGAIN;
		goto out_close;
	}
	return fd;
out_close:
	close(fd);
	return err;
}

int pt_instance_lock(const char *instance, pid_t *holder)
{
	char path[PATH_MAX], pid[24];
	int fd = -EAGAIN, n;

	*holder = 0;
	if (mkdir(PT_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	pt_lock_path(path, sizeof(path), instance);
	for (int tries = 0; fd == -EAGAIN && tries < 10; tries++)
		fd = lock_file(path, holder);
	if (fd < 0)
		return fd == -EAGAIN ? -EBUSY : fd;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {
		n = -errno;
		close(fd);
		return n;
	}
	return fd;
}

void pt_instance_unlock(int fd, const char *instance)
{
	char path[PATH_MAX];
	struct stat st, now;

	if (fd < 0)
		return;
	pt_lock_path(path, sizeof(path), instance);
	/* Still holding the lock: nobody can have replaced the file meanwhile. */
	if (fstat(fd, &st) == 0 && lstat(path, &now) == 0 && now.st_dev == st.st_dev &&
	    now.st_ino == st.st_ino)
		unlink(path);
	close(fd);
}

/* Is @st a directory that only its owner, root or @uid, may change? */
static bool dir_is_private(const struct stat *st, uid_t uid, bool sticky_ok)
{
	if (st->st_uid != 0 && st->st_uid != uid)
		return false;
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return true;
	return sticky_ok && st->st_uid == 0 && (st->st_mode & S_ISVTX);
}

int pt_dir_check_private(const char *file, uid_t uid, char *why, size_t size)
{
	char dir[PATH_MAX], real[PATH_MAX], *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	slash[slash == dir] = 0;
	if (!realpath(dir, real)) {
		snprintf(why, size, "directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	for (bool parent = true;; parent = false) {
		if (stat(real, &st)) {
			snprintf(why, size, "directory %s: %s", real, strerror(errno));
			return -errno;
		}
		if (!dir_is_private(&st, uid, !parent)) {
			snprintf(why, size,
				 "directory %s (owner uid %d, mode %04o) can be changed by other users",
				 real, (int)st.st_uid, (unsigned int)(st.st_mode & 07777));
			return -EPERM;
		}
		slash = strrchr(real, '/');
		if (!slash || !real[1])
			return 0;
		slash[slash == real] = 0;
	}
}

int pt_instance_claim(const char *instance, int *lock_fd)
{
	char path[PATH_MAX];
	pid_t holder;
	int fd;

	fd = pt_instance_lock(instance, &holder);
	*lock_fd = fd;
	if (fd >= 0)
		return 0;
	pt_lock_path(path, sizeof(path), instance);
	if (fd == -EBUSY && holder) {
		pr_err(MAIN, "instance %s is already running (pid %d holds %s); "
		       "use another --instance", instance, (int)holder, path);
	} else if (fd == -EBUSY) {
		pr_err(MAIN, "instance %s is already running (another process holds %s); "
		       "use another --instance", instance, path);
	} else if (fd == -EACCES || fd == -EPERM || fd == -EROFS) {
		/* An unprivileged start: it cannot make pins or a socket there either. */
		pr_warn(MAIN, "instance %s: cannot lock %s: %s; nothing guards this instance "
			"against a second daemon", instance, path, strerror(-fd));
		return 0;
	} else {
		pr_err(MAIN, "instance %s: cannot lock %s: %s", instance, path, strerror(-fd));
	}
	return fd;
}
