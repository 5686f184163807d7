/*
 * The TUN device.  privd creates it (CAP_NET_ADMIN) and keeps its fd for
 * the whole run, so the interface outlives a netd restart; netd gets a
 * duplicate over SCM_RIGHTS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privd.h"

static int
set_mtu(const char *name, unsigned mtu, unsigned *ifindex)
{
	struct ifreq ifr;
	int s, r = 0;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0 || ioctl(s, SIOCGIFINDEX, &ifr) < 0)
		r = -errno;
	else
		*ifindex = (unsigned)ifr.ifr_ifindex;
	close(s);
	return r;
}

/*
 * Returns the TUN fd (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, non-persistent)
 * or -errno.  Every read and write starts with a struct virtio_net_hdr;
 * with the offloads on, reads may be TCP super-packets of up to 64 KiB
 * with a partial checksum, which netd segments (netd/offload.c).  A
 * kernel refusing the offloads still gets the header, never GSO.
 */
int
tun_create(const char *name, unsigned mtu, unsigned *ifindex)
{
	struct ifreq ifr;
	int fd, r, hdrsz = (int)sizeof(struct virtio_net_hdr);

	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	(void)ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM |
	    TUN_F_TSO4 | TUN_F_TSO6));
	if ((r = set_mtu(ifr.ifr_name, mtu, ifindex)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}
