"""``amigos dev``: a node on 127.0.0.1 for development.

It starts a real node (SQLite in its home, ``./.amigos-dev`` unless ``--home``), deploys the
example services of ``hub/`` as ``hub.amigos.dev/amigos/<file name>`` and the developer's
services of ``--watch DIR`` (default ``./services``) as ``hub.amigos.dev/<namespace>/<file
name>``, all as signed transactions of a dev account whose seed is kept in the home
(``dev-account.key``, mode 0600), then redeploys a watched file whenever it changes (its
modification time or size, polled), until Ctrl-C. Files named ``test_*.py`` or ``_*.py`` and
subfolders are not services. Services import each other, so each batch is deployed in
dependency order; an unchanged file is not deployed again after a restart. The node is a dev
node: its genesis funds a faucet (``POST /v1/faucet``, see amigos.node.faucet).
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..crypto.keys import SEED_SIZE, Account
from ..errors import DeployError, UsageError
from ..keystore import (
    KeystoreError,
    check_private,
    read_private_file,
    write_private_file,
)
from ..vm.paths import HUB_DOMAIN
from ..vm.service import code_hash, compile_service
from . import Commands, report
from .context import Context
from .node import add_node_options, listen
from .output import EXIT_FAILED, EXIT_OK, Output, ProgressBar

DEV_HOME = ".amigos-dev"
DEV_KEY_FILE = "dev-account.key"
HUB_NAMESPACE = "amigos"
POLL_SECONDS = 0.4
DESCRIPTION = """\
Start a node on 127.0.0.1 (state in ./.amigos-dev), deploy the example services of ./hub as
hub.amigos.dev/amigos/<file name>, deploy your services of ./services as
hub.amigos.dev/dev/<file name>, and redeploy each of yours when you save it. Ctrl-C stops it.
Deploys are signed transactions of a dev account kept in the node's home; test_*.py and _*.py
files are not services."""


def register(commands: Commands) -> None:
    p = commands.add("dev", "run a development node: example services deployed, your services redeployed on save",
                     dev, takes=("home",), helps={"home": f"the node's state folder (default: ./{DEV_HOME})"},
                     description=DESCRIPTION)
    p.add_argument("--hub", type=Path, help="folder of example services (default: ./hub if there is one)")
    p.add_argument("--watch", type=Path, metavar="DIR",
                   help="folder of your services, redeployed on save (default: ./services if there is one)")
    p.add_argument("--namespace", default="dev",
                   help="where your services go: hub.amigos.dev/NAMESPACE/<file name> (default: dev)")
    add_node_options(p)


@dataclass(frozen=True)
class Source:
    """A service file and where it is deployed."""

    file: Path
    path: str


def service_files(folder: Path, namespace: str) -> list[Source]:
    files = sorted(f for f in folder.glob("*.py") if f.is_file() and not f.name.startswith(("test_", "_")))
    return [Source(f, f"{HUB_DOMAIN}/{namespace}/{f.stem}") for f in files]


def dependency_order(sources: list[Source], texts: dict[Path, str]) -> tuple[list[Source], dict[Source, str]]:
    """The sources that compile, each after those of the batch it imports; and why the others
    cannot be deployed (a language error, an import cycle)."""
    problems: dict[Source, str] = {}
    needs: dict[Source, set[str]] = {}
    by_path = {s.path: s for s in sources}
    for s in sources:
        try:
            compiled = compile_service(s.path, texts[s.file])
        except DeployError as exc:
            problems[s] = f"{s.file}:{exc.line or 1}: {exc.message} [{exc.rule}]"
            continue
        needs[s] = {t for t in compiled.analysis.imports.values() if t in by_path and t != s.path}
    ordered: list[Source] = []
    done: set[str] = set()
    while needs:
        ready = [s for s, wanted in needs.items() if wanted <= done]
        if not ready:
            for s, wanted in needs.items():
                problems[s] = f"{s.file}: cannot be deployed before {', '.join(sorted(wanted - done))} (an import cycle, or one that failed)"
            break
        for s in ready:
            ordered.append(s)
            done.add(s.path)
            del needs[s]
    return ordered, problems


def dev_account(home: Path) -> Account:
    """The dev account whose seed is kept (unencrypted: it signs only on this dev node) in the home."""
    path = home / DEV_KEY_FILE
    if not path.exists():
        account = Account.generate()
        write_private_file(path, account.seed.hex().encode() + b"\n", replace=False)
        return account
    check_private(path, folder=False)
    try:
        seed = bytes.fromhex(read_private_file(path).decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        seed = b""
    if len(seed) != SEED_SIZE:
        raise KeystoreError(f"{path} does not hold a {SEED_SIZE}-byte seed in hex (remove it to make a new dev account)")
    return Account.from_seed(seed)


def _server_class() -> Any:
    import uvicorn

    class DevServer(uvicorn.Server):
        """Stops on SIGINT or SIGTERM and returns, instead of re-raising the signal afterwards, so
        ``amigos dev`` closes its node and exits 0 on Ctrl-C."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return DevServer


class Deployer:
    """Deploys batches of files through the SDK as the dev account, and says what happened."""

    def __init__(self, client: Any, out: Output) -> None:
        self.client = client
        self.out = out
        self.hashes = {s["path"]: s["code_hash"] for s in client.services()}

    def say(self, kind: str, text: str, style: str = "dim", **fields: Any) -> None:
        if self.out.json:
            self.out.data_line({"event": kind, **fields})
        else:
            stamp = datetime.now().strftime("%H:%M:%S")
            self.out.line(f"{self.out.paint(stamp, 'dim')} {self.out.paint(text, style)}")

    def deploy(self, sources: list[Source], *, progress: bool = False) -> list[str]:
        """Deploy what changed in ``sources`` in dependency order; return the paths deployed."""
        texts: dict[Path, str] = {}
        for s in sources:
            try:
                texts[s.file] = s.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.say("error", f"cannot read {s.file}: {exc}", "red", file=str(s.file), message=str(exc))
        readable = [s for s in sources if s.file in texts]
        ordered, problems = dependency_order(readable, texts)
        for s, problem in problems.items():
            self.say("error", problem, "red", file=str(s.file), path=s.path, message=problem)
        bar = ProgressBar("services") if progress and not self.out.json else None
        deployed = []
        for number, s in enumerate(ordered):
            if bar:
                bar(number, len(ordered), s.path)
            digest = code_hash(texts[s.file])
            if self.hashes.get(s.path) == digest:
                continue
            try:
                receipt = self.client.deploy(s.path, texts[s.file])
            except DeployError as exc:
                if bar:
                    bar.done()
                self.say("error", f"{s.file}: deploy failed: {exc.message}", "red", file=str(s.file), path=s.path,
                         message=exc.message)
                continue
            self.hashes[s.path] = digest
            deployed.append(s.path)
            if bar:
                bar.done()
            self.say("deployed", f"deployed {s.path} from {s.file} (block {receipt.height}, gas {receipt.gas_used})",
                     "green", path=s.path, file=str(s.file), block=receipt.height)
        if bar:
            bar.done()
        return deployed


class Watcher:
    """A folder's service files, polled for changes of modification time or size."""

    def __init__(self, folder: Path, namespace: str) -> None:
        self.folder = folder
        self.namespace = namespace
        self.seen: dict[Path, tuple[int, int]] = {}

    def changed(self) -> tuple[list[Source], list[Path]]:
        """The files new or changed since the last look, and those removed."""
        now: dict[Path, tuple[int, int]] = {}
        sources = service_files(self.folder, self.namespace)
        for s in sources:
            try:
                info = s.file.stat()
            except FileNotFoundError:
                continue
            now[s.file] = (info.st_mtime_ns, info.st_size)
        changed = [s for s in sources if s.file in now and self.seen.get(s.file) != now[s.file]]
        removed = [f for f in self.seen if f not in now]
        self.seen = now
        return changed, removed


def dev(ctx: Context) -> int:
    import amigos

    from ..node import Node
    from ..node.app import create_app

    args, out = ctx.args, ctx.out
    home = Path(args.home) if args.home is not None else Path(DEV_HOME)
    hub = args.hub if args.hub is not None else (Path("hub") if Path("hub").is_dir() else None)
    watch = args.watch if args.watch is not None else (Path("services") if Path("services").is_dir() else None)
    for name, folder in (("--hub", hub), ("--watch", watch)):
        if folder is not None and not folder.is_dir():
            raise UsageError(f"{name} {folder} is not a folder")
    if args.namespace == HUB_NAMESPACE or not args.namespace.isidentifier() or not args.namespace.islower():
        raise UsageError(f"--namespace is a lower-case identifier other than {HUB_NAMESPACE!r} (the examples' namespace)")
    sock = listen("127.0.0.1", args.port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    node = Node(home, chain_id=args.chain_id, isolation=args.isolation, dev=True).start()
    try:
        account = dev_account(home)
        pinned = ctx.settings.pinned_key(url)
        if pinned is not None and pinned != node.key.public_key.hex():
            ctx.settings.forget_node(url)  # this is the node at that URL now: a new dev home, not a fork
        import uvicorn

        server = _server_class()(uvicorn.Config(create_app(node, stop_node_on_shutdown=True), log_level="warning",
                                                timeout_graceful_shutdown=2))
        stopping = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                while not server.started:
                    if stopping.wait(0.05):
                        return
                with amigos.connect(url, account=account) as client:
                    run_dev(ctx, client, url, home, node.chain_id, hub, watch, stopping)
            except BaseException as exc:  # reported by the main thread, which then stops the server
                failure.append(exc)
                server.should_exit = True

        worker = threading.Thread(target=work, name="amigos-dev", daemon=True)
        worker.start()
        server.run(sockets=[sock])
        stopping.set()
        worker.join(timeout=10)
    finally:
        node.stop()
        sock.close()
    if failure and not isinstance(failure[0], KeyboardInterrupt):
        report(failure[0] if isinstance(failure[0], Exception) else RuntimeError(str(failure[0])), out)
        return EXIT_FAILED
    if not out.json:
        out.note("stopped: the node's state is in " + str(home))
    return EXIT_OK


def run_dev(ctx: Context, client: Any, url: str, home: Path, chain_id: str, hub: Path | None, watch: Path | None,
            stopping: threading.Event) -> None:
    """Deploy the examples and the watched folder, say how to use them, then redeploy on save."""
    out = ctx.out
    deployer = Deployer(client, out)
    if hub is not None:
        deployer.deploy(service_files(hub, HUB_NAMESPACE), progress=True)
    watcher = Watcher(watch, ctx.args.namespace) if watch is not None else None
    if watcher is not None:
        changed, _ = watcher.changed()
        deployer.deploy(changed, progress=True)
    infos = sorted(client.services(), key=lambda s: s["path"])
    services = [s["path"] for s in infos]
    if out.json:
        out.data_line({"event": "ready", "url": url, "home": str(home), "chain_id": chain_id, "services": services,
                       "watching": None if watch is None else str(watch), "faucet": f"{url}/v1/faucet"})
    else:
        renders = [s["path"] for s in infos if any(f["name"] == "render" for f in s["functions"])]
        print_banner(ctx, url, home, chain_id, services, renders, watcher)
    while watcher is not None and not stopping.wait(POLL_SECONDS):
        changed, removed = watcher.changed()
        for file in removed:
            deployer.say("removed", f"{file} is gone: its service stays deployed (services are never undeployed)",
                         file=str(file))
        if changed:
            deployer.deploy(changed)


def print_banner(ctx: Context, url: str, home: Path, chain_id: str, services: list[str], renders: list[str],
                 watcher: Watcher | None) -> None:
    from ..node.faucet import FAUCET_AMOUNT

    out = ctx.out
    out.line(f"\n{out.paint(f'Amigos {__version__} dev node', 'bold')} on {out.paint(url, 'cyan')}  "
             f"(chain {chain_id}, state in {home})")
    out.line(f"{len(services)} services deployed" + (":" if services else ""))
    for path in services:
        out.line(f"  {path}")
    if watcher is not None:
        out.line(f"watching {watcher.folder}/: save a file there to redeploy it as "
                 f"{HUB_DOMAIN}/{watcher.namespace}/<file name>")
    out.line(f"\n  API       {url}/v1/node")
    out.line(f"  OpenAPI   {url}/openapi.json")
    for path in renders[:5]:
        out.line(f"  page      {url}/v1/render/{path}.html")
    out.line("\nNext, in another terminal:")
    if shutil.which("amigos") is None:  # scripts/dev installs into .venv without activating it
        launcher = Path(sys.executable).parent / "activate"
        if launcher.is_file():
            out.line(f"  source {launcher}      # puts the amigos command on your PATH")
    node_option = "" if ctx.settings.get("node") == url else f" --node {url}"
    if node_option:
        out.line(f"  amigos config set node {url}      # optional: then no --node is needed")
    default = ctx.settings.get("account")
    if default is None:
        out.line("  amigos account new alice                           # once: your key, in your keystore")
    example = next((p for p in services if p.endswith("/counter")), services[0] if services else None)
    if example is not None:
        out.line(f"  amigos{node_option} show {example}")
        if example.endswith("/counter"):
            out.line(f"  amigos{node_option} call {example} increment 2")
        out.line(f"  amigos{node_option} render {example}")
    out.line(f"  amigos{node_option} events --follow")
    out.line(f"\nFree AMI (dev nodes only): {FAUCET_AMOUNT} per address and minute from the faucet:")
    out.line(f"  curl -X POST {url}/v1/faucet -H 'Content-Type: application/json' -d '{{\"address\": \"amigo1…\"}}'")
    out.line(out.paint("\nCtrl-C stops the node.", "dim"))


__all__ = ["DEV_HOME", "dev", "register"]
