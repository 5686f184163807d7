#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "log.h"
#include "netmap.h"
#include "noise.h"
#include "prefs.h"
#include "statefile.h"

void
prefs_default(struct prefs *p)
{
	memset(p, 0, sizeof(*p));
	p->accept_dns = true;		/* tailscale's default */
	p->advertise_routes = json_array();
	p->advertise_tags = json_array();
}

void
prefs_free(struct prefs *p)
{
	json_decref(p->advertise_routes);
	json_decref(p->advertise_tags);
	p->advertise_routes = p->advertise_tags = NULL;
}

static int
fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -1;
}

static bool
valid_tag(const char *s)
{
	if (strncmp(s, "tag:", 4) != 0 || s[4] == '\0' || strlen(s) > 64)
		return false;
	for (s += 4; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static int
str_list(json_t *v, size_t max, bool (*ok)(const char *), json_t **out,
    const char *what, char *err, size_t errlen)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > max)
		return fail(err, errlen, "%s: expected a list", what);
	json_array_foreach(v, i, e)
		if (!json_is_string(e) || !ok(json_string_value(e)))
			return fail(err, errlen, "%s: bad entry", what);
	json_decref(*out);
	*out = json_incref(v);
	return 0;
}

static int
str_field(json_t *v, char *dst, size_t cap, const char *what, char *err,
    size_t errlen)
{
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) >= cap)
		return fail(err, errlen, "%s: expected a (short) string", what);
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(err, errlen, "%s: control character", what);
	strcpy(dst, s);
	return 0;
}

static bool
valid_hostname(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

int
prefs_from_json(struct prefs *p, json_t *o, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return fail(err, errlen, "%s: expected an object", "prefs");
	json_object_foreach(o, k, v) {
		bool *b = NULL;
		int r = 0;

		if (strcmp(k, "login_server") == 0)
			r = str_field(v, p->login_server,
			    sizeof(p->login_server), k, err, errlen);
		else if (strcmp(k, "hostname") == 0) {
			r = str_field(v, p->hostname, sizeof(p->hostname), k,
			    err, errlen);
			if (r == 0 && !valid_hostname(p->hostname))
				r = fail(err, errlen, "%s: letters, digits "
				    "and '-' only", k);
		} else if (strcmp(k, "exit_node") == 0)
			r = str_field(v, p->exit_node, sizeof(p->exit_node), k,
			    err, errlen);
		else if (strcmp(k, "advertise_routes") == 0)
			r = str_list(v, PREFS_MAX_ROUTES, nm_valid_prefix,
			    &p->advertise_routes, k, err, errlen);
		else if (strcmp(k, "advertise_tags") == 0)
			r = str_list(v, PREFS_MAX_TAGS, valid_tag,
			    &p->advertise_tags, k, err, errlen);
		else if (strcmp(k, "want_running") == 0)
			b = &p->want_running;
		else if (strcmp(k, "logged_out") == 0)
			b = &p->logged_out;
		else if (strcmp(k, "accept_routes") == 0)
			b = &p->accept_routes;
		else if (strcmp(k, "accept_dns") == 0)
			b = &p->accept_dns;
		else if (strcmp(k, "exit_node_allow_lan_access") == 0)
			b = &p->exit_node_allow_lan;
		else if (strcmp(k, "advertise_exit_node") == 0)
			b = &p->advertise_exit_node;
		else
			r = fail(err, errlen, "unknown preference %s", k);
		if (b != NULL) {
			if (!json_is_boolean(v))
				r = fail(err, errlen, "%s: expected true or "
				    "false", k);
			else
				*b = json_is_true(v);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

json_t *
prefs_to_json(const struct prefs *p)
{
	return json_pack("{s:s,s:s,s:b,s:b,s:b,s:b,s:s,s:b,s:b,s:O,s:O}",
	    "login_server", p->login_server, "hostname", p->hostname,
	    "want_running", p->want_running, "logged_out", p->logged_out,
	    "accept_routes", p->accept_routes, "accept_dns", p->accept_dns,
	    "exit_node", p->exit_node,
	    "exit_node_allow_lan_access", p->exit_node_allow_lan,
	    "advertise_exit_node", p->advertise_exit_node,
	    "advertise_routes", p->advertise_routes,
	    "advertise_tags", p->advertise_tags);
}

int
prefs_load(struct prefs *p, char *err, size_t errlen)
{
	char buf[STATEFILE_MAX];
	json_error_t jerr;
	json_t *o;
	ssize_t n;
	int r;

	if ((n = statefile_read(PREFS_FILE, buf, sizeof(buf))) == -ENOENT)
		return 0;
	if (n < 0)
		return fail(err, errlen, "cannot read %s", PREFS_FILE);
	if ((o = json_loadb(buf, (size_t)n, 0, &jerr)) == NULL)
		return fail(err, errlen, "%s is not valid JSON", PREFS_FILE);
	r = prefs_from_json(p, o, err, errlen);
	json_decref(o);
	return r;
}

int
prefs_save(const struct prefs *p)
{
	json_t *o = prefs_to_json(p);
	char *s = o != NULL ? json_dumps(o, JSON_INDENT(2)) : NULL;
	int r = s != NULL ? statefile_write(PREFS_FILE, s, strlen(s)) : -ENOMEM;

	free(s);
	json_decref(o);
	return r;
}

int
machine_key_load(uint8_t priv[32], uint8_t pub[32])
{
	char buf[256], text[KEY_TEXT_MAX + 1];
	ssize_t n = statefile_read(MACHINE_KEY_FILE, buf, sizeof(buf));
	int r;

	if (n >= 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (key_parse(buf, "privkey:", priv) < 0)
			return -EINVAL;
		crypto_scalarmult_base(pub, priv);
		return 0;
	}
	if (n != -ENOENT)
		return (int)n;
	noise_keypair(priv, pub);
	key_format(text, "privkey:", priv);
	strcat(text, "\n");
	r = statefile_write(MACHINE_KEY_FILE, text, strlen(text));
	sodium_memzero(text, sizeof(text));
	return r;
}
