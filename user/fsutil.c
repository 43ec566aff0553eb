// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Small file-system helpers for cleanup (fsutil.h): removing the pin
 * directory and run files a stopped or crashed instance left behind.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fsutil.h"

void pt_remove_path(const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(path);

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		unlink(sub);
	}
	closedir(d);
	rmdir(path);
}
