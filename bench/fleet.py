#!/usr/bin/env python3
"""A night of a fleet on one machine, by hand, as root:

    bench/fleet.py WORK [--hosts 1000] [--ssh-hosts 20] [--delay 25]
                        [--ssh-mib 40] [--out FILE]

Hosts: HOSTS small local trees of varied size (a few large ones with a
big file), and SSH_HOSTS trees pulled through a loopback sshd behind
bench/relay.py adding DELAY ms each way (a WAN link).  One capback.conf
holds them all.  Measured:

- night 0 (everything new) and night 1 (about 2% of the files changed,
  a new file a host, a MiB changed in each big file): wall time of
  `capback run`, its CPU-seconds (every process of the server's side),
  and peak RSS of the runner process itself;
- the sum of the same hosts' single backups, one after the other (into a
  copy of the repositories as night 0 left them), against night 1;
- the server's CPU-seconds per GB received from the ssh hosts, full
  backups with digests at the source (the default for a pull) and with
  --digests-at server;
- the runner's own cost per host: a sequential run (parallel = 1) of 200
  empty hosts against 200 bare `capback backup` of the same;
- `capback status --json` at all hosts, and a run whose every host is
  locked by another process (locks, the report and the metrics only);
- night 2 run as `--shard 1/2`, then `--shard 2/2`: the split.
"""
import argparse
import fcntl
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CB = os.path.join(TOP, "build", "capback")
T0 = 1700000000  # night 0; night N is T0 + N days


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def timed(argv, env=None):
    """Wall seconds, the process's own CPU seconds and peak RSS (polled
    from /proc: its children not counted), exit status, output."""
    t = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env)
    hwm = 0
    cpu = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    out = b""
    os.set_blocking(p.stdout.fileno(), False)
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
            with open("/proc/%d/stat" % p.pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
                cpu = (int(st[11]) + int(st[12])) / tick  # the runner's own
        except (OSError, IndexError, ValueError):
            pass
        try:
            chunk = p.stdout.read()
            if chunk:
                out += chunk
        except BlockingIOError:
            pass
        time.sleep(0.05)
    rest = p.stdout.read()
    out += rest or b""
    wall = time.monotonic() - t
    return wall, cpu, hwm, p.returncode, out.decode(errors="replace")


class Cpu:
    """CPU seconds of the children between two points."""

    def __enter__(self):
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.t = r.ru_utime + r.ru_stime
        return self

    def __exit__(self, *a):
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = r.ru_utime + r.ru_stime - self.t


def make_tree(root, rnd, nfiles, big_mib=0):
    os.makedirs(root, exist_ok=True)
    for i in range(nfiles):
        d = os.path.join(root, "d%02d" % (i % 7))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%05d" % i), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(0, 4096)))
    if big_mib:
        with open(os.path.join(root, "big.img"), "wb") as f:
            for _ in range(big_mib):
                f.write(rnd.randbytes(1 << 20))


def change_tree(root, rnd, night):
    """About 2% of the small files rewritten, one new file, a MiB of the
    big file (if any) rewritten in place."""
    files = []
    for d, _, names in os.walk(root):
        files += [os.path.join(d, n) for n in names if n != "big.img"]
    files.sort()
    for f in rnd.sample(files, max(1, len(files) // 50)):
        with open(f, "wb") as o:
            o.write(rnd.randbytes(rnd.randint(0, 4096)))
    with open(os.path.join(root, "new-%d" % night), "wb") as o:
        o.write(rnd.randbytes(1000))
    big = os.path.join(root, "big.img")
    if os.path.exists(big):
        size = os.path.getsize(big)
        with open(big, "r+b") as o:
            o.seek(rnd.randrange(0, max(1, size - (1 << 20))))
            o.write(rnd.randbytes(1 << 20))


def write_conf(path, work, hosts, ssh_hosts, schema, extra=""):
    with open(path, "w") as f:
        f.write("[global]\nstate-dir = %s/state\nmetrics = %s/prom/capback.prom\n"
                "mail = never\n%s" % (work, work, extra))
        for h in hosts:
            f.write("[host %s]\nsource = %s/src/%s\nrepository = %s/repos/%s\n"
                    "keep = 30D\n" % (h, work, h, work, h))
        for h in ssh_hosts:
            f.write("[host %s]\nsource = root@127.0.0.1::%s/src/%s\n"
                    "repository = %s/repos/%s\nremote-schema = %s\nkeep = 30D\n"
                    % (h, work, h, work, h, schema))


def bytes_of(work, hosts):
    n = 0
    for h in hosts:
        for d, _, names in os.walk(os.path.join(work, "src", h)):
            for x in names:
                n += os.path.getsize(os.path.join(d, x))
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--ssh-hosts", type=int, default=20)
    ap.add_argument("--delay", type=int, default=25)
    ap.add_argument("--ssh-mib", type=int, default=40)
    ap.add_argument("--out")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    for d in ("prom", "repos", "repos-digest-source", "repos-digest-server",
              "empty/src", "empty/r", "empty/b"):
        os.makedirs(os.path.join(work, d))
    rnd = random.Random(7)
    res = {"hosts": a.hosts, "ssh_hosts": a.ssh_hosts, "delay_ms": a.delay,
           "cores": os.cpu_count()}

    # the fleet: mostly small hosts, a few large ones
    hosts = ["h%04d" % i for i in range(a.hosts)]
    for i, h in enumerate(hosts):
        big = i % 250 == 0
        n = 3000 if big else int(rnd.lognormvariate(4.2, 0.8)) + 5
        make_tree(os.path.join(work, "src", h), rnd, n, 64 if big else 0)
    ssh_hosts = ["s%02d" % i for i in range(a.ssh_hosts)]
    for h in ssh_hosts:
        make_tree(os.path.join(work, "src", h), rnd, 300, a.ssh_mib)
    res["files"] = sum(len(fs) for _, _, fs in os.walk(os.path.join(work, "src")))
    res["source_bytes"] = bytes_of(work, hosts + ssh_hosts)

    # the sshd and the relay (one sshd serves every ssh host: its own tree)
    port = 30000 + os.getpid() % 20000
    rport = port + 1
    sshd = os.path.join(work, "sshd")
    sh("sh", os.path.join(TOP, "tests/lib/sshd-loopback.sh"), "start", sshd,
       str(port), "root")
    relay = subprocess.Popen([sys.executable, os.path.join(TOP, "bench/relay.py"),
                              str(rport), str(port), str(a.delay)])
    try:
        time.sleep(0.5)
        plain = subprocess.run(["sh", os.path.join(TOP, "tests/lib/sshd-loopback.sh"),
                                "sshcmd", sshd, "root"], check=True,
                               capture_output=True, text=True).stdout.strip()
        slow = plain.replace("-p %d" % port, "-p %d" % rport)
        kh = os.path.join(sshd, "known_hosts")
        with open(kh) as f:
            text = f.read()
        with open(kh, "w") as f:
            f.write(text.replace("[127.0.0.1]:%d " % port,
                                 "[127.0.0.1]:%d,[127.0.0.1]:%d " % (port, rport)))
        schema = "%s {h} env PATH=%s:/usr/bin:/bin" % (slow, os.path.join(TOP, "build"))
        conf = os.path.join(work, "capback.conf")
        write_conf(conf, work, hosts, ssh_hosts, schema)

        def night(n, extra=()):
            argv = [CB, "--current-time", str(T0 + 86400 * n), "run"] + \
                list(extra) + [conf]
            with Cpu() as c:
                wall, own, hwm, rc, out = timed(argv)
            if rc != 0:
                print(out[-3000:])
                raise SystemExit("night %d failed (%d)" % (n, rc))
            return {"wall_s": round(wall, 2), "cpu_s": round(c.cpu, 2),
                    "runner_cpu_s": round(own, 2),
                    "runner_peak_rss_kib": hwm}

        res["night0"] = night(0)
        print("night 0", res["night0"], flush=True)

        # a copy of the repositories as night 0 left them, for the
        # single backups
        sh("cp", "-a", os.path.join(work, "repos"), os.path.join(work, "repos-single"))
        for h in hosts + ssh_hosts:
            change_tree(os.path.join(work, "src", h), rnd, 1)
        changed = 0
        res["night1"] = night(1)
        with open(os.path.join(work, "prom", "capback.prom")) as f:
            for line in f:
                if line.startswith("capback_host_changed_bytes"):
                    changed += float(line.split()[-1])
        res["night1"]["changed_bytes"] = int(changed)
        print("night 1", res["night1"], flush=True)

        # the same night, host after host, by bare backups
        single = 0.0
        with Cpu() as c:
            for h in hosts + ssh_hosts:
                src = os.path.join(work, "src", h)
                argv = [CB, "--current-time", str(T0 + 86400)]
                if h in ssh_hosts:
                    argv += ["--remote-schema", schema, "backup",
                             "root@127.0.0.1::" + src]
                else:
                    argv += ["backup", src]
                argv.append(os.path.join(work, "repos-single", h))
                t = time.monotonic()
                sh(*argv, stdout=subprocess.DEVNULL)
                single += time.monotonic() - t
        res["night1_single_sum_s"] = round(single, 2)
        res["night1_single_cpu_s"] = round(c.cpu, 2)
        res["night1_run_vs_single_sum"] = round(res["night1"]["wall_s"] / single, 3)
        print("single backups, summed", single, flush=True)

        # the server's CPU per GB received from the ssh hosts (full)
        got = bytes_of(work, ssh_hosts)
        for mode in ("source", "server"):
            with Cpu() as c:
                for h in ssh_hosts:
                    d = os.path.join(work, "repos-digest-" + mode, h)
                    sh(CB, "--remote-schema", schema, "--current-time", str(T0),
                       "backup", "--digests-at", mode,
                       "root@127.0.0.1::" + os.path.join(work, "src", h), d,
                       stdout=subprocess.DEVNULL)
            res["server_cpu_s_per_gb_digests_at_" + mode] = round(c.cpu / (got / 1e9), 3)
        res["ssh_bytes_received"] = got
        print("cpu per GB", res["server_cpu_s_per_gb_digests_at_source"],
              res["server_cpu_s_per_gb_digests_at_server"], flush=True)

        # the runner's own cost per host: 200 empty hosts
        empty = os.path.join(work, "empty")
        k = 200
        with open(os.path.join(empty, "capback.conf"), "w") as f:
            f.write("[global]\nstate-dir = %s/state\nparallel = 1\nmail = never\n" % empty)
            for i in range(k):
                f.write("[host e%03d]\nsource = %s/src\nrepository = %s/r/e%03d\n"
                        "drill = none\n" % (i, empty, empty, i))
        wall_run, own, _, rc, _ = timed([CB, "--current-time", str(T0), "run",
                                         os.path.join(empty, "capback.conf")])
        t = time.monotonic()
        sh("sh", "-c", 'i=0; while [ $i -lt %d ]; do "%s" --current-time %d '
           'backup "%s/src" "%s/b/e$i" >/dev/null || exit 1; i=$((i + 1)); '
           'done' % (k, CB, T0, empty, empty))
        wall_bare = time.monotonic() - t
        res["runner_overhead_ms_per_host"] = round((wall_run - wall_bare) / k * 1000, 1)
        res["runner_cpu_ms_per_host"] = round(own / k * 1000, 2)
        res["empty_host_backup_ms"] = round(wall_bare / k * 1000, 1)
        print("runner overhead per host (ms)", res["runner_overhead_ms_per_host"], flush=True)

        # status and the report at every host
        t = time.monotonic()
        # (exit 1: the sessions' times are years back, so overdue)
        subprocess.run([CB, "status", "--json", conf], stdout=subprocess.DEVNULL)
        res["status_json_s"] = round(time.monotonic() - t, 3)
        locks = []
        for h in hosts + ssh_hosts:
            fd = os.open(os.path.join(work, "state", "locks", h + ".lock"),
                         os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locks.append(fd)
        wall, _, _, _, _ = timed([CB, "--current-time", str(T0 + 86400 + 1),
                                  "run", conf])
        for fd in locks:
            os.close(fd)
        res["run_all_locked_s"] = round(wall, 3)
        print("status", res["status_json_s"], "all locked run", wall, flush=True)

        # night 2 in two shards, one after the other
        for h in hosts + ssh_hosts:
            change_tree(os.path.join(work, "src", h), rnd, 2)
        for i in (1, 2):
            out = subprocess.run([CB, "status", "--json", "--shard", "%d/2" % i, conf],
                                 capture_output=True, text=True).stdout
            n = len(json.loads(out)["hosts"])
            r = night(2, ["--shard", "%d/2" % i])
            r["hosts"] = n
            res["night2_shard_%d_of_2" % i] = r
            print("night 2 shard %d/2" % i, r, flush=True)
    finally:
        relay.kill()
        sh("sh", os.path.join(TOP, "tests/lib/sshd-loopback.sh"), "stop", sshd)
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
