#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "nft.h"

static struct nft_ctx *ctx;
static char errbuf[512];

int
pmnft_init(void)
{
	if ((ctx = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL)
		return -ENOMEM;
	if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		nft_ctx_free(ctx);
		ctx = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
pmnft_free(void)
{
	if (ctx != NULL)
		nft_ctx_free(ctx);
	ctx = NULL;
}

const char *
pmnft_error(void)
{
	return errbuf;
}

/* "add; delete" makes the delete succeed whether or not the table was
 * there; the new table (if any) follows in the same transaction. */
#define RESET	"add table inet " PM_NFT_TABLE "\n"			\
		"delete table inet " PM_NFT_TABLE "\n"

/*
 * prerouting: packets claiming a tailnet source on any interface but the
 *   tunnel (and loopback, where our own locally addressed packets loop) are
 *   dropped before routing, for this host and for forwarding alike.
 * forward: what comes in from the tunnel is marked 0x40000 (tailscaled's
 *   subnet-route mark) and accepted; what goes into it is accepted.
 * postrouting: marked packets leaving by another interface are
 *   masqueraded, so LAN hosts and the internet answer this node.
 */
int
pmnft_render(const struct ns_nft *s, char *buf, size_t len)
{
	int n;

	if (!s->on)
		n = snprintf(buf, len, RESET);
	else
		n = snprintf(buf, len, RESET
		    "table inet %s {\n"
		    " chain prerouting {\n"
		    "  type filter hook prerouting priority raw; policy accept;\n"
		    "  iifname { \"%s\", \"lo\" } accept\n"
		    "  ip saddr 100.64.0.0/10 counter drop\n"
		    "  ip6 saddr fd7a:115c:a1e0::/48 counter drop\n"
		    " }\n"
		    " chain forward {\n"
		    "  type filter hook forward priority filter; policy accept;\n"
		    "  iifname \"%s\" meta mark set meta mark & 0xff00ffff | "
		    "0x%x counter accept\n"
		    "  oifname \"%s\" counter accept\n"
		    " }\n"
		    " chain postrouting {\n"
		    "  type nat hook postrouting priority srcnat; policy accept;\n"
		    "  oifname != \"%s\" meta mark & 0x%x == 0x%x counter "
		    "masquerade\n"
		    " }\n"
		    "}\n", PM_NFT_TABLE, s->ifname, s->ifname, PM_FWMARK_FWD,
		    s->ifname, s->ifname, PM_FWMASK, PM_FWMARK_FWD);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* The interface name is privd's own, checked at start-up to be
 * [A-Za-z0-9_=+.-]{1,15}; checked again here since it lands in text. */
static int
ifname_safe(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_=+.-") == n;
}

int
pmnft_apply(const struct ns_nft *s)
{
	char cmd[2048];
	const char *e;
	int r;

	errbuf[0] = '\0';
	if (ctx == NULL)
		return -ENOTCONN;
	if (s->on && !ifname_safe(s->ifname))
		return -EINVAL;
	if ((r = pmnft_render(s, cmd, sizeof(cmd))) < 0)
		return r;
	if (nft_run_cmd_from_buffer(ctx, cmd) != 0) {
		e = nft_ctx_get_error_buffer(ctx);
		snprintf(errbuf, sizeof(errbuf), "%s", e ? e : "failed");
		errbuf[strcspn(errbuf, "\n")] = '\0';
		return -EIO;
	}
	/* Reading the buffers resets them. */
	(void)nft_ctx_get_output_buffer(ctx);
	(void)nft_ctx_get_error_buffer(ctx);
	return 0;
}
