#ifndef PM_CTRLD_H
#define PM_CTRLD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include <jansson.h>

#include "api.h"
#include "control.h"
#include "child.h"
#include "privd_to_ctrld.pb-c.h"
#include "netd_to_ctrld.pb-c.h"

#define STATUS_TIMEOUT_MS	2000

struct api_conn;

/* A `status` being assembled from privd's, netd's and dnsd's replies. */
struct status_req {
	struct status_req *next;
	struct ctrld	*cd;
	uint64_t	 id;
	struct api_conn	*conn;
	json_t		*privd;		/* privd's own entry */
	json_t		*supervised[PM_NPROC + 1];	/* by Pm__Proc */
	json_t		*self[PM_NPROC + 1];		/* children's own views */
	json_t		*wg;		/* netd's WireGuard view, if any */
	json_t		*dns;		/* dnsd's counters, if any */
	unsigned	 pending;	/* replies still expected */
	uv_timer_t	 timer;
};

struct ctrld {
	struct child_ctx c;
	uv_pipe_t	 api;
	bool		 api_open;
	bool		 has_operator_gid;
	gid_t		 operator_gid;
	uint64_t	 next_id;
	struct status_req *reqs;
	struct control	 ctl;
};

int	ctrld_dispatch_privd(struct ipc_chan *, struct ipc_msg *, void *);
int	ctrld_dispatch_netd(struct ipc_chan *, struct ipc_msg *, void *);
int	ctrld_dispatch_dnsd(struct ipc_chan *, struct ipc_msg *, void *);

/* api.c */
void	api_listen(struct ctrld *, int fd, bool has_gid, gid_t gid);
void	api_reply(struct api_conn *, json_t *obj);	/* steals obj */

/* status.c */
void	status_start(struct ctrld *, struct api_conn *);
void	status_conn_gone(struct ctrld *, struct api_conn *);
void	status_privd_reply(struct ctrld *, const Pm__StatusReply *);
void	status_child_reply(struct ctrld *, uint64_t id, const Pm__ProcInfo *);
void	status_wg_reply(struct ctrld *, const Pm__WgStatusReply *);
typedef struct Pm__DnsStatus Pm__DnsStatus;
void	status_dns_reply(struct ctrld *, const Pm__DnsStatus *);

/* netcheck.c: the local API's netcheck, answered by netd. */
void	netcheck_start(struct ctrld *, struct api_conn *);
void	netcheck_conn_gone(struct ctrld *, struct api_conn *);
void	netcheck_reply(struct ctrld *, const Pm__NetcheckReport *);
/* ping.c: the `ping` op (disco ping through netd). */
void	ping_start(struct ctrld *, struct api_conn *, const char *buf,
	    size_t len);
void	ping_netd_reply(struct ctrld *, const Pm__PingReply *);
void	ping_conn_gone(struct api_conn *);

#endif
