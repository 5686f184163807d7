/*
 * netd's DNS interception on TUN reads (netd/dns_intercept.c and the TCP
 * responder, netd/dns_tcp.c): the bytes are a TUN read (virtio_net_hdr and
 * an IP packet) as any local program can make them.  TCP state carries over
 * between inputs, so sequences of segments are explored too; after each
 * input an answer is offered to the first connections (client port taken
 * from the first byte).  Packets netd writes go to /dev/null.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "dns_intercept.h"
#include "netd.h"
#include "offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct netd nd;
static uint8_t buf[OFFLOAD_VNET_HDR_LEN + 65536];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t c4[4] = { 100, 64, 0, 1 };
	uint8_t reply[64];

	if (nd.c.loop == NULL) {
		nd.c.loop = uv_default_loop();
		nd.tun_fd = open("/dev/null", O_WRONLY);
	}
	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	(void)dns_intercept(&nd, buf, size);
	dns_intercept_flush(&nd);
	/* An answer on whatever TCP connection may exist now. */
	memset(reply, 0xab, sizeof(reply));
	for (uint32_t conn = 0x100; conn < 0x100 + 4; conn++)
		(void)dns_tcp_reply(&nd, conn, false, c4, size > 0 ? data[0] : 0,
		    reply, sizeof(reply));
	return 0;
}
