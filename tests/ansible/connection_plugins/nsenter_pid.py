# A test-only Ansible connection plugin: runs every command inside a systemd-nspawn container
# by entering all namespaces of the container's PID 1 (`nsenter -t PID -a`), so the role runs
# against the container's own systemd, files and (shared) network exactly as over SSH, without
# an sshd, keys and a port per container. Files move through `cat` over stdin/stdout.
# Used by scripts/test-ansible.sh only; real fleets use ansible.builtin.ssh.
from __future__ import annotations

import shlex
import subprocess

from ansible.errors import AnsibleError
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: nsenter_pid
short_description: run commands in a container by entering the namespaces of its PID 1
description:
  - nsenter -t <pid> -a, with a clean environment. Needs root on the controller.
options:
  leader_pid:
    description: the host PID of the container's PID 1
    vars:
      - name: nsenter_leader_pid
"""

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Every command is bounded: a hung container must fail the test, not hang it.
TIMEOUT = 1200


class Connection(ConnectionBase):
    transport = "nsenter_pid"
    has_pipelining = True

    def _connect(self):
        self._connected = True
        return self

    def _enter(self, argv):
        pid = str(self.get_option("leader_pid"))
        return [
            "timeout", "--kill-after=10", str(TIMEOUT),
            "nsenter", "-t", pid, "-a", "--",
            "env", "-i", "PATH=" + PATH, "HOME=/root", "LANG=C.UTF-8",
        ] + argv

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        p = subprocess.run(
            self._enter(["/bin/sh", "-c", cmd]),
            input=in_data,
            capture_output=True,
            check=False,
        )
        return p.returncode, p.stdout, p.stderr

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        with open(in_path, "rb") as f:
            p = subprocess.run(
                self._enter(["/bin/sh", "-c", "cat > " + shlex.quote(out_path)]),
                stdin=f,
                capture_output=True,
                check=False,
            )
        if p.returncode != 0:
            raise AnsibleError("put_file %s failed: %s" % (out_path, p.stderr.decode(errors="replace")))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        p = subprocess.run(self._enter(["cat", in_path]), capture_output=True, check=False)
        if p.returncode != 0:
            raise AnsibleError("fetch_file %s failed: %s" % (in_path, p.stderr.decode(errors="replace")))
        with open(out_path, "wb") as f:
            f.write(p.stdout)

    def close(self):
        self._connected = False
