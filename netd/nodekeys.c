/*
 * The node (WireGuard) key and the disco key: generated, kept and used by
 * netd alone; ctrld gets the public halves (NodeKeys) for register and
 * map.  Persisted in netd's own state directory (its chroot) as
 * "nodekeys", 0600, written atomically:
 *
 *   node privkey:<64 hex>
 *   disco privkey:<64 hex>
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "netd.h"
#include "statefile.h"
#include "netd_to_ctrld.pb-c.h"

#define NODEKEYS_FILE	"nodekeys"

static struct {
	bool	 loaded;
	uint8_t	 node_priv[32], node_pub[32];
	uint8_t	 disco_priv[32], disco_pub[32];
} keys;

static void
keypair(uint8_t priv[32], uint8_t pub[32])
{
	randombytes_buf(priv, 32);
	priv[0] &= 248;
	priv[31] &= 127;
	priv[31] |= 64;
	crypto_scalarmult_base(pub, priv);
}

static int
parse_line(const char *buf, const char *label, uint8_t out[32])
{
	char want[32], hex[65];
	const char *p = buf;
	size_t bin;

	snprintf(want, sizeof(want), "%s privkey:", label);
	while (p != NULL && strncmp(p, want, strlen(want)) != 0)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return -1;
	p += strlen(want);
	if (strspn(p, "0123456789abcdef") != 64)
		return -1;
	memcpy(hex, p, 64);
	hex[64] = '\0';
	return sodium_hex2bin(out, 32, hex, 64, NULL, &bin, NULL) == 0 &&
	    bin == 32 ? 0 : -1;
}

static int
save(void)
{
	char buf[256], n[65], d[65];
	int r;

	sodium_bin2hex(n, sizeof(n), keys.node_priv, 32);
	sodium_bin2hex(d, sizeof(d), keys.disco_priv, 32);
	snprintf(buf, sizeof(buf), "node privkey:%s\ndisco privkey:%s\n", n, d);
	r = statefile_write(NODEKEYS_FILE, buf, strlen(buf));
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(n, sizeof(n));
	sodium_memzero(d, sizeof(d));
	return r;
}

static int
load(void)
{
	char buf[512];
	ssize_t n = statefile_read(NODEKEYS_FILE, buf, sizeof(buf));
	int r = 0;

	if (n >= 0 && parse_line(buf, "node", keys.node_priv) == 0 &&
	    parse_line(buf, "disco", keys.disco_priv) == 0) {
		crypto_scalarmult_base(keys.node_pub, keys.node_priv);
		crypto_scalarmult_base(keys.disco_pub, keys.disco_priv);
	} else {
		if (n >= 0)
			log_warnx("%s is malformed; new keys", NODEKEYS_FILE);
		else if (n != -ENOENT)
			log_warnx("cannot read %s: %s; new keys",
			    NODEKEYS_FILE, strerror((int)-n));
		keypair(keys.node_priv, keys.node_pub);
		keypair(keys.disco_priv, keys.disco_pub);
		r = save();
	}
	sodium_memzero(buf, sizeof(buf));
	keys.loaded = true;
	return r;
}

const uint8_t *
netd_node_private(void)
{
	int r;

	if (!keys.loaded && (r = load()) < 0)
		log_warnx("cannot save %s: %s", NODEKEYS_FILE, strerror(-r));
	return keys.node_priv;
}

static void
ensure_loaded(void)
{
	int r;

	if (!keys.loaded && (r = load()) < 0)
		log_warnx("cannot save %s: %s", NODEKEYS_FILE, strerror(-r));
}

const uint8_t *
netd_node_public(void)
{
	ensure_loaded();
	return keys.node_pub;
}

const uint8_t *
netd_disco_private(void)
{
	ensure_loaded();
	return keys.disco_priv;
}

const uint8_t *
netd_disco_public(void)
{
	ensure_loaded();
	return keys.disco_pub;
}

int
netd_node_keys(struct netd *nd, uint64_t id, bool rotate)
{
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__NodeKeys nk = PM__NODE_KEYS__INIT;
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_CTRLD);
	uint8_t old[32];
	int r;

	if (!keys.loaded && (r = load()) < 0)
		log_warnx("cannot save %s: %s", NODEKEYS_FILE, strerror(-r));
	if (rotate) {
		memcpy(old, keys.node_pub, 32);
		keypair(keys.node_priv, keys.node_pub);
		if ((r = save()) < 0)
			log_warnx("cannot save %s: %s", NODEKEYS_FILE,
			    strerror(-r));
		peers_ctrld_rekey(nd);
		nk.old_node_public.data = old;
		nk.old_node_public.len = 32;
		log_info("node key rotated");
	}
	nk.id = id;
	nk.node_public.data = keys.node_pub;
	nk.node_public.len = 32;
	nk.disco_public.data = keys.disco_pub;
	nk.disco_public.len = 32;
	env.msg_case = PM__NETD_TO_CTRLD__MSG_NODE_KEYS;
	env.node_keys = &nk;
	return ch != NULL ? ipc_send(ch, &env.base, -1) : 0;
}
