/*
 * wg-quick config parser.  The text is copied once into a NUL-terminated
 * buffer (wiped afterwards: it holds the private key) and cut in place:
 * line -> comment stripped -> "[Section]" or "Key = Value" -> per-key
 * parser from a table -> list items for the repeatable keys.
 *
 * Every message names the line and the key and never quotes a key value;
 * other user text is quoted with control characters replaced, because the
 * owner logs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "wgconf.h"

#define KEY_B64_LEN	44	/* base64 of 32 bytes, one '=' of padding */
#define QUOTE_SIZE	64	/* user text quoted in a message */
#define MSG_SIZE	192

enum section { SEC_NONE, SEC_INTERFACE, SEC_PEER };

enum key_id {
	K_PRIVATE_KEY, K_LISTEN_PORT, K_ADDRESS, K_MTU, K_DNS, K_FWMARK,
	K_TABLE, K_SAVE_CONFIG, K_PRE_UP, K_POST_UP, K_PRE_DOWN, K_POST_DOWN,
	K_PUBLIC_KEY, K_PRESHARED_KEY, K_ENDPOINT, K_ALLOWED_IPS, K_KEEPALIVE,
	K_COUNT
};

struct parser;
typedef int (*value_fn)(struct parser *, char *value);

struct key_desc {
	const char	*name;		/* canonical spelling, for messages */
	enum section	 sec;
	bool		 list;		/* may repeat; comma-separated */
	value_fn	 parse;
};

struct parser {
	struct wg_config *cfg;
	enum section	 sec;
	unsigned	 lineno;
	unsigned	 iface_line;	/* 0 until [Interface] */
	unsigned	 set_on[K_COUNT]; /* line each key was set, this section */
	const char	*key;		/* key being parsed, prefixes messages */
	size_t		 peers_cap;
	size_t		 aips_cap;	/* of the last peer */
	char		*err;
	size_t		 errlen;
};

static int fail_at(struct parser *, unsigned, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
vfail_at(struct parser *p, unsigned line, const char *fmt, va_list ap)
{
	char msg[MSG_SIZE];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (p->errlen == 0)
		return -EINVAL;
	if (line == 0)
		snprintf(p->err, p->errlen, "%s", msg);
	else
		snprintf(p->err, p->errlen, "line %u: %s%s%s", line,
		    p->key ? p->key : "", p->key ? ": " : "", msg);
	return -EINVAL;
}

/* "line N: Key: what" for the given line; 0 means the whole file. */
static int
fail_at(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail_at(p, line, fmt, ap);
	va_end(ap);
	return r;
}

static int
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail_at(p, p->lineno, fmt, ap);
	va_end(ap);
	return r;
}

static int
oom(struct parser *p)
{
	if (p->errlen > 0)
		snprintf(p->err, p->errlen, "out of memory");
	return -ENOMEM;
}

/* Printable ASCII copy of s for messages, truncated with "...". */
static const char *
quote(char buf[QUOTE_SIZE], const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < QUOTE_SIZE - 4; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *
trim(char *s)
{
	char *e;

	while (is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		*--e = '\0';
	return s;
}

/* Decimal, or hex after "0x" when allowed; no sign, no spaces. */
static int
parse_u32(const char *s, bool allow_hex, uint32_t max, uint32_t *out)
{
	const char *digits = "0123456789";
	unsigned long long v;
	int base = 10;

	if (allow_hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		digits = "0123456789abcdefABCDEF";
		base = 16;
		s += 2;
	}
	if (*s == '\0' || s[strspn(s, digits)] != '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, NULL, base);
	if (errno != 0 || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* A WireGuard key: exactly 44 characters of canonical base64. */
static int
parse_key(const char *s, uint8_t key[WG_CONFIG_KEY_LEN])
{
	size_t n = 0;

	if (strlen(s) != KEY_B64_LEN || s[KEY_B64_LEN - 1] != '=' ||
	    sodium_base642bin(key, WG_CONFIG_KEY_LEN, s, KEY_B64_LEN, NULL,
	    &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != WG_CONFIG_KEY_LEN) {
		sodium_memzero(key, WG_CONFIG_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

/* As wg(8): a ':' means IPv6, anything else must be dotted-quad IPv4. */
static int
parse_ip(const char *s, struct wg_config_ip *ip)
{
	ip->family = strchr(s, ':') != NULL ? AF_INET6 : AF_INET;
	return inet_pton(ip->family, s, ip->addr) == 1 ? 0 : -EINVAL;
}

/* "ip" or "ip/cidr"; the default length covers the single address. */
static int
parse_prefix(struct parser *p, char *s, struct wg_config_prefix *out)
{
	struct wg_config_ip ip;
	char *slash = strchr(s, '/'), q[QUOTE_SIZE];
	uint32_t cidr, max;

	if (slash != NULL)
		*slash = '\0';
	if (parse_ip(trim(s), &ip) < 0)
		return fail(p, "'%s' is not an IP address", quote(q, s));
	max = ip.family == AF_INET ? 32 : 128;
	cidr = max;
	if (slash != NULL && parse_u32(trim(slash + 1), false, max, &cidr) < 0)
		return fail(p, "prefix length '%s' is not 0-%u",
		    quote(q, slash + 1), max);
	out->family = ip.family;
	memcpy(out->addr, ip.addr, sizeof(out->addr));
	out->cidr = (uint8_t)cidr;
	return 0;
}

typedef int (*item_fn)(struct parser *, char *item);

/* Calls fn on each trimmed item of a comma-separated list. */
static int
for_each_item(struct parser *p, char *value, item_fn fn)
{
	char *item, *rest = value;
	int r;

	if (*value == '\0')
		return 0;
	while ((item = strsep(&rest, ",")) != NULL) {
		item = trim(item);
		if (*item == '\0')
			return fail(p, "empty entry in the list");
		if ((r = fn(p, item)) < 0)
			return r;
	}
	return 0;
}

static struct wg_config_peer *
cur_peer(struct parser *p)
{
	return &p->cfg->peers[p->cfg->n_peers - 1];
}

/* [Interface] keys */

static int
parse_private_key(struct parser *p, char *v)
{
	if (parse_key(v, p->cfg->private_key) < 0)
		return fail(p, "not a valid base64 WireGuard key");
	p->cfg->has_private_key = true;
	return 0;
}

static int
parse_listen_port(struct parser *p, char *v)
{
	uint32_t port;

	if (parse_u32(v, false, 65535, &port) < 0)
		return fail(p, "not a port number (0-65535)");
	p->cfg->listen_port = (uint16_t)port;
	p->cfg->has_listen_port = true;
	return 0;
}

static int
address_item(struct parser *p, char *item)
{
	struct wg_config *c = p->cfg;

	if (c->n_addresses == WG_CONFIG_MAX_ADDRESSES)
		return fail(p, "more than %d addresses",
		    WG_CONFIG_MAX_ADDRESSES);
	if (parse_prefix(p, item, &c->addresses[c->n_addresses]) < 0)
		return -EINVAL;
	c->n_addresses++;
	return 0;
}

static int
parse_address(struct parser *p, char *v)
{
	return for_each_item(p, v, address_item);
}

static int
parse_mtu(struct parser *p, char *v)
{
	if (parse_u32(v, false, WG_CONFIG_MTU_MAX, &p->cfg->mtu) < 0 ||
	    p->cfg->mtu < WG_CONFIG_MTU_MIN)
		return fail(p, "not a number from %d to %d", WG_CONFIG_MTU_MIN,
		    WG_CONFIG_MTU_MAX);
	return 0;
}

/* A search domain as resolv.conf takes it: LDH labels (and '_'), 1-63
 * characters each, at most 253 in all, an optional final dot. */
static bool
valid_domain(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (n == 0 || n > WG_CONFIG_DOMAIN_SIZE - 1)
		return false;
	for (; *s != '\0'; s++) {
		char c = *s;

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* wg-quick's rule: digits and dots, or any ':', is a server address;
 * anything else is a search domain. */
static int
dns_item(struct parser *p, char *item)
{
	struct wg_config *c = p->cfg;
	char q[QUOTE_SIZE];

	if (item[strspn(item, "0123456789.")] == '\0' || strchr(item, ':')) {
		if (c->n_dns == WG_CONFIG_MAX_DNS)
			return fail(p, "more than %d servers",
			    WG_CONFIG_MAX_DNS);
		if (parse_ip(item, &c->dns[c->n_dns]) < 0)
			return fail(p, "'%s' is not an IP address",
			    quote(q, item));
		c->n_dns++;
		return 0;
	}
	if (!valid_domain(item))
		return fail(p, "'%s' is not an IP address or a search domain",
		    quote(q, item));
	if (c->n_search == WG_CONFIG_MAX_DNS)
		return fail(p, "more than %d search domains",
		    WG_CONFIG_MAX_DNS);
	memcpy(c->search[c->n_search++], item, strlen(item) + 1);
	return 0;
}

static int
parse_dns(struct parser *p, char *v)
{
	return for_each_item(p, v, dns_item);
}

static int
parse_fwmark(struct parser *p, char *v)
{
	if (strcasecmp(v, "off") == 0)
		p->cfg->fwmark = 0;
	else if (parse_u32(v, true, UINT32_MAX, &p->cfg->fwmark) < 0)
		return fail(p, "not off or a number from 0 to 0xffffffff");
	p->cfg->has_fwmark = true;
	return 0;
}

/* Table names other than iproute2's fixed three would need rt_tables,
 * which the sandbox does not have. */
static int
parse_table(struct parser *p, char *v)
{
	static const struct {
		const char		*name;
		enum wg_config_table	 mode;
		uint32_t		 id;
	} named[] = {
		{ "off", WG_CONFIG_TABLE_OFF, 0 },
		{ "auto", WG_CONFIG_TABLE_AUTO, 0 },
		{ "main", WG_CONFIG_TABLE_ID, 254 },
		{ "local", WG_CONFIG_TABLE_ID, 255 },
		{ "default", WG_CONFIG_TABLE_ID, 253 },
	};
	struct wg_config *c = p->cfg;
	uint32_t id;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strcasecmp(v, named[i].name) == 0) {
			c->table = named[i].mode;
			c->table_id = named[i].id;
			return 0;
		}
	}
	if (parse_u32(v, false, UINT32_MAX, &id) < 0 || id == 0)
		return fail(p, "not off, auto, main, local, default or a "
		    "table number");
	c->table = WG_CONFIG_TABLE_ID;
	c->table_id = id;
	return 0;
}

static int
parse_save_config(struct parser *p, char *v)
{
	if (strcasecmp(v, "true") == 0)
		return fail(p, "not supported: privmesh never rewrites the "
		    "config file");
	if (strcasecmp(v, "false") != 0)
		return fail(p, "not true or false");
	return 0;
}

/* privd never runs a shell, and netd could not. */
static int
reject_command(struct parser *p, char *v)
{
	(void)v;
	return fail(p, "not supported: privmesh never runs commands");
}

/* [Peer] keys */

static int
parse_public_key(struct parser *p, char *v)
{
	struct wg_config *c = p->cfg;
	struct wg_config_peer *peer = cur_peer(p);

	if (parse_key(v, peer->public_key) < 0)
		return fail(p, "not a valid base64 WireGuard key");
	for (size_t i = 0; i + 1 < c->n_peers; i++) {
		if (memcmp(c->peers[i].public_key, peer->public_key,
		    WG_CONFIG_KEY_LEN) == 0)
			return fail(p, "duplicate peer (same key as the [Peer] "
			    "on line %u)", c->peers[i].line);
	}
	return 0;
}

static int
parse_preshared_key(struct parser *p, char *v)
{
	struct wg_config_peer *peer = cur_peer(p);

	if (parse_key(v, peer->preshared_key) < 0)
		return fail(p, "not a valid base64 WireGuard key");
	peer->has_preshared_key = true;
	return 0;
}

static int
endpoint_port(struct parser *p, const char *s, uint16_t *port)
{
	uint32_t v;

	if (parse_u32(s, false, 65535, &v) < 0 || v == 0)
		return fail(p, "port must be 1-65535");
	*port = htons((uint16_t)v);
	return 0;
}

/* Splits "host:port" or "[host]:port" in place. */
static int
split_endpoint(struct parser *p, char *v, char **host, char **port)
{
	char *sep;

	if (v[0] == '[') {
		if ((sep = strchr(v, ']')) == NULL)
			return fail(p, "missing ']' after the IPv6 address");
		*sep++ = '\0';
		while (is_space(*sep))
			sep++;
		if (*sep != ':')
			return fail(p, "expected [address]:port");
		*host = trim(v + 1);
		*port = trim(sep + 1);
		return 0;
	}
	if ((sep = strrchr(v, ':')) == NULL)
		return fail(p, "expected address:port");
	*sep = '\0';
	if (strchr(v, ':') != NULL)
		return fail(p, "IPv6 endpoints need brackets: [address]:port");
	*host = trim(v);
	*port = trim(sep + 1);
	return 0;
}

static void
set_endpoint(struct wg_config_peer *peer, const struct wg_config_ip *ip,
    uint16_t port)
{
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	if (ip->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&peer->endpoint;

		sin->sin_family = AF_INET;
		sin->sin_port = port;
		memcpy(&sin->sin_addr, ip->addr, 4);
		peer->endpoint_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 =
		    (struct sockaddr_in6 *)&peer->endpoint;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		memcpy(&sin6->sin6_addr, ip->addr, 16);
		peer->endpoint_len = sizeof(*sin6);
	}
	peer->has_endpoint = true;
}

static int
parse_endpoint(struct parser *p, char *v)
{
	struct wg_config_ip ip;
	char *host = NULL, *port = NULL, q[QUOTE_SIZE];
	uint16_t nport = 0;
	int r;

	if ((r = split_endpoint(p, v, &host, &port)) < 0)
		return r;
	if (parse_ip(host, &ip) < 0) {
		if (host[strspn(host, "0123456789.")] == '\0' ||
		    strchr(host, ':'))
			return fail(p, "'%s' is not an IP address",
			    quote(q, host));
		return fail(p, "'%s' is a host name; use an IP address (netd "
		    "cannot resolve names in its sandbox)", quote(q, host));
	}
	if ((r = endpoint_port(p, port, &nport)) < 0)
		return r;
	set_endpoint(cur_peer(p), &ip, nport);
	return 0;
}

static int
allowed_ip_item(struct parser *p, char *item)
{
	struct wg_config_peer *peer = cur_peer(p);
	struct wg_config_prefix *a;

	if (peer->n_allowed_ips == WG_CONFIG_MAX_ALLOWED_IPS)
		return fail(p, "more than %d entries for this peer",
		    WG_CONFIG_MAX_ALLOWED_IPS);
	if (peer->n_allowed_ips == p->aips_cap) {
		size_t cap = p->aips_cap == 0 ? 4 : 2 * p->aips_cap;

		if ((a = reallocarray(peer->allowed_ips, cap, sizeof(*a))) ==
		    NULL)
			return oom(p);
		peer->allowed_ips = a;
		p->aips_cap = cap;
	}
	if (parse_prefix(p, item, &peer->allowed_ips[peer->n_allowed_ips]) < 0)
		return -EINVAL;
	peer->n_allowed_ips++;
	return 0;
}

static int
parse_allowed_ips(struct parser *p, char *v)
{
	return for_each_item(p, v, allowed_ip_item);
}

static int
parse_keepalive(struct parser *p, char *v)
{
	uint32_t secs = 0;

	if (strcasecmp(v, "off") != 0 && parse_u32(v, false, 65535, &secs) < 0)
		return fail(p, "not off or a number of seconds from 0 to 65535");
	cur_peer(p)->persistent_keepalive = (uint16_t)secs;
	return 0;
}

/* The hooks are lists so that a repeated PostUp gets the real reason. */
static const struct key_desc keys[K_COUNT] = {
	[K_PRIVATE_KEY] = { "PrivateKey", SEC_INTERFACE, false,
	    parse_private_key },
	[K_LISTEN_PORT] = { "ListenPort", SEC_INTERFACE, false,
	    parse_listen_port },
	[K_ADDRESS] = { "Address", SEC_INTERFACE, true, parse_address },
	[K_MTU] = { "MTU", SEC_INTERFACE, false, parse_mtu },
	[K_DNS] = { "DNS", SEC_INTERFACE, true, parse_dns },
	[K_FWMARK] = { "FwMark", SEC_INTERFACE, false, parse_fwmark },
	[K_TABLE] = { "Table", SEC_INTERFACE, false, parse_table },
	[K_SAVE_CONFIG] = { "SaveConfig", SEC_INTERFACE, false,
	    parse_save_config },
	[K_PRE_UP] = { "PreUp", SEC_INTERFACE, true, reject_command },
	[K_POST_UP] = { "PostUp", SEC_INTERFACE, true, reject_command },
	[K_PRE_DOWN] = { "PreDown", SEC_INTERFACE, true, reject_command },
	[K_POST_DOWN] = { "PostDown", SEC_INTERFACE, true, reject_command },
	[K_PUBLIC_KEY] = { "PublicKey", SEC_PEER, false, parse_public_key },
	[K_PRESHARED_KEY] = { "PresharedKey", SEC_PEER, false,
	    parse_preshared_key },
	[K_ENDPOINT] = { "Endpoint", SEC_PEER, false, parse_endpoint },
	[K_ALLOWED_IPS] = { "AllowedIPs", SEC_PEER, true, parse_allowed_ips },
	[K_KEEPALIVE] = { "PersistentKeepalive", SEC_PEER, false,
	    parse_keepalive },
};

static const struct key_desc *
find_key(const char *name)
{
	for (size_t i = 0; i < K_COUNT; i++) {
		if (strcasecmp(name, keys[i].name) == 0)
			return &keys[i];
	}
	return NULL;
}

static const char *
section_name(enum section s)
{
	return s == SEC_INTERFACE ? "[Interface]" : "[Peer]";
}

static int
parse_pair(struct parser *p, const char *name, char *value)
{
	const struct key_desc *k = find_key(name);
	char q[QUOTE_SIZE];
	size_t i;
	int r;

	if (k == NULL)
		return fail(p, "unknown key '%s'%s%s", quote(q, name),
		    p->sec != SEC_NONE ? " in " : "",
		    p->sec != SEC_NONE ? section_name(p->sec) : "");
	i = (size_t)(k - keys);
	p->key = k->name;
	if (p->sec == SEC_NONE)
		r = fail(p, "outside a section; start with [Interface] or "
		    "[Peer]");
	else if (k->sec != p->sec)
		r = fail(p, "belongs in %s, not %s", section_name(k->sec),
		    section_name(p->sec));
	else if (!k->list && p->set_on[i] != 0)
		r = fail(p, "given twice (first on line %u)", p->set_on[i]);
	else if (!k->list && *value == '\0')
		r = fail(p, "empty value");
	else {
		p->set_on[i] = p->lineno;
		r = k->parse(p, value);
	}
	p->key = NULL;
	return r;
}

/* Checks what a section must contain once it is complete. */
static int
end_section(struct parser *p)
{
	if (p->sec == SEC_PEER && p->set_on[K_PUBLIC_KEY] == 0)
		return fail_at(p, cur_peer(p)->line, "[Peer] has no PublicKey");
	return 0;
}

/* Not realloc(): the old block holds preshared keys and must be wiped. */
static int
grow_peers(struct parser *p)
{
	struct wg_config *c = p->cfg;
	size_t cap = p->peers_cap == 0 ? 4 : 2 * p->peers_cap;
	struct wg_config_peer *peers = calloc(cap, sizeof(*peers));

	if (peers == NULL)
		return oom(p);
	if (c->n_peers > 0) {
		memcpy(peers, c->peers, c->n_peers * sizeof(*peers));
		sodium_memzero(c->peers, c->n_peers * sizeof(*peers));
	}
	free(c->peers);
	c->peers = peers;
	p->peers_cap = cap;
	return 0;
}

static int
start_peer(struct parser *p)
{
	struct wg_config *c = p->cfg;
	int r;

	if (c->n_peers == WG_CONFIG_MAX_PEERS)
		return fail(p, "more than %d peers", WG_CONFIG_MAX_PEERS);
	if (c->n_peers == p->peers_cap && (r = grow_peers(p)) < 0)
		return r;
	c->n_peers++;
	cur_peer(p)->line = p->lineno;
	p->aips_cap = 0;
	p->sec = SEC_PEER;
	return 0;
}

static int
parse_section(struct parser *p, char *line)
{
	size_t n = strlen(line);
	char *name, q[QUOTE_SIZE];
	int r;

	if (line[n - 1] != ']')
		return fail(p, "section header must end with ']'");
	line[n - 1] = '\0';
	name = trim(line + 1);
	if ((r = end_section(p)) < 0)
		return r;
	memset(p->set_on, 0, sizeof(p->set_on));
	if (strcasecmp(name, "Peer") == 0)
		return start_peer(p);
	if (strcasecmp(name, "Interface") != 0)
		return fail(p, "unknown section [%s]", quote(q, name));
	if (p->iface_line != 0)
		return fail(p, "duplicate [Interface] section (the first is on "
		    "line %u)", p->iface_line);
	p->iface_line = p->lineno;
	p->sec = SEC_INTERFACE;
	return 0;
}

static int
parse_line(struct parser *p, char *line)
{
	char *eq;

	line[strcspn(line, "#")] = '\0';
	line = trim(line);
	if (*line == '\0')
		return 0;
	if (*line == '[')
		return parse_section(p, line);
	if ((eq = strchr(line, '=')) == NULL)
		return fail(p, "expected 'Key = Value' or a [Section] header");
	*eq = '\0';
	return parse_pair(p, trim(line), trim(eq + 1));
}

static int
parse_lines(struct parser *p, char *buf, size_t len)
{
	size_t off = 0;
	int r;

	/* A UTF-8 byte order mark, as Windows editors write. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		off = 3;
	while (off < len) {
		char *line = buf + off, *nl = memchr(line, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - off;

		line[n] = '\0';
		p->lineno++;
		if (strlen(line) != n)
			return fail(p, "NUL byte");
		if ((r = parse_line(p, line)) < 0)
			return r;
		off += n + 1;
	}
	return 0;
}

/* The kernel silently ignores a peer with the interface's own key; here
 * it is the mistake it usually is. */
static int
check_own_key(struct parser *p)
{
	struct wg_config *c = p->cfg;
	uint8_t pub[WG_CONFIG_KEY_LEN];
	int r = 0;

	if (crypto_scalarmult_curve25519_base(pub, c->private_key) != 0)
		r = fail_at(p, p->iface_line, "PrivateKey: not a usable key");
	for (size_t i = 0; r == 0 && i < c->n_peers; i++) {
		if (memcmp(pub, c->peers[i].public_key, sizeof(pub)) == 0)
			r = fail_at(p, c->peers[i].line, "[Peer] has this "
			    "interface's own public key");
	}
	sodium_memzero(pub, sizeof(pub));
	return r;
}

static int
finish(struct parser *p)
{
	int r;

	if ((r = end_section(p)) < 0)
		return r;
	if (p->iface_line == 0)
		return fail_at(p, 0, "no [Interface] section");
	if (!p->cfg->has_private_key)
		return fail_at(p, p->iface_line, "[Interface] has no "
		    "PrivateKey");
	return check_own_key(p);
}

int
wg_config_parse(const char *text, size_t len, struct wg_config **out,
    char *err, size_t errlen)
{
	struct parser p = { .err = err, .errlen = err != NULL ? errlen : 0 };
	char *buf;
	int r;

	*out = NULL;
	if (p.errlen > 0)
		err[0] = '\0';
	if (sodium_init() < 0)
		return -EIO;
	if (len == SIZE_MAX || (buf = malloc(len + 1)) == NULL)
		return oom(&p);
	if ((p.cfg = calloc(1, sizeof(*p.cfg))) == NULL) {
		free(buf);
		return oom(&p);
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if ((r = parse_lines(&p, buf, len)) == 0)
		r = finish(&p);
	sodium_memzero(buf, len + 1);
	free(buf);
	if (r < 0) {
		wg_config_free(p.cfg);
		return r;
	}
	*out = p.cfg;
	return 0;
}

void
wg_config_free(struct wg_config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_peers; i++) {
		sodium_memzero(c->peers[i].preshared_key,
		    sizeof(c->peers[i].preshared_key));
		free(c->peers[i].allowed_ips);
	}
	free(c->peers);
	sodium_memzero(c->private_key, sizeof(c->private_key));
	free(c);
}

int
wg_config_interface_name(const char *path, char out[WG_CONFIG_IFNAME_SIZE])
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+.-";
	const char *base = strrchr(path, '/');
	size_t n;

	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n <= 5 || strcmp(base + n - 5, ".conf") != 0)
		return -EINVAL;
	n -= 5;
	if (n >= WG_CONFIG_IFNAME_SIZE || strspn(base, allowed) < n)
		return -EINVAL;
	if ((n == 1 && base[0] == '.') || (n == 2 && memcmp(base, "..", 2) == 0))
		return -EINVAL;
	memcpy(out, base, n);
	out[n] = '\0';
	return 0;
}
