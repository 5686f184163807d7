/* wg-quick config files: the full format, every error, interface names. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "wgconf.h"

/* Throwaway keys from wg genkey / wg pubkey / wg genpsk. */
#define PRIV1	"0EMudsL3H4FquDmZWs9kKa7kxvoRtwnUk7sDQjRe2VI="
#define PUB1	"k6TceHqXLbv+Ln9LVsnDOYbVcDH3tqs92AAgdlMd83Q="
#define PUB2	"skIEFEYuibYPhqR5dcsQPKRuTpCXT7lIC/thP/Q5AkU="
#define PUB3	"7oRGsvnCp5vtWEpcv7D7Wy2spm7GTiUoPxm1W1T+90A="
#define PSK	"vpL56JZq1VE14+BulQTv+S1GGrpGatJx/uzz0GlMYjI="

static const char full[] =
    "# privmesh test config\n"
    "[Interface]\n"
    "PrivateKey = " PRIV1 "\n"
    "ListenPort = 51820\n"
    "Address = 10.8.0.2/24, fd00:8::2/64\n"
    "Address = 10.9.0.2\n"
    "MTU = 1420\n"
    "DNS = 10.8.0.1, fd00:8::1, corp.example, example.net.\n"
    "FwMark = 0x1234\n"
    "Table = 1234\n"
    "\n"
    "[Peer]\n"
    "# the server\n"
    "PublicKey = " PUB2 "\n"
    "PresharedKey = " PSK "\n"
    "Endpoint = 192.0.2.7:51820\n"
    "AllowedIPs = 10.8.0.0/24, fd00:8::/64\n"
    "AllowedIPs = 0.0.0.0/0\n"
    "PersistentKeepalive = 25\n"
    "\n"
    "[Peer]\n"
    "PublicKey = " PUB3 "\n"
    "Endpoint = [2001:db8::7]:51821\n"
    "AllowedIPs = 10.8.0.3/32\n"
    "PersistentKeepalive = off\n";

static void
key_bytes(const char *b64, uint8_t out[32])
{
	size_t n;

	assert_int_equal(sodium_base642bin(out, 32, b64, strlen(b64), NULL, &n,
	    NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(n, 32);
}

static void
assert_prefix(const struct wg_config_prefix *p, const char *ip, int cidr)
{
	char s[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(p->family, p->addr, s, sizeof(s)));
	assert_string_equal(s, ip);
	assert_int_equal(p->cidr, cidr);
}

static struct wg_config *
parse_ok(const char *text, size_t len)
{
	struct wg_config *c = NULL;
	char err[256] = "";
	int r = wg_config_parse(text, len, &c, err, sizeof(err));

	if (r != 0)
		print_error("unexpected: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(err, "");
	assert_non_null(c);
	return c;
}

static void
check_full(const struct wg_config *c)
{
	const struct wg_config_peer *p;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t k[32];
	char s[INET6_ADDRSTRLEN];

	key_bytes(PRIV1, k);
	assert_true(c->has_private_key);
	assert_memory_equal(c->private_key, k, 32);
	assert_true(c->has_listen_port);
	assert_int_equal(c->listen_port, 51820);
	assert_int_equal(c->n_addresses, 3);
	assert_prefix(&c->addresses[0], "10.8.0.2", 24);
	assert_prefix(&c->addresses[1], "fd00:8::2", 64);
	assert_prefix(&c->addresses[2], "10.9.0.2", 32);
	assert_int_equal(c->mtu, 1420);
	assert_int_equal(c->n_dns, 2);
	assert_int_equal(c->dns[0].family, AF_INET);
	assert_int_equal(c->dns[1].family, AF_INET6);
	assert_non_null(inet_ntop(AF_INET6, c->dns[1].addr, s, sizeof(s)));
	assert_string_equal(s, "fd00:8::1");
	assert_int_equal(c->n_search, 2);
	assert_string_equal(c->search[0], "corp.example");
	assert_string_equal(c->search[1], "example.net.");
	assert_true(c->has_fwmark);
	assert_int_equal(c->fwmark, 0x1234);
	assert_int_equal(c->table, WG_CONFIG_TABLE_ID);
	assert_int_equal(c->table_id, 1234);
	assert_int_equal(c->n_peers, 2);

	p = &c->peers[0];
	key_bytes(PUB2, k);
	assert_memory_equal(p->public_key, k, 32);
	assert_true(p->has_preshared_key);
	key_bytes(PSK, k);
	assert_memory_equal(p->preshared_key, k, 32);
	assert_true(p->has_endpoint);
	assert_int_equal(p->endpoint_len, sizeof(*sin));
	sin = (const struct sockaddr_in *)&p->endpoint;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 51820);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000207);
	assert_int_equal(p->n_allowed_ips, 3);
	assert_prefix(&p->allowed_ips[0], "10.8.0.0", 24);
	assert_prefix(&p->allowed_ips[1], "fd00:8::", 64);
	assert_prefix(&p->allowed_ips[2], "0.0.0.0", 0);
	assert_int_equal(p->persistent_keepalive, 25);
	assert_int_equal(p->line, 12);

	p = &c->peers[1];
	key_bytes(PUB3, k);
	assert_memory_equal(p->public_key, k, 32);
	assert_false(p->has_preshared_key);
	assert_int_equal(p->endpoint_len, sizeof(*sin6));
	sin6 = (const struct sockaddr_in6 *)&p->endpoint;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 51821);
	assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, s, sizeof(s)));
	assert_string_equal(s, "2001:db8::7");
	assert_int_equal(p->n_allowed_ips, 1);
	assert_prefix(&p->allowed_ips[0], "10.8.0.3", 32);
	assert_int_equal(p->persistent_keepalive, 0);
	assert_int_equal(p->line, 21);
}

static void
test_full_file(void **state)
{
	struct wg_config *c;

	(void)state;
	c = parse_ok(full, strlen(full));
	check_full(c);
	wg_config_free(c);
	wg_config_free(NULL);
}

/* Windows line endings and a byte order mark change nothing. */
static void
test_crlf_and_bom(void **state)
{
	char buf[sizeof(full) * 2 + 3] = "\xef\xbb\xbf";
	size_t n = 3;
	struct wg_config *c;

	(void)state;
	for (const char *s = full; *s != '\0'; s++) {
		if (*s == '\n')
			buf[n++] = '\r';
		buf[n++] = *s;
	}
	c = parse_ok(buf, n);
	check_full(c);
	wg_config_free(c);
}

static void
test_case_spacing_comments(void **state)
{
	static const char text[] =
	    "  [interface]   # comment after a header\n"
	    "privatekey=" PRIV1 "\n"
	    "\tLISTENPORT\t=\t51820\t# trailing comment\n"
	    "address =   10.0.0.1 / 24 ,  fd00::1  \n"
	    "Address =\n"
	    "saveconfig = False\n"
	    "TABLE = Off\n"
	    "fwmark = off\n"
	    "#[Peer]\n"
	    "\n"
	    "[ PEER ]\n"
	    "publickey = " PUB2 "\n"
	    "allowedips =\n"
	    "ENDPOINT = [192.0.2.1] : 1\n"
	    "persistentkeepalive = OFF";	/* no final newline */
	struct wg_config *c;

	(void)state;
	c = parse_ok(text, strlen(text));
	assert_int_equal(c->listen_port, 51820);
	assert_int_equal(c->n_addresses, 2);
	assert_prefix(&c->addresses[0], "10.0.0.1", 24);
	assert_prefix(&c->addresses[1], "fd00::1", 128);
	assert_int_equal(c->table, WG_CONFIG_TABLE_OFF);
	assert_true(c->has_fwmark);
	assert_int_equal(c->fwmark, 0);
	assert_int_equal(c->mtu, 0);
	assert_int_equal(c->n_peers, 1);
	assert_int_equal(c->peers[0].n_allowed_ips, 0);
	assert_int_equal(c->peers[0].endpoint.ss_family, AF_INET);
	assert_int_equal(c->peers[0].persistent_keepalive, 0);
	wg_config_free(c);
}

static struct wg_config *
parse_peer_lines(const char *lines)
{
	char text[1024];

	snprintf(text, sizeof(text), "[Interface]\nPrivateKey = %s\n[Peer]\n"
	    "PublicKey = %s\n%s", PRIV1, PUB2, lines);
	return parse_ok(text, strlen(text));
}

static void
test_endpoint_forms(void **state)
{
	struct wg_config *c;
	const struct sockaddr_in6 *sin6;

	(void)state;
	c = parse_peer_lines("Endpoint = 203.0.113.1:65535\n");
	assert_int_equal(ntohs(((const struct sockaddr_in *)
	    &c->peers[0].endpoint)->sin_port), 65535);
	wg_config_free(c);
	c = parse_peer_lines("Endpoint = [::ffff:192.0.2.1]:1\n");
	sin6 = (const struct sockaddr_in6 *)&c->peers[0].endpoint;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 1);
	assert_int_equal(c->peers[0].endpoint_len, sizeof(*sin6));
	wg_config_free(c);
	c = parse_peer_lines("PersistentKeepalive = 0\n");
	assert_false(c->peers[0].has_endpoint);
	assert_int_equal(c->peers[0].persistent_keepalive, 0);
	wg_config_free(c);
	c = parse_peer_lines("PersistentKeepalive = 65535\n");
	assert_int_equal(c->peers[0].persistent_keepalive, 65535);
	wg_config_free(c);
}

static void
test_table_and_dns_forms(void **state)
{
	static const char *const tables[][2] = {
		{ "auto", "0" }, { "main", "254" }, { "local", "255" },
		{ "default", "253" }, { "4294967295", "4294967295" },
	};
	char text[512];
	struct wg_config *c;

	(void)state;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(text, sizeof(text), "[Interface]\nPrivateKey = %s\n"
		    "Table = %s\n", PRIV1, tables[i][0]);
		c = parse_ok(text, strlen(text));
		assert_int_equal(c->table, i == 0 ? WG_CONFIG_TABLE_AUTO :
		    WG_CONFIG_TABLE_ID);
		assert_int_equal(c->table_id, strtoul(tables[i][1], NULL, 10));
		wg_config_free(c);
	}
	snprintf(text, sizeof(text), "[Interface]\nPrivateKey = %s\n"
	    "DNS = 1.1.1.1\nDNS = 2606:4700::1111,a-b_c.example\nMTU = 576\n"
	    "ListenPort = 0\n", PRIV1);
	c = parse_ok(text, strlen(text));
	assert_int_equal(c->n_dns, 2);
	assert_int_equal(c->n_search, 1);
	assert_int_equal(c->mtu, 576);
	assert_true(c->has_listen_port);
	assert_int_equal(c->listen_port, 0);
	wg_config_free(c);
}

/* One invalid line after a valid [Interface] header and key (lines 1-2). */
struct bad_case {
	const char	*lines;
	const char	*message;
};

static const struct bad_case bad_interface[] = {
	{ "ListenPort = 70000", "line 3: ListenPort: not a port number "
	    "(0-65535)" },
	{ "ListenPort = -1", "line 3: ListenPort: not a port number "
	    "(0-65535)" },
	{ "ListenPort = 0x10", "line 3: ListenPort: not a port number "
	    "(0-65535)" },
	{ "ListenPort = wireguard", "line 3: ListenPort: not a port number "
	    "(0-65535)" },
	{ "ListenPort = 1\nListenPort = 2", "line 4: ListenPort: given twice "
	    "(first on line 3)" },
	{ "PrivateKey = " PRIV1, "line 3: PrivateKey: given twice (first on "
	    "line 2)" },
	{ "ListenPort =", "line 3: ListenPort: empty value" },
	{ "Address = 10.0.0.300/24", "line 3: Address: '10.0.0.300' is not an "
	    "IP address" },
	{ "Address = 10.0.0.1/33", "line 3: Address: prefix length '33' is "
	    "not 0-32" },
	{ "Address = fd00::1/129", "line 3: Address: prefix length '129' is "
	    "not 0-128" },
	{ "Address = 10.0.0.1/", "line 3: Address: prefix length '' is not "
	    "0-32" },
	{ "Address = fe80::1%eth0", "line 3: Address: 'fe80::1%eth0' is not "
	    "an IP address" },
	{ "Address = 10.0.0.1,,10.0.0.2", "line 3: Address: empty entry in "
	    "the list" },
	{ "Address = 10.0.0.1,", "line 3: Address: empty entry in the list" },
	{ "MTU = 575", "line 3: MTU: not a number from 576 to 65535" },
	{ "MTU = 65536", "line 3: MTU: not a number from 576 to 65535" },
	{ "DNS = 1.1.1", "line 3: DNS: '1.1.1' is not an IP address" },
	{ "DNS = 1.1.1.1, ::g", "line 3: DNS: '::g' is not an IP address" },
	{ "DNS = bad!name", "line 3: DNS: 'bad!name' is not an IP address or "
	    "a search domain" },
	{ "DNS = a..b", "line 3: DNS: 'a..b' is not an IP address or a search "
	    "domain" },
	{ "FwMark = 0x100000000", "line 3: FwMark: not off or a number from 0 "
	    "to 0xffffffff" },
	{ "FwMark = 0x", "line 3: FwMark: not off or a number from 0 to "
	    "0xffffffff" },
	{ "FwMark = 0x0x5", "line 3: FwMark: not off or a number from 0 to "
	    "0xffffffff" },
	{ "Table = wg", "line 3: Table: not off, auto, main, local, default or "
	    "a table number" },
	{ "Table = 0", "line 3: Table: not off, auto, main, local, default or "
	    "a table number" },
	{ "PreUp = echo hi", "line 3: PreUp: not supported: privmesh never "
	    "runs commands" },
	{ "PostUp = iptables -A FORWARD -i %i -j ACCEPT", "line 3: PostUp: "
	    "not supported: privmesh never runs commands" },
	{ "predown = true", "line 3: PreDown: not supported: privmesh never "
	    "runs commands" },
	{ "PostDown =", "line 3: PostDown: not supported: privmesh never runs "
	    "commands" },
	{ "SaveConfig = true", "line 3: SaveConfig: not supported: privmesh "
	    "never rewrites the config file" },
	{ "SaveConfig = yes", "line 3: SaveConfig: not true or false" },
	{ "Frobnicate = 1", "line 3: unknown key 'Frobnicate' in [Interface]" },
	{ "Private Key = x", "line 3: unknown key 'Private Key' in "
	    "[Interface]" },
	{ "Endpoint = 192.0.2.1:51820", "line 3: Endpoint: belongs in [Peer], "
	    "not [Interface]" },
	{ "just some words", "line 3: expected 'Key = Value' or a [Section] "
	    "header" },
	{ "= value", "line 3: unknown key '' in [Interface]" },
	{ "[Interface", "line 3: section header must end with ']'" },
	{ "[Wat]", "line 3: unknown section [Wat]" },
	{ "[Wa\x01t]", "line 3: unknown section [Wa?t]" },
	{ "[Interface]", "line 3: duplicate [Interface] section (the first is "
	    "on line 1)" },
	{ "\n\n[Peer]\nEndpoint = 192.0.2.1:1", "line 5: [Peer] has no "
	    "PublicKey" },
	{ "[Peer]\n[Peer]\nPublicKey = " PUB2, "line 3: [Peer] has no "
	    "PublicKey" },
	{ "[Peer]\nPublicKey = " PUB1, "line 3: [Peer] has this interface's "
	    "own public key" },
	{ "[Peer]\nPublicKey = " PUB2 "\n[Peer]\nPublicKey = " PUB2,
	    "line 6: PublicKey: duplicate peer (same key as the [Peer] on "
	    "line 3)" },
	{ "[Peer]\nPublicKey = " PUB2 "\nListenPort = 1", "line 5: ListenPort: "
	    "belongs in [Interface], not [Peer]" },
	{ "[Peer]\nPublicKey = " PUB2 "\nPublicKey = " PUB3, "line 5: "
	    "PublicKey: given twice (first on line 4)" },
};

/* Each [Peer] case: lines 3-4 are "[Peer]" and its PublicKey. */
static const struct bad_case bad_peer[] = {
	{ "PublicKey = " PUB3, "line 5: PublicKey: given twice (first on line "
	    "4)" },
	{ "PresharedKey = short=", "line 5: PresharedKey: not a valid base64 "
	    "WireGuard key" },
	{ "PresharedKey = " PSK "=", "line 5: PresharedKey: not a valid "
	    "base64 WireGuard key" },
	{ "Endpoint = vpn.example.com:51820", "line 5: Endpoint: "
	    "'vpn.example.com' is a host name; use an IP address (netd cannot "
	    "resolve names in its sandbox)" },
	{ "Endpoint = localhost:51820", "line 5: Endpoint: 'localhost' is a "
	    "host name; use an IP address (netd cannot resolve names in its "
	    "sandbox)" },
	{ "Endpoint = 2001:db8::1:51820", "line 5: Endpoint: IPv6 endpoints "
	    "need brackets: [address]:port" },
	{ "Endpoint = [2001:db8::1:51820", "line 5: Endpoint: missing ']' "
	    "after the IPv6 address" },
	{ "Endpoint = [2001:db8::1]51820", "line 5: Endpoint: expected "
	    "[address]:port" },
	{ "Endpoint = [fe80::1%eth0]:51820", "line 5: Endpoint: "
	    "'fe80::1%eth0' is not an IP address" },
	{ "Endpoint = 192.0.2.1", "line 5: Endpoint: expected address:port" },
	{ "Endpoint = 192.0.2.1:0", "line 5: Endpoint: port must be 1-65535" },
	{ "Endpoint = 192.0.2.1:65536", "line 5: Endpoint: port must be "
	    "1-65535" },
	{ "Endpoint = 192.0.2.1:wg", "line 5: Endpoint: port must be 1-65535" },
	{ "Endpoint = 192.0.2:51820", "line 5: Endpoint: '192.0.2' is not an "
	    "IP address" },
	{ "AllowedIPs = 10.0.0.0/8, bogus", "line 5: AllowedIPs: 'bogus' is "
	    "not an IP address" },
	{ "AllowedIPs = +10.0.0.0/8", "line 5: AllowedIPs: '+10.0.0.0' is not "
	    "an IP address" },
	{ "AllowedIPs = ::/200", "line 5: AllowedIPs: prefix length '200' is "
	    "not 0-128" },
	{ "PersistentKeepalive = 65536", "line 5: PersistentKeepalive: not off "
	    "or a number of seconds from 0 to 65535" },
	{ "PersistentKeepalive = never", "line 5: PersistentKeepalive: not off "
	    "or a number of seconds from 0 to 65535" },
	{ "MTU = 1280", "line 5: MTU: belongs in [Interface], not [Peer]" },
	{ "Nonsense = 1", "line 5: unknown key 'Nonsense' in [Peer]" },
};

/* A whole file, for errors about the structure. */
static const struct bad_case bad_file[] = {
	{ "", "no [Interface] section" },
	{ "# nothing\n\n", "no [Interface] section" },
	{ "[Peer]\nPublicKey = " PUB2 "\n", "no [Interface] section" },
	{ "[Interface]\nListenPort = 1\n", "line 1: [Interface] has no "
	    "PrivateKey" },
	{ "PrivateKey = " PRIV1 "\n", "line 1: PrivateKey: outside a section; "
	    "start with [Interface] or [Peer]" },
	{ "Foo = bar\n", "line 1: unknown key 'Foo'" },
	{ "[Interface]\nPrivateKey = abc\n", "line 2: PrivateKey: not a valid "
	    "base64 WireGuard key" },
	/* Right length, but the last character has stray low bits. */
	{ "[Interface]\nPrivateKey = 0EMudsL3H4FquDmZWs9kKa7kxvoRtwnUk7sDQjRe"
	    "2VJ=\n", "line 2: PrivateKey: not a valid base64 WireGuard key" },
	{ "[Interface]\nPrivateKey = 0EMudsL3H4FquDmZWs9kKa7kxvoRtwnUk7sDQjRe"
	    "2VI\n", "line 2: PrivateKey: not a valid base64 WireGuard key" },
	{ "[Interface]\nPrivateKey = 0EMudsL3H4FquDmZWs9kKa7kxvoRtwnUk7sDQjR"
	    "e2V!=\n", "line 2: PrivateKey: not a valid base64 WireGuard key" },
	{ "[Interface]\r\nMTU = 1420\r\nMTU = 1420\r\n", "line 3: MTU: given "
	    "twice (first on line 2)" },
	{ "[Interface]\n[Wat\x7f\x80 and a very long section name that will "
	    "be cut short somewhere]\n", "line 2: unknown section [Wat?? and a "
	    "very long section name that will be cut short so...]" },
};

static void
expect_error(const char *text, size_t len, const char *message)
{
	struct wg_config *c = (struct wg_config *)&c;
	char err[256];

	assert_int_equal(wg_config_parse(text, len, &c, err, sizeof(err)),
	    -EINVAL);
	assert_null(c);
	if (strcmp(err, message) != 0)
		print_error("input:\n%s\n", text);
	assert_string_equal(err, message);
}

static void
test_errors(void **state)
{
	char text[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_interface) / sizeof(*bad_interface);
	    i++) {
		snprintf(text, sizeof(text), "[Interface]\nPrivateKey = %s\n%s\n",
		    PRIV1, bad_interface[i].lines);
		expect_error(text, strlen(text), bad_interface[i].message);
	}
	for (size_t i = 0; i < sizeof(bad_peer) / sizeof(*bad_peer); i++) {
		snprintf(text, sizeof(text), "[Interface]\nPrivateKey = %s\n"
		    "[Peer]\nPublicKey = %s\n%s\n", PRIV1, PUB2,
		    bad_peer[i].lines);
		expect_error(text, strlen(text), bad_peer[i].message);
	}
	for (size_t i = 0; i < sizeof(bad_file) / sizeof(*bad_file); i++)
		expect_error(bad_file[i].lines, strlen(bad_file[i].lines),
		    bad_file[i].message);
}

static void
test_nul_byte_and_small_buffers(void **state)
{
	static const char text[] = "[Interface]\nPrivate\0Key = x\n";
	struct wg_config *c;
	char err[12];

	(void)state;
	expect_error(text, sizeof(text) - 1, "line 2: NUL byte");
	/* Messages are truncated, never overrun; no buffer at all is fine. */
	assert_int_equal(wg_config_parse(text, sizeof(text) - 1, &c, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 2: NUL");
	assert_int_equal(wg_config_parse(text, sizeof(text) - 1, &c, NULL, 0),
	    -EINVAL);
	assert_null(c);
}

/* Appends to a growing heap string. */
struct sbuf {
	char	*s;
	size_t	 len;
};

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	b->s = realloc(b->s, b->len + (size_t)n + 1);
	assert_non_null(b->s);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The n-th distinct public key: any 32 bytes are a well-formed key. */
static void
sb_add_key(struct sbuf *b, unsigned n)
{
	uint8_t k[32] = { 0x42 };
	char s[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	memcpy(k + 1, &n, sizeof(n));
	sodium_bin2base64(s, sizeof(s), k, sizeof(k),
	    sodium_base64_VARIANT_ORIGINAL);
	sb_add(b, "PublicKey = %s\n", s);
}

static void
limit_case(unsigned peers, unsigned aips, unsigned addrs, unsigned dns,
    unsigned domains, const char *message)
{
	struct sbuf b = { NULL, 0 };
	struct wg_config *c;
	char err[256];
	int r;

	sb_add(&b, "[Interface]\nPrivateKey = %s\n", PRIV1);
	for (unsigned i = 0; i < addrs; i++)
		sb_add(&b, "Address = 10.0.%u.1/24\n", i);
	for (unsigned i = 0; i < dns; i++)
		sb_add(&b, "DNS = 10.53.0.%u\n", i);
	for (unsigned i = 0; i < domains; i++)
		sb_add(&b, "DNS = d%u.example\n", i);
	for (unsigned i = 0; i < peers; i++) {
		sb_add(&b, "[Peer]\n");
		sb_add_key(&b, i);
		sb_add(&b, "AllowedIPs = 10.%u.%u.0/24\n", i / 256, i % 256);
	}
	sb_add(&b, "AllowedIPs = fd00::1");
	for (unsigned i = 1; i < aips; i++)
		sb_add(&b, ", fd00::%x", i + 1);
	sb_add(&b, "\n");
	r = wg_config_parse(b.s, b.len, &c, err, sizeof(err));
	if (message == NULL) {
		assert_int_equal(r, 0);
		assert_int_equal(c->n_peers, peers);
		assert_int_equal(c->peers[peers - 1].n_allowed_ips, aips + 1);
		assert_int_equal(c->n_addresses, addrs);
		assert_int_equal(c->n_dns, dns);
		assert_int_equal(c->n_search, domains);
		wg_config_free(c);
	} else {
		assert_int_equal(r, -EINVAL);
		assert_string_equal(err, message);
	}
	free(b.s);
}

static void
test_limits(void **state)
{
	(void)state;
	limit_case(1024, 1023, 64, 16, 16, NULL);
	limit_case(1025, 1, 0, 0, 0, "line 3075: more than 1024 peers");
	limit_case(1, 1024, 0, 0, 0, "line 6: AllowedIPs: more than 1024 "
	    "entries for this peer");
	limit_case(1, 1, 65, 0, 0, "line 67: Address: more than 64 addresses");
	limit_case(1, 1, 0, 17, 0, "line 19: DNS: more than 16 servers");
	limit_case(1, 1, 0, 0, 17, "line 19: DNS: more than 16 search "
	    "domains");
}

static void
test_interface_name(void **state)
{
	static const char *const good[][2] = {
		{ "/etc/wireguard/wg0.conf", "wg0" },
		{ "wg-home.conf", "wg-home" },
		{ "./a.b+c=d_e-f.conf", "a.b+c=d_e-f" },
		{ "/x/fifteen_chars_.conf", "fifteen_chars_" },
		{ "/x/exactly15char.conf", "exactly15char" },
		{ "/x/123456789012345.conf", "123456789012345" },
		{ "x.conf.conf", "x.conf" },
	};
	static const char *const bad[] = {
		"/x/1234567890123456.conf", "wg0", "wg0.CONF", ".conf",
		"/etc/wireguard/.conf", "bad name.conf", "wg0.conf/", "..conf",
		"...conf", "wg\xc3\xa9.conf", "wg:0.conf", "", "/",
	};
	char out[WG_CONFIG_IFNAME_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(wg_config_interface_name(good[i][0], out), 0);
		assert_string_equal(out, good[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wg_config_interface_name(bad[i], out) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_crlf_and_bom),
		cmocka_unit_test(test_case_spacing_comments),
		cmocka_unit_test(test_endpoint_forms),
		cmocka_unit_test(test_table_and_dns_forms),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_byte_and_small_buffers),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_interface_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
