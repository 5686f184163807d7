/*
 * privd: the only privileged process.  It creates every socketpair, the TUN
 * device and the local API socket, fork+execs netd, ctrld and dnsd with
 * their channels at fixed descriptors (ipc/fds.h), and supervises them.
 */
#ifndef PM_PRIVD_H
#define PM_PRIVD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "fds.h"
#include "ipc.h"
#include "netlink.h"
#include "netstate.h"
#include "privd_to_ctrld.pb-c.h"

#define PRIVD_NCHILD		3
#define BACKOFF_BASE_MS		250
#define BACKOFF_MAX_MS		30000
#define FAST_CRASH_MS		10000	/* a child that died sooner crashed "fast" */
#define MAX_FAST_CRASHES	5	/* in a row, then privd gives up on it */
#define STOP_GRACE_MS		3000	/* SIGTERM to SIGKILL at shutdown */

struct privd;

struct child {
	struct privd	*pd;
	Pm__Proc	 proc;
	const char	*name;
	char		 bin[4096];
	const char	*user;
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 pid;
	Pm__ChildState	 state;
	struct ipc_chan	 chan;		/* privd's end of the privd<->child pair */
	uv_pipe_t	*log;		/* the child's stdout+stderr, relayed */
	int		 ends[PM_NPROC + 1]; /* by Pm__Proc: this child's end of a
					  * socketpair to that peer, not yet handed over */
	uint64_t	 started_ms;
	unsigned	 restarts;
	unsigned	 fast_crashes;
	uv_timer_t	 timer;
	char		 last_exit[64];
};

struct privd_opts {
	const char	*state_dir;
	const char	*socket_path;
	const char	*tun_name;
	const char	*config;
	const char	*wg_config;	/* plain-WireGuard mode */
	const char	*dns_config;	/* static DNS config for dnsd */
	const char	*resolv_conf;
	bool		 accept_dns;	/* manage resolv.conf */
	unsigned	 port;		/* tailnet UDP port, 0: any */
	const char	*libexec_dir;
	const char	*users[PRIVD_NCHILD];	/* netd, ctrld, dnsd order */
	const char	*operator_group;
	unsigned	 tun_mtu;
	unsigned	 table;		/* privmesh's routing table */
	bool		 allow_lan;	/* LAN stays direct under an exit node */
	bool		 exit_node;	/* serve as an exit node */
	size_t		 nexclude, nadvertise;
	struct prefix	 exclude[NS_MAX_EXCLUDE];	/* kept out of the tunnel */
	struct prefix	 advertise[NS_MAX_ADVERTISE];	/* subnet router */
	bool		 debug;
};

struct privd {
	uv_loop_t	*loop;
	struct privd_opts opt;
	struct child	 kids[PRIVD_NCHILD];
	char		 root_dir[4096];	/* empty chroot for children */
	int		 status_fd;		/* /proc/self/status */
	int		 tun_fd;
	unsigned	 tun_ifindex;
	int		 api_fd;
	bool		 has_operator_gid;
	gid_t		 operator_gid;
	uint64_t	 started_ms;
	bool		 stopping;
	int		 exit_code;
	struct nl	 nl;
	int		 wg_fd;			/* the wg-quick file, for netd */
	char		 statefile[4200];	/* what outlives a crash */
	uint64_t	 netstate_refused;	/* ctrld requests refused */
	int		 dns_fd;		/* --dns-config, for dnsd */
	int		 udp_fd;		/* marked WireGuard socket */
	unsigned	 udp_port;
	char		 ifname[16];
	uv_signal_t	 sig[4];
	uv_timer_t	 stop_timer;
};

/* spawn.c */
void	 privd_locate_binaries(struct privd *, const char *argv0);
int	 privd_spawn(struct child *);
void	 privd_child_ready(struct child *);
struct child *privd_child(struct privd *, Pm__Proc);
struct child *privd_child_by_pid(struct privd *, pid_t);
int	 privd_send_peer_channel(struct child *, Pm__Proc peer, int fd);

/* logpipe.c */
int	 logpipe_open(struct child *, int fd);
void	 logpipe_close(struct child *);

/* supervise.c */
uint64_t backoff_ms(unsigned fast_crashes);
void	 privd_reap(struct privd *);
void	 privd_cut_off(struct child *, const char *why);
void	 privd_stop(struct privd *);
void	 privd_resume_failed(struct privd *);

/* tun.c */
int	 tun_create(const char *name, unsigned mtu, unsigned *ifindex);

/* api_socket.c */
int	 api_socket_create(const char *path);

/* status.c */
int	 privd_send_status(struct privd *, uint64_t id);

/* from_*.c: one dispatch function per channel */
int	 privd_dispatch_netd(struct ipc_chan *, struct ipc_msg *, void *);
int	 privd_dispatch_ctrld(struct ipc_chan *, struct ipc_msg *, void *);
int	 privd_dispatch_dnsd(struct ipc_chan *, struct ipc_msg *, void *);
ipc_dispatch_fn privd_dispatch_for(Pm__Proc);
void	 privd_chan_event(struct ipc_chan *, enum ipc_event, int, void *);
void	 privd_handle_ready(struct child *, const Pm__Ready *);
void	 privd_handle_peer_misbehaved(struct child *,
	    const Pm__PeerMisbehaved *);
/* derp_socket.c: one marked TCP socket for netd's DERP connections. */
struct Pm__DerpSocketRequest;
void	 privd_derp_socket(struct child *, const struct Pm__DerpSocketRequest *);

#endif
