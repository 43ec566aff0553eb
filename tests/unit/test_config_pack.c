// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * config-pack.c: the master's hand-over of a loaded config to its workers.
 * A pack rebuilds the same model with the master's addresses (the worker
 * resolves nothing), and a pack that does not fit what it parses is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "config.h"
#include "test.h"

static const char text_a[] =
	"{\"listeners\": [{\"listen\": \"127.0.0.1:9001\", \"routes\": ["
	"{\"name\": \"a\", \"match\": {\"protocol\": \"tls\"}, "
	"\"forward\": [\"127.0.0.1:81\", \"127.0.0.2:82\"]},"
	"{\"name\": \"b\", \"forward\": \"[::1]:83\"}]}]}";

static const char text_b[] =
	"{\"listeners\": [{\"listen\": \"127.0.0.1:9001\", \"routes\": ["
	"{\"name\": \"a\", \"forward\": \"127.0.0.1:84\"}]}]}";

/* The master's model, with addresses changed as if its resolver had said so. */
static struct pt_config *master_model(const char *text)
{
	struct pt_config *cfg = pt_config_parse("pack.json", text, NULL, stderr);

	if (cfg && cfg->listeners[0].routes[0].upstreams[0].n_addrs)
		((struct sockaddr_in *)&cfg->listeners[0].routes[0].upstreams[0].addrs[0].ss)
			->sin_port = htons(7777);
	return cfg;
}

static void test_roundtrip(void)
{
	struct pt_config *m = master_model(text_a), *w;
	const struct pt_upstream *mu, *wu;
	int fd;

	if (!ASSERT_TRUE(m, "master parses"))
		return;
	fd = pt_config_pack(m, text_a, strlen(text_a));
	ASSERT_TRUE(fd >= 0, "pack");
	ASSERT_EQ(write(fd, "x", 1), -1, "the pack is sealed against writes");
	w = pt_config_unpack(fd, NULL, stderr);
	close(fd);
	if (!ASSERT_TRUE(w, "unpack"))
		goto out;
	ASSERT_STREQ(w->path, "pack.json", "path");
	ASSERT_EQ(w->listeners[0].n_routes, 2, "routes");
	for (int r = 0; r < 2; r++) {
		ASSERT_EQ(w->listeners[0].routes[r].n_upstreams, m->listeners[0].routes[r].n_upstreams,
			  "upstreams per route");
		for (int u = 0; u < m->listeners[0].routes[r].n_upstreams; u++) {
			mu = &m->listeners[0].routes[r].upstreams[u];
			wu = &w->listeners[0].routes[r].upstreams[u];
			ASSERT_STREQ(wu->spec, mu->spec, "spec");
			if (ASSERT_EQ(wu->n_addrs, mu->n_addrs, "addresses"))
				ASSERT_TRUE(!memcmp(wu->addrs, mu->addrs,
						    mu->n_addrs * sizeof(*mu->addrs)),
					    "the master's addresses, not resolved again");
		}
	}
	pt_config_put(w);
out:
	pt_config_put(m);
}

static void test_mismatch(void)
{
	struct pt_config *m = master_model(text_a), *w;
	FILE *errs = tmpfile();
	int fd;

	if (!ASSERT_TRUE(m && errs, "setup"))
		goto out;
	/* The text of another file than the model: its upstreams do not line up. */
	fd = pt_config_pack(m, text_b, strlen(text_b));
	ASSERT_TRUE(fd >= 0, "pack");
	w = pt_config_unpack(fd, NULL, errs);
	close(fd);
	ASSERT_TRUE(!w, "refused");
	ASSERT_EQ(errno, EBADMSG, "errno");
	pt_config_put(w);
	/* Not a pack at all. */
	fd = memfd_create("junk", 0);
	ASSERT_EQ(write(fd, "0123456789abcdefghijklmnopqrstuvwxyz", 36), 36, "junk written");
	w = pt_config_unpack(fd, NULL, errs);
	close(fd);
	ASSERT_TRUE(!w, "junk refused");
	pt_config_put(w);
out:
	if (errs)
		fclose(errs);
	pt_config_put(m);
}

int main(void)
{
	RUN_TEST(test_roundtrip);
	RUN_TEST(test_mismatch);
	return pt_test_done();
}
