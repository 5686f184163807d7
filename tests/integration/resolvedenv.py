"""A real systemd-resolved on a private system bus, inside a test's netns.

packaging/test-resolved.sh unpacks the distribution's systemd-resolved and
the libsystemd-shared it was built against into a test-owned directory
(never installed: the package would take over the host's resolv.conf).
Here it runs inside a mount namespace of its own, entered with the test's
network namespace:

    holder (sleep)   unshare --mount --propagation private, in the netns:
                     tmpfs on /run (so /run/dbus and /run/systemd/resolve
                     are the test's), /etc/resolv.conf covered by a test
                     file with no nameserver (resolved reads it)
    dbus-daemon      a system bus on /run/dbus/system_bus_socket: the
                     stock system.conf policy, plus resolved's own policy
                     file from the unpacked package
    systemd-resolved as root, dropping to systemd-resolve itself; its
                     stub on 127.0.0.53 in the netns; debug log kept
    privd            started by the test with nsenter into both namespaces,
                     so it finds the bus where a host would have it
"""
import glob
import os
import signal
import subprocess

from pmtest import Suite, wait_for

DIR = os.environ.get("PRIVMESH_RESOLVED_DIR", "/var/lib/privmesh-test/resolved")
BINARY = os.path.join(DIR, "lib", "systemd", "systemd-resolved")
RESOLVECTL = os.path.join(DIR, "usr", "bin", "resolvectl")
POLICY_DIR = os.path.join(DIR, "usr", "share", "dbus-1", "system.d")
SETUP = "packaging/test-resolved.sh"


def libdir():
    found = glob.glob(os.path.join(DIR, "usr", "lib", "*", "systemd",
                                   "libsystemd-shared-*.so"))
    return os.path.dirname(found[0]) if found else None


def missing_reason():
    """Why the tests cannot run, or None."""
    if not os.access(BINARY, os.X_OK):
        return f"no systemd-resolved unpacked at {DIR} (run {SETUP})"
    return None


BUS_CONF = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Peer"/>
  </policy>
  <includedir>{policy}</includedir>
</busconfig>
"""

HOLDER = """
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dbus /run/systemd
if [ -f /etc/resolv.conf ] && [ ! -L /etc/resolv.conf ]; then
    mount --bind "$1" /etc/resolv.conf
fi
echo ready
exec sleep infinity
"""


class ResolvedEnv:
    def __init__(self, ns, workdir):
        self.ns = ns
        self.dir = workdir
        self.bus = self.resolved = None
        self.resolved_log = os.path.join(workdir, "resolved.log")
        self.bus_log = os.path.join(workdir, "dbus.log")
        empty = os.path.join(workdir, "host-resolv.conf")
        with open(empty, "w") as f:
            f.write("# no host resolver inside the test's namespace\n")
        self.conf = os.path.join(workdir, "bus.conf")
        with open(self.conf, "w") as f:
            f.write(BUS_CONF.replace("{policy}", POLICY_DIR))
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, "unshare", "--mount",
             "--propagation", "private", "sh", "-ec", HOLDER, "holder",
             empty], stdout=subprocess.PIPE, text=True)
        pid = self.holder.pid
        self.enter = ["nsenter", f"--mount=/proc/{pid}/ns/mnt",
                      f"--net=/proc/{pid}/ns/net"]
        try:
            assert self.holder.stdout.readline().strip() == "ready"
            self.start_bus()
            self.start_resolved()
        except BaseException:
            self.cleanup()
            raise

    def run(self, *args, check=True, env=None):
        return subprocess.run(self.enter + list(args), check=check,
                              capture_output=True, text=True, env=env)

    def start_bus(self):
        log = open(self.bus_log, "a")
        self.bus = subprocess.Popen(
            self.enter + ["dbus-daemon", "--config-file", self.conf,
                          "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        assert "system_bus_socket" in self.bus.stdout.readline()

    def start_resolved(self):
        env = dict(os.environ, LD_LIBRARY_PATH=libdir(),
                   SYSTEMD_LOG_LEVEL="debug")
        log = open(self.resolved_log, "a")
        self.resolved = subprocess.Popen(self.enter + [BINARY],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
        log.close()
        try:
            wait_for(lambda: self.ping(), what="systemd-resolved on the bus")
        except AssertionError:
            raise AssertionError("systemd-resolved did not come up (is the "
                                 f"systemd-resolve user there? {SETUP} "
                                 "makes it):\n" + self.log()[-3000:])

    def ping(self):
        return self.run("busctl", "call", "org.freedesktop.resolve1",
                        "/org/freedesktop/resolve1", "org.freedesktop.DBus.Peer",
                        "Ping", check=False).returncode == 0

    def resolvectl(self, *args, check=True):
        env = dict(os.environ, LD_LIBRARY_PATH=libdir(), SYSTEMD_COLORS="0")
        return self.run(RESOLVECTL, "--no-pager", *args, check=check, env=env)

    def log(self):
        with open(self.resolved_log) as f:
            return f.read()

    def kill(self, which):
        p = getattr(self, which)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        setattr(self, which, None)

    def cleanup(self):
        self.kill("resolved")
        self.kill("bus")
        self.holder.kill()
        self.holder.wait()


class ResolvedSuite(Suite):
    """privd in the ResolvedEnv's mount and network namespaces."""

    def __init__(self, ns, env, extra_args=()):
        super().__init__(ns, extra_args)
        self.renv = env

    def argv(self):
        return self.renv.enter + super().argv()[4:]


def stub_resolv_conf(path):
    """resolv.conf as Debian's systemd-resolved package leaves it: a
    symlink to the stub file resolved writes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink("/run/systemd/resolve/stub-resolv.conf", path)
    return path
