/*
 * netd's side of the TUN device: privd created it (IFF_VNET_HDR, TSO and
 * checksum offloads on) and passed the fd.  Each read is a virtio_net_hdr
 * and a packet or a TCP super-packet of up to 64 KiB.  DNS for the
 * quad-100 addresses goes to dnsd (dns_intercept.c); the rest goes to
 * WireGuard when it is configured (which cuts it up, offload.c),
 * otherwise it is dropped and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "dns_intercept.h"
#include "log.h"
#include "netd.h"
#include "offload.h"

#define TUN_BURST	64

static uint8_t tunbuf[OFFLOAD_VNET_HDR_LEN + 65536];

static void
on_tun(uv_poll_t *h, int status, int events)
{
	struct netd *nd = h->data;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < TUN_BURST; i++) {
		ssize_t n = read(nd->tun_fd, tunbuf, sizeof(tunbuf));
		if (n <= 0)
			break;
		if (dns_intercept(nd, tunbuf, (size_t)n))
			continue;
		if (nd->wg.on)
			wg_io_from_tun(nd, tunbuf, (size_t)n);
		else
			nd->tun_rx_no_peer++;
	}
	dns_intercept_flush(nd);
	if (nd->wg.on)
		wg_io_flush(nd);
}

void
netd_tun_attach(struct netd *nd, int fd, const char *name)
{
	int fl;

	if (nd->tun_fd >= 0) {
		close(fd);
		return;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    uv_poll_init(nd->c.loop, &nd->tun_poll, fd) != 0) {
		log_warn("TUN %s: cannot poll, ignoring", name);
		close(fd);
		return;
	}
	nd->tun_fd = fd;
	nd->tun_poll.data = nd;
	uv_poll_start(&nd->tun_poll, UV_READABLE, on_tun);
	log_info("TUN %s attached", name);
}
