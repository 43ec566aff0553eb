// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config object: make a daemon re-read its config file through its
 * control socket; new connections use it, established ones keep theirs.
 *
 *   passthru-ctl [OPTIONS] config { reload | help }
 *
 * "reload" is the same, under its 0.1 name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/*
 * Without --instance, select the one daemon that answers, if only one
 * does. 0 or -errno (reported).
 */
static int select_only_instance(void)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {};
	char list[256] = "";
	int n = ask_all("version", CTL_ASK_MS, answers), pick = -1;

	if (n < 0)
		return n;
	for (int i = 0; i < n_instances; i++) {
		if (!answers[i])
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.31s",
			 pick < 0 ? "" : ", ", instances[i].name);
		pick = i;
	}
	free_answers(answers);
	if (n > 1) {
		p_err("%d instances are running (%s): name the one to reload with --instance", n,
		      list);
		return -EINVAL;
	}
	opt_instances[n_opt_instances++] = strdup(instances[pick].name);
	return 0;
}

/* How many of the answers are errors; the first of them in *first. */
static int count_failed(cJSON **answers, int *first)
{
	int failed = 0;

	*first = -1;
	for (int i = 0; i < n_instances; i++) {
		if (answers[i] && jstr(answers[i], "error")) {
			failed++;
			if (*first < 0)
				*first = i;
		}
	}
	return failed;
}

/* The common case: one instance, one error, its reasons. */
static void print_reload_error(const struct instance *in, const cJSON *ans)
{
	const cJSON *m;

	if (json_output) {
		print_json((cJSON *)ans);
		return;
	}
	fprintf(stderr, "Error: instance %s: %s\n", in->name, jstr(ans, "error"));
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ans, "messages"))
	if (cJSON_IsString(m))
		fprintf(stderr, "  %s\n", m->valuestring);
}

/* {"instances": [ANSWER + "name"]}; the answers move into it. */
static void print_reloads_json(cJSON **answers)
{
	cJSON *doc = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(doc, "instances"), *o;

	for (int i = 0; i < n_instances; i++) {
		if (!answers[i])
			continue;
		o = answers[i];
		answers[i] = NULL;
		cJSON_AddItemToObject(o, "name", cJSON_CreateString(instances[i].name));
		cJSON_AddItemToArray(a, o);
	}
	print_json(doc);
	cJSON_Delete(doc);
}

/* One line per instance: reloaded, or why not (on stderr). */
static void print_reloads_text(cJSON **answers)
{
	for (int i = 0; i < n_instances; i++) {
		if (!answers[i])
			continue;
		if (jstr(answers[i], "error"))
			fprintf(stderr, "Error: instance %s: %s\n", instances[i].name,
				jstr(answers[i], "error"));
		else
			printf("instance %s: reloaded %s, generation %.0f\n", instances[i].name,
			       jstr(answers[i], "config") ?: "?", jnum(answers[i], "generation"));
	}
}

/* Reload the selected instance (the only one running if none is named). */
static int config_reload(void)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {};
	int err, failed, first_bad;

	if (!n_opt_instances) {
		err = select_only_instance();
		if (err)
			return err;
	}
	err = ask_all("reload", CTL_RELOAD_MS, answers);
	if (err < 0)
		return err;
	failed = count_failed(answers, &first_bad);
	if (failed == 1 && n_instances == 1)
		print_reload_error(&instances[first_bad], answers[first_bad]);
	else if (json_output)
		print_reloads_json(answers);
	else
		print_reloads_text(answers);
	free_answers(answers);
	return failed ? -EINVAL : 0;
}

#define RELOAD_HELP "Make the daemon re-read its config file: new connections use it, "\
		   "established ones\nkeep theirs. With several instances running, name one "\
		   "with --instance."

static int do_reload_cmd(int argc, char **argv)
{
	return run_no_args(argc, argv, "config reload", config_reload);
}

static int do_help(int argc, char **argv)
{
	return print_object_help("config", "reload", RELOAD_HELP, "");
}

static const struct cmd cmds[] = {
	{ .name = "reload", .fn = do_reload_cmd },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl config { reload | help }; help by default. */
int do_config(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "config", 1);
}

/* passthru-ctl 0.1's "reload [help]": config reload. */
int do_reload(int argc, char **argv)
{
	return run_alias(argc, argv, "reload", "reload\n" RELOAD_HELP, config_reload);
}
