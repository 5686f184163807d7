/*
 * privd: runs as root in the foreground (systemd-style, no daemonizing).
 *
 *   parse options and config -> resolve users -> state and empty dirs ->
 *   TUN -> local API socket -> sandbox_enter(PRIVD): keep CAP_NET_ADMIN and
 *   what spawning needs -> spawn netd, ctrld, dnsd -> supervise
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dns_os.h"
#include "log.h"
#include "netapply.h"
#include "nft.h"
#include "pm_config.h"
#include "privd.h"
#include "sandbox.h"
#include "wgmode.h"

#define CONFIG_MAX	65536

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: privd [--state-dir DIR] [--socket PATH] [--tun NAME] "
	    "[--config FILE]\n"
	    "             [--mtu N] [--netd-user U] [--ctrld-user U] "
	    "[--dnsd-user U]\n"
	    "             [--operator-group G] [--libexec-dir DIR] [--debug]\n"
	    "             [--wg-config FILE]   (plain WireGuard, wg-quick "
	    "format)\n"
	    "             [--table N] [--allow-lan] [--exclude CIDR[,CIDR...]]\n"
	    "             [--exit-node] [--advertise-routes CIDR[,CIDR...]]\n"
	    "             [--dns-config FILE] [--accept-dns] "
	    "[--resolv-conf PATH]\n"
	    "             [--port N]\n"
	    "\n"
	    "  --port N             tailnet UDP port (41641; 0: any free one)\n"
	    "  --table N            routing table for tailnet routes (52)\n"
	    "  --allow-lan          local subnets stay direct while a default "
	    "route\n"
	    "                       goes through the tunnel\n"
	    "  --exclude CIDRS      never through the tunnel (rule 5260, lookup "
	    "main);\n"
	    "                       repeatable\n"
	    "  --exit-node          serve as an exit node: forwarding sysctls, "
	    "nftables\n"
	    "                       table inet privmesh (masquerade, "
	    "anti-spoofing)\n"
	    "  --advertise-routes CIDRS  serve as a subnet router (same "
	    "forwarding set-up)\n"
	    "  --dns-config FILE    MagicDNS and split-DNS configuration "
	    "(JSON,\n"
	    "                       docs/DNS.md)\n"
	    "  --accept-dns         point the host's resolv.conf at "
	    "100.100.100.100\n"
	    "                       (or, under systemd-resolved, the TUN's "
	    "link over D-Bus)\n"
	    "  --resolv-conf PATH   the resolv.conf to manage "
	    "(/etc/resolv.conf)\n"
	    "In --config FILE, keys are the long options without \"--\"; flags "
	    "take yes/no.\n");
	exit(2);
}

enum { O_STATE = 256, O_SOCKET, O_TUN, O_CONFIG, O_MTU, O_NETD_USER,
	O_CTRLD_USER, O_DNSD_USER, O_OPGROUP, O_LIBEXEC, O_WG_CONFIG, O_DEBUG,
	O_HELP, O_TABLE, O_ALLOW_LAN, O_EXCLUDE, O_EXIT_NODE, O_ADVERTISE,
	O_DNS_CONFIG, O_ACCEPT_DNS, O_RESOLV_CONF, O_PORT };

static const struct option longopts[] = {
	{ "state-dir", required_argument, NULL, O_STATE },
	{ "socket", required_argument, NULL, O_SOCKET },
	{ "tun", required_argument, NULL, O_TUN },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "mtu", required_argument, NULL, O_MTU },
	{ "netd-user", required_argument, NULL, O_NETD_USER },
	{ "ctrld-user", required_argument, NULL, O_CTRLD_USER },
	{ "dnsd-user", required_argument, NULL, O_DNSD_USER },
	{ "operator-group", required_argument, NULL, O_OPGROUP },
	{ "libexec-dir", required_argument, NULL, O_LIBEXEC },
	{ "wg-config", required_argument, NULL, O_WG_CONFIG },
	{ "debug", no_argument, NULL, O_DEBUG },
	{ "help", no_argument, NULL, O_HELP },
	{ "table", required_argument, NULL, O_TABLE },
	{ "allow-lan", no_argument, NULL, O_ALLOW_LAN },
	{ "exclude", required_argument, NULL, O_EXCLUDE },
	{ "exit-node", no_argument, NULL, O_EXIT_NODE },
	{ "advertise-routes", required_argument, NULL, O_ADVERTISE },
	{ "dns-config", required_argument, NULL, O_DNS_CONFIG },
	{ "accept-dns", no_argument, NULL, O_ACCEPT_DNS },
	{ "resolv-conf", required_argument, NULL, O_RESOLV_CONF },
	{ "port", required_argument, NULL, O_PORT },
	{ NULL, 0, NULL, 0 },
};

static const struct option *
option_by_id(int id)
{
	for (const struct option *lo = longopts; lo->name != NULL; lo++)
		if (lo->val == id)
			return lo;
	return NULL;
}

/* The TUN name also lands in nftables text: a strict character set. */
static bool
ifname_ok(const char *v)
{
	size_t n = strlen(v);

	return n > 0 && n <= 15 && strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+.-") == n &&
	    strcmp(v, ".") != 0 && strcmp(v, "..") != 0;
}

static int
parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* "a/n,b/m": exact prefixes, appended to `out`. */
static int
parse_prefixes(const char *v, struct prefix *out, size_t *n, size_t max)
{
	char item[64];

	while (*v != '\0') {
		size_t len = strcspn(v, ", ");
		if (len >= sizeof(item) || *n == max)
			return -EINVAL;
		memcpy(item, v, len);
		item[len] = '\0';
		if (len > 0 && prefix_parse(item, true, &out[(*n)++]) < 0)
			return -EINVAL;
		v += len;
		v += strspn(v, ", ");
	}
	return 0;
}

static int
parse_table(const char *v, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	/* 0 unspec, 253 default, 254 main, 255 local are the kernel's. */
	if (errno || *end || end == v || n == 0 || n > UINT32_MAX ||
	    (n >= 253 && n <= 255))
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* Applies one setting by option id; shared by the CLI and the config file
 * (flags get "yes" from the CLI). */
static int
set_option(struct privd_opts *o, int id, const char *v)
{
	char *end;
	unsigned long n;

	switch (id) {
	case O_STATE: o->state_dir = v; break;
	case O_SOCKET: o->socket_path = v; break;
	case O_TUN:
		if (!ifname_ok(v))
			return -EINVAL;
		o->tun_name = v;
		break;
	case O_MTU:
		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno || *end || n < 1280 || n > 65535)
			return -EINVAL;
		o->tun_mtu = (unsigned)n;
		break;
	case O_NETD_USER: o->users[0] = v; break;
	case O_CTRLD_USER: o->users[1] = v; break;
	case O_DNSD_USER: o->users[2] = v; break;
	case O_OPGROUP: o->operator_group = v; break;
	case O_LIBEXEC: o->libexec_dir = v; break;
	case O_WG_CONFIG: o->wg_config = v; break;
	case O_DEBUG: return parse_bool(v, &o->debug);
	case O_TABLE: return parse_table(v, &o->table);
	case O_ALLOW_LAN: return parse_bool(v, &o->allow_lan);
	case O_EXIT_NODE: return parse_bool(v, &o->exit_node);
	case O_EXCLUDE:
		return parse_prefixes(v, o->exclude, &o->nexclude,
		    NS_MAX_EXCLUDE);
	case O_ADVERTISE:
		return parse_prefixes(v, o->advertise, &o->nadvertise,
		    NS_MAX_ADVERTISE);
	case O_DNS_CONFIG: o->dns_config = v; break;
	case O_ACCEPT_DNS: return parse_bool(v, &o->accept_dns);
	case O_RESOLV_CONF:
		if (v[0] != '/')
			return -EINVAL;
		o->resolv_conf = v;
		break;
	case O_PORT:
		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno || *end || *v == '\0' || n > 65535)
			return -EINVAL;
		o->port = (unsigned)n;
		break;
	default: return -ENOENT;
	}
	return 0;
}

static int
config_key(const char *key, const char *value, void *arg)
{
	char *copy;

	for (const struct option *lo = longopts; lo->name != NULL; lo++) {
		if (strcmp(lo->name, key) != 0 || lo->val == O_CONFIG ||
		    lo->val == O_HELP)
			continue;
		if ((copy = strdup(value)) == NULL)
			return -ENOMEM;
		return set_option(arg, lo->val, copy);
	}
	return -ENOENT;
}

static void
load_config(struct privd_opts *o, const char *path)
{
	char *buf, err[256];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		fatal("config %s", path);
	if ((buf = malloc(CONFIG_MAX)) == NULL)
		fatal("malloc");
	if ((n = read(fd, buf, CONFIG_MAX)) < 0)
		fatal("read %s", path);
	if (n == CONFIG_MAX)
		fatalx("config %s: larger than %d bytes", path, CONFIG_MAX);
	close(fd);
	if (config_parse(buf, (size_t)n, config_key, o, err, sizeof(err)) < 0)
		fatalx("config %s: %s", path, err);
	free(buf);
}

/* Options override the config file, so the file is read first. */
static void
parse_args(struct privd_opts *o, int argc, char **argv)
{
	const char *config = NULL;
	int ch;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--config") == 0)
			config = argv[i + 1];
	if (config != NULL)
		load_config(o, config);
	o->config = config;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == O_CONFIG)
			continue;
		if (ch == O_HELP || ch == '?')
			usage();
		if (set_option(o, ch, optarg != NULL ? optarg : "yes") < 0)
			fatalx("bad value for --%s: '%s'", option_by_id(ch)->name,
			    optarg != NULL ? optarg : "yes");
	}
	if (optind != argc)
		usage();
}

static void
resolve_user(struct child *k)
{
	struct passwd *pw;

	if ((pw = getpwnam(k->user)) == NULL)
		fatalx("user '%s' for %s does not exist; create it with "
		    "packaging/sysusers.d/privmesh.conf (systemd-sysusers) or "
		    "packaging/create-users.sh", k->user, k->name);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		fatalx("user '%s' for %s must not be root or in group root",
		    k->user, k->name);
	k->uid = pw->pw_uid;
	k->gid = pw->pw_gid;
}

static void
resolve_operator_group(struct privd *pd)
{
	struct group *gr;

	if ((gr = getgrnam(pd->opt.operator_group)) == NULL) {
		log_info("operator group '%s' not found; only root may change "
		    "settings", pd->opt.operator_group);
		return;
	}
	pd->has_operator_gid = true;
	pd->operator_gid = gr->gr_gid;
}

static void
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;

	if (mkdir(path, mode) != 0 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (lstat(path, &st) != 0)
		fatal("stat %s", path);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s exists and is not a directory", path);
	if (chown(path, uid, gid) != 0 || chmod(path, mode) != 0)
		fatal("chown/chmod %s", path);
}

/* state-dir/ (root 0755), state-dir/empty/ (the children's root, kept
 * empty), state-dir/<child>/ (0700, owned by that child's user). */
static void
prepare_state(struct privd *pd)
{
	char path[PATH_MAX];

	make_dir(pd->opt.state_dir, 0755, 0, 0);
	snprintf(pd->root_dir, sizeof(pd->root_dir), "%s/empty",
	    pd->opt.state_dir);
	make_dir(pd->root_dir, 0755, 0, 0);
	for (int i = 0; i < PRIVD_NCHILD; i++) {
		struct child *k = &pd->kids[i];
		snprintf(path, sizeof(path), "%s/%s", pd->opt.state_dir, k->name);
		make_dir(path, 0700, k->uid, k->gid);
	}
}

static void
init_children(struct privd *pd)
{
	static const Pm__Proc procs[PRIVD_NCHILD] = { PM__PROC__PROC_NETD,
	    PM__PROC__PROC_CTRLD, PM__PROC__PROC_DNSD };

	for (int i = 0; i < PRIVD_NCHILD; i++) {
		struct child *k = &pd->kids[i];

		memset(k, 0, sizeof(*k));
		k->pd = pd;
		k->proc = procs[i];
		k->name = pm_proc_name(procs[i]);
		k->user = pd->opt.users[i];
		for (int p = 0; p <= PM_NPROC; p++)
			k->ends[p] = -1;
		resolve_user(k);
		uv_timer_init(pd->loop, &k->timer);
		k->timer.data = k;
	}
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct privd *pd = h->data;

	switch (signum) {
	case SIGCHLD:
		privd_reap(pd);
		break;
	case SIGHUP:
		privd_resume_failed(pd);
		break;
	default:
		privd_stop(pd);
		break;
	}
}

static void
setup_signals(struct privd *pd)
{
	static const int sigs[4] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };

	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 4; i++) {
		uv_signal_init(pd->loop, &pd->sig[i]);
		pd->sig[i].data = pd;
		if (uv_signal_start(&pd->sig[i], on_signal, sigs[i]) != 0)
			fatalx("cannot handle signal %d", sigs[i]);
	}
	uv_timer_init(pd->loop, &pd->stop_timer);
}

static void
open_resources(struct privd *pd)
{
	int fd;

	if ((fd = nl_open(&pd->nl)) < 0) {
		errno = -fd;
		fatal("netlink");
	}
	if ((fd = pmnft_init()) < 0)
		log_warnx("libnftables: %s; exit node and subnet router roles "
		    "will fail", strerror(-fd));
	snprintf(pd->statefile, sizeof(pd->statefile), "%s/privd.netstate",
	    pd->opt.state_dir);
	/* What a crashed run left: its table, rule priorities, nft table,
	 * and the sysctls it changed. */
	netapply_recover(pd);
	if (pd->opt.wg_config != NULL)
		wgmode_open(pd);
	else
		tailnet_udp_open(pd);
	dns_os_start(pd);

	if ((fd = tun_create(pd->opt.tun_name, pd->opt.tun_mtu,
	    &pd->tun_ifindex)) < 0) {
		errno = -fd;
		fatal("cannot create TUN device %s", pd->opt.tun_name);
	}
	pd->tun_fd = fd;
	dns_os_routes(pd);
	if ((fd = api_socket_create(pd->opt.socket_path)) < 0) {
		errno = -fd;
		fatal("cannot create local API socket %s", pd->opt.socket_path);
	}
	pd->api_fd = fd;
	if ((pd->status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		fatal("open /proc/self/status");
}

int
main(int argc, char **argv)
{
	static struct privd pd;
	struct sandbox_params sp = { .role = SANDBOX_PRIVD, .user = "root" };

	log_init("privd", false);
	pd.opt = (struct privd_opts){
		.state_dir = PM_DEFAULT_STATE_DIR,
		.socket_path = PM_DEFAULT_SOCKET,
		.tun_name = "privmesh0",
		.tun_mtu = 1280,
		.table = PM_TABLE,
		.users = { "_pm-net", "_pm-ctrl", "_pm-dns" },
		.operator_group = "privmesh",
		.resolv_conf = DNS_RESOLV_CONF,
		.port = PM_TAILNET_PORT,
	};
	parse_args(&pd.opt, argc, argv);
	log_set_debug(pd.opt.debug);
	pd.wg_fd = pd.udp_fd = -1;
	if (pd.opt.wg_config != NULL) {
		/* wg-quick names the interface after the file. */
		if (wgmode_ifname(pd.opt.wg_config, pd.ifname,
		    sizeof(pd.ifname)) < 0)
			fatalx("wg-config %s: the file name must be a valid "
			    "interface name (1-15 of [a-zA-Z0-9_=+.-]) plus "
			    "\".conf\"", pd.opt.wg_config);
		pd.opt.tun_name = pd.ifname;
	}
	if (geteuid() != 0)
		fatalx("must be started as root");
	pd.loop = uv_default_loop();
	pd.tun_fd = pd.api_fd = -1;
	pd.started_ms = now_ms();
	init_children(&pd);
	resolve_operator_group(&pd);
	privd_locate_binaries(&pd, argv[0]);
	prepare_state(&pd);
	open_resources(&pd);
	setup_signals(&pd);
	sandbox_enter(&sp);
	for (int i = 0; i < PRIVD_NCHILD; i++) {
		int r = privd_spawn(&pd.kids[i]);
		if (r < 0) {
			errno = -r;
			fatal("cannot start %s", pd.kids[i].name);
		}
	}
	log_info("privmesh %s running: tun %s, socket %s, state %s", PM_VERSION,
	    pd.opt.tun_name, pd.opt.socket_path, pd.opt.state_dir);
	uv_run(pd.loop, UV_RUN_DEFAULT);
	if (netapply_clear(&pd) < 0)
		pd.exit_code = 1;
	pmnft_free();
	dns_os_stop(&pd);
	unlink(pd.opt.socket_path);
	log_info("stopped");
	return pd.exit_code;
}
