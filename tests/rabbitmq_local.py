"""A throwaway RabbitMQ node on 127.0.0.1 from Debian's ``rabbitmq-server``.

Everything the node writes (database, logs, Erlang cookie) lives in a temporary
directory; it listens on free ports (AMQP, Erlang distribution, its own epmd)
so it never meets another broker on the machine, and ``stop`` halts the node
and the epmd it started. ``scripts/setup.sh`` installs the package where apt
is available; without it the behaviour tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
EPMD = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"


def available() -> bool:
    return SERVER.exists() and CTL.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalRabbit:
    home: Path
    port: int
    node: str
    env: dict
    process: subprocess.Popen

    def ctl(self, *args: str, timeout: float = 60) -> str:
        out = subprocess.run([str(CTL), "-n", self.node, *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {out.stdout}{out.stderr}")
        return out.stdout

    def stop(self) -> None:
        try:
            self.ctl("stop", timeout=60)
        except Exception:  # noqa: BLE001 - the process group is killed below in any case
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        subprocess.run([EPMD, "-port", self.env["ERL_EPMD_PORT"], "-kill"], env=self.env, capture_output=True,
                       timeout=10)


def start(home: Path, *, timeout: float = 120) -> LocalRabbit:
    home.mkdir(parents=True, exist_ok=True)
    (home / "enabled_plugins").write_text("[].\n")
    port = _free_port()
    node = f"refarch-{os.getpid()}-{port}@localhost"
    env = {
        **os.environ,
        "HOME": str(home),  # the Erlang cookie
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(_free_port()),
        "ERL_EPMD_PORT": str(_free_port()),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(home / "rabbit.pid"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
    }
    log = open(home / "server.out", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([str(SERVER)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home,
                               start_new_session=True)
    rabbit = LocalRabbit(home=home, port=port, node=node, env=env, process=process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited: {(home / 'server.out').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        rabbit.stop()
        raise RuntimeError(f"rabbitmq-server did not listen within {timeout}s")
    rabbit.ctl("await_startup", timeout=timeout)
    return rabbit
