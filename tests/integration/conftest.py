import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pmtest  # noqa: E402


@pytest.fixture
def netns():
    ns = pmtest.Netns()
    yield ns
    ns.delete()


@pytest.fixture
def suite(netns, request):
    s = pmtest.Suite(netns)
    s.start()
    yield s
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        sys.stderr.write("---- privd log ----\n" + s.logs())
    s.cleanup()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        pytest.exit("integration tests need root (netns, TUN, setuid)", 2)
    for b in (pmtest.PRIVD, pmtest.CLI):
        if not os.access(b, os.X_OK):
            pytest.exit(f"missing {b}: build first (PRIVMESH_BUILD)", 2)
