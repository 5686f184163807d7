/*
 * netd's half of plain-WireGuard mode: read the wg-quick file privd passed,
 * keep the private key and peers here, and tell privd only what it needs
 * to configure the interface.  A parse error goes back as one line-numbered
 * message and nothing is configured.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "netd.h"
#include "wgconf.h"
#include "netd_to_privd.pb-c.h"

#define CONFIG_MAX	(1 << 20)
#define PREFIX_TEXT	52

static int
read_all(int fd, char **out, size_t *len)
{
	char *buf = malloc(CONFIG_MAX);
	ssize_t n;
	size_t off = 0;

	if (buf == NULL)
		return -ENOMEM;
	/* pread: privd keeps the file and may pass it again after a restart. */
	while (off < CONFIG_MAX &&
	    (n = pread(fd, buf + off, CONFIG_MAX - off, (off_t)off)) > 0)
		off += (size_t)n;
	if (off == CONFIG_MAX) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = off;
	return 0;
}

static int
send_privd(struct netd *nd, Pm__NetdToPrivd *env)
{
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_PRIVD);

	return ch != NULL ? ipc_send(ch, &env->base, -1) : -ENOTCONN;
}

static void
report_error(struct netd *nd, const char *msg)
{
	Pm__NetdToPrivd env = PM__NETD_TO_PRIVD__INIT;
	Pm__WgConfigError e = PM__WG_CONFIG_ERROR__INIT;

	log_warnx("wg-config: %s", msg);
	e.message = (char *)msg;
	env.msg_case = PM__NETD_TO_PRIVD__MSG_WG_CONFIG_ERROR;
	env.wg_config_error = &e;
	send_privd(nd, &env);
}

static void
prefix_text(int family, const uint8_t *addr, unsigned cidr, char *out)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(family, addr, a, sizeof(a));
	snprintf(out, PREFIX_TEXT, "%s/%u", a, cidr);
}

/* Host bits cleared, as the routing table and privd's check want them. */
static void
mask(int family, const uint8_t *in, unsigned cidr, uint8_t *out)
{
	unsigned bytes = family == AF_INET ? 4 : 16;

	memset(out, 0, 16);
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = cidr >= (i + 1) * 8 ? 8 : cidr > i * 8 ?
		    cidr - i * 8 : 0;
		out[i] = (uint8_t)(in[i] & (0xff00 >> keep));
	}
}

static int
add_peers(struct netd *nd, const struct wg_config *cf)
{
	for (size_t i = 0; i < cf->n_peers; i++) {
		const struct wg_config_peer *cp = &cf->peers[i];
		struct netd_peer *np;
		int r;

		r = wg_io_add_peer(nd, cp->public_key, cp->has_preshared_key ?
		    cp->preshared_key : NULL, cp->has_endpoint ?
		    (const struct sockaddr *)&cp->endpoint : NULL,
		    cp->has_endpoint ? cp->endpoint_len : 0,
		    cp->persistent_keepalive, &np);
		if (r < 0)
			return r;
		for (size_t j = 0; j < cp->n_allowed_ips; j++) {
			const struct wg_config_prefix *a = &cp->allowed_ips[j];
			if ((r = allowedips_insert(&nd->wg.aips, a->family,
			    a->addr, a->cidr, np->p)) < 0)
				return r;
		}
	}
	return 0;
}

/* Unique, masked route strings for every peer's AllowedIPs. */
static size_t
collect_routes(const struct wg_config *cf, char (*txt)[PREFIX_TEXT],
    char **ptr, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cf->n_peers; i++)
		for (size_t j = 0; j < cf->peers[i].n_allowed_ips && n < max; j++) {
			const struct wg_config_prefix *a =
			    &cf->peers[i].allowed_ips[j];
			uint8_t m[16];
			size_t k;

			mask(a->family, a->addr, a->cidr, m);
			prefix_text(a->family, m, a->cidr, txt[n]);
			for (k = 0; k < n && strcmp(txt[k], txt[n]) != 0; k++)
				;
			if (k == n) {
				ptr[n] = txt[n];
				n++;
			}
		}
	return n;
}

#define ROUTES_MAX	4096

static size_t
count_allowed_ips(const struct wg_config *cf)
{
	size_t n = 0;

	for (size_t i = 0; i < cf->n_peers; i++)
		n += cf->peers[i].n_allowed_ips;
	return n < ROUTES_MAX ? n : ROUTES_MAX;
}

/*
 * The route texts live on the heap for the call, sized to the file: as
 * static buffers they stayed resident at up to 60 bytes per peer.
 */
static void
send_interface(struct netd *nd, const struct wg_config *cf)
{
	static char ad[64][PREFIX_TEXT];
	static char dns[16][INET6_ADDRSTRLEN];
	static char *adp[64], *dnsp[16];
	size_t nrt = count_allowed_ips(cf);
	char (*rt)[PREFIX_TEXT] = calloc(nrt + 1, sizeof(*rt));
	char **rtp = calloc(nrt + 1, sizeof(*rtp));
	Pm__NetdToPrivd env = PM__NETD_TO_PRIVD__INIT;
	Pm__WgInterface wi = PM__WG_INTERFACE__INIT;

	if (rt == NULL || rtp == NULL) {
		free(rt);
		free(rtp);
		report_error(nd, "cannot set up: out of memory");
		return;
	}

	for (size_t i = 0; i < cf->n_addresses; i++) {
		prefix_text(cf->addresses[i].family, cf->addresses[i].addr,
		    cf->addresses[i].cidr, ad[i]);
		adp[i] = ad[i];
	}
	for (size_t i = 0; i < cf->n_dns; i++) {
		inet_ntop(cf->dns[i].family, cf->dns[i].addr, dns[i],
		    sizeof(dns[i]));
		dnsp[i] = dns[i];
	}
	wi.n_addresses = cf->n_addresses;
	wi.addresses = adp;
	wi.n_dns = cf->n_dns;
	wi.dns = dnsp;
	wi.n_routes = collect_routes(cf, rt, rtp, nrt);
	wi.routes = rtp;
	wi.mtu = nd->wg.mtu;
	wi.listen_port = cf->has_listen_port ? cf->listen_port : 0;
	env.msg_case = PM__NETD_TO_PRIVD__MSG_WG_INTERFACE;
	env.wg_interface = &wi;
	if (send_privd(nd, &env) < 0)
		log_warnx("cannot send the interface to privd");
	free(rt);
	free(rtp);
}

static int
setup(struct netd *nd, const struct wg_config *cf)
{
	int r;

	if ((r = wg_device_init(&nd->wg.dev, cf->private_key)) < 0 ||
	    (r = wg_ratelimiter_init(&nd->wg.rl, WG_RATELIMIT_MAX_ENTRIES)) < 0)
		return r;
	allowedips_init(&nd->wg.aips);
	nd->wg.mtu = cf->mtu ? cf->mtu : 1420;
	if ((r = add_peers(nd, cf)) < 0)
		return r;
	nd->wg.on = true;
	return 0;
}

void
netd_wg_config(struct netd *nd, int fd)
{
	struct wg_config *cf = NULL;
	char *text, err[256];
	size_t len;
	int r;

	if (nd->wg.on)
		return;
	if ((r = read_all(fd, &text, &len)) < 0) {
		snprintf(err, sizeof(err), "cannot read: %s", strerror(-r));
		report_error(nd, err);
		return;
	}
	r = wg_config_parse(text, len, &cf, err, sizeof(err));
	sodium_memzero(text, len);
	free(text);
	if (r < 0) {
		report_error(nd, err);
		return;
	}
	if ((r = setup(nd, cf)) < 0) {
		snprintf(err, sizeof(err), "cannot set up: %s", strerror(-r));
		report_error(nd, err);
	} else
		send_interface(nd, cf);
	wg_config_free(cf);
	/* The file, its parse and the route list were one-offs the size of
	 * the peer list: give their pages back rather than keep them. */
	malloc_trim(0);
}
