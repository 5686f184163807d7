/*
 * netd's connection to its home DERP region (tailscale's magicsock keeps
 * one to its home region at all times): started when ctrld's DERP map
 * names a home region, moved when the home region, its node or the node
 * key changes, stopped when the map has none.  The TCP socket comes from
 * privd (marked so it bypasses the tunnel; netd cannot open one), TLS is
 * checked as derp_tls.c says, with the CA bundle read before the sandbox.
 *
 * Relayed packets go to the WireGuard core (wg_io_from_derp) with the
 * DERP "endpoint" 127.3.3.40:<region> as their source; packets to a peer
 * whose endpoint is that go out here, addressed by its node key.  Only
 * the home region has a connection: packets for other regions are
 * dropped and counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "derp_client.h"
#include "log.h"
#include "netcheck.h"
#include "netd.h"
#include "netd_to_privd.pb-c.h"

#define CA_BUNDLE	"/etc/ssl/certs/ca-certificates.crt"

static struct {
	SSL_CTX		*ctx;
	struct derp_client *cl;
	uint32_t	 region;
	struct derp_target to;
	uint8_t		 pub[32];
	uint64_t	 tx_dropped;
} home;

void
derp_home_init(void)
{
	/* Read whole now: after the chroot the bundle is out of reach. */
	if ((home.ctx = derp_tls_ctx_new(CA_BUNDLE)) == NULL &&
	    (home.ctx = derp_tls_ctx_new(NULL)) == NULL)
		fatalx("cannot create the TLS context for DERP");
}

static int
ask_socket(void *arg, int family)
{
	struct netd *nd = arg;
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_PRIVD);
	Pm__NetdToPrivd env = PM__NETD_TO_PRIVD__INIT;
	Pm__DerpSocketRequest rq = PM__DERP_SOCKET_REQUEST__INIT;
	int r;

	rq.family = (uint32_t)family;
	env.msg_case = PM__NETD_TO_PRIVD__MSG_DERP_SOCKET_REQUEST;
	env.derp_socket_request = &rq;
	if (ch == NULL)
		return -ENOTCONN;
	r = ipc_send(ch, &env.base, -1);
	return r < 0 ? r : -EINPROGRESS;
}

static void
on_recv(void *arg, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
	wg_io_from_derp(arg, home.region, src, pkt, len);
}

void
derp_send(struct netd *nd, uint32_t region, const uint8_t dst[32],
    const uint8_t *pkt, size_t len)
{
	(void)nd;
	/* Only the home region has a connection so far. */
	if (home.cl == NULL || home.region != region ||
	    derp_client_send(home.cl, dst, pkt, len) < 0)
		home.tx_dropped++;
}

/* The region's first node that relays and has an address of ours to
 * dial (names are not resolved: netd has no resolver). */
static bool
target(const struct derp_region *r, struct derp_target *to)
{
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct derp_node *n = &r->nodes[i];
		struct sockaddr_in *s4 = (struct sockaddr_in *)&to->addr;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&to->addr;

		if (n->stun_only || (!n->has_v4 && !n->has_v6))
			continue;
		memset(to, 0, sizeof(*to));
		if (n->has_v4) {
			s4->sin_family = AF_INET;
			s4->sin_addr = n->v4;
			s4->sin_port = htons(n->derp_port);
			to->alen = sizeof(*s4);
		} else {
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = n->v6;
			s6->sin6_port = htons(n->derp_port);
			to->alen = sizeof(*s6);
		}
		memcpy(to->host, n->host, sizeof(to->host));
		memcpy(to->cert_name, n->cert_name, sizeof(to->cert_name));
		to->insecure = n->insecure;
		return true;
	}
	return false;
}

static void
on_state(struct derp_client *d, bool up)
{
	if (up)
		log_info("DERP: region %u: logged in (%llu logins)",
		    home.region, (unsigned long long)d->logins);
	else
		log_warnx("DERP: region %u: connection lost: %s (server "
		    "errors %llu); again in %u ms", home.region, d->last_err,
		    (unsigned long long)d->server_errors, d->backoff_ms);
}

static void
stop(void)
{
	if (home.cl == NULL)
		return;
	derp_client_stop(home.cl);	/* frees itself once closed */
	home.cl = NULL;
	home.region = 0;
}

/* The one place that says which region is home: netcheck's choice,
 * else (nothing measured yet, the region left the map, or it has only
 * STUN nodes) ctrld's. */
uint32_t
derp_home_region(const struct netd *nd)
{
	const struct derp_region *r = derpmap_region(&nd->derp,
	    netcheck_home(nd));
	struct derp_target to;

	return r != NULL && target(r, &to) ? r->id : nd->derp.home;
}

void
derp_home_update(struct netd *nd)
{
	static const struct derp_conn_cb cb = { on_recv, NULL };
	const struct derp_region *r = derpmap_region(&nd->derp,
	    derp_home_region(nd));
	const uint8_t *priv = netd_node_private();
	struct derp_target to;
	uint8_t pub[32];

	if (r == NULL || priv == NULL || !target(r, &to)) {
		if (home.cl != NULL)
			log_info("DERP: no home region to connect to");
		stop();
		return;
	}
	crypto_scalarmult_base(pub, priv);
	if (home.cl != NULL && home.region == r->id &&
	    memcmp(&to, &home.to, sizeof(to)) == 0 &&
	    memcmp(pub, home.pub, 32) == 0)
		return;
	stop();
	if ((home.cl = calloc(1, sizeof(*home.cl))) == NULL) {
		log_warnx("DERP: out of memory");
		return;
	}
	home.region = r->id;
	home.to = to;
	memcpy(home.pub, pub, 32);
	log_info("DERP: home region %u \"%s\" via %s", r->id, r->code,
	    to.host);
	if (derp_client_start(home.cl, nd->c.loop, home.ctx, &to, pub, priv,
	    ask_socket, nd, &cb, nd) < 0) {
		log_warnx("DERP: cannot start the home region's client");
		free(home.cl);
		home.cl = NULL;
		home.region = 0;
		return;
	}
	home.cl->heap = true;
	home.cl->on_state = on_state;
}

uint64_t
derp_home_heard_ago(uint32_t region)
{
	/* Logged in and not yet lost: the server's keepalives arrive (a
	 * lost connection is noticed within the keepalive period). */
	if (region != 0 && home.cl != NULL && home.region == region &&
	    home.cl->ready)
		return 0;
	return UINT64_MAX;
}

void
derp_home_socket(struct netd *nd, int fd)
{
	(void)nd;
	if (home.cl != NULL)
		derp_client_socket(home.cl, fd);
	else
		close(fd);
}
