"""A real Redmine 5.0 (Debian's packages) for tests: install once, a cached template database, one server per test.

Each server runs ``bin/rails server -u webrick`` from /usr/share/redmine on 127.0.0.1, in its own process group, on
its own copy of a template sqlite database (``DATABASE_URL``), so tests never share state. Seeding goes through the
REST API only, with the admin's key.

    with start_redmine(tmp_path) as server:
        data = seed(server)
        requests.get(f"{server.base_url}/issues.json", headers=server.headers)
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from filelock import FileLock

REDMINE_ROOT = Path("/usr/share/redmine")
PACKAGES = ("redmine", "redmine-sqlite", "ruby-webrick")
DEBCONF = """\
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/default-language select en
"""
LOCK_DIR = Path(tempfile.gettempdir())
DB_NAME = "redmine.sqlite3"
KEY_NAME = "admin_key.txt"
DATASET_NAME = "dataset.json"
RUNNER = """\
Setting.rest_api_enabled = '1'
admin = User.find_by_login('admin')
puts "ADMIN_KEY=#{admin.api_key}"
"""
_installed = False
_running: set[RedmineServer] = set()  # killed at exit if a test forgot to stop them


class RedmineError(RuntimeError):
    """Redmine could not be installed, prepared or started."""


def _run(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    what: str = "",
) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RedmineError(f"{what or command[0]} failed with exit code {result.returncode}:\n{tail}")
    return result.stdout


def _ready() -> bool:
    lock = Path("/var/lib/redmine/Gemfile.lock")
    local = REDMINE_ROOT / "Gemfile.local"
    return (
        (REDMINE_ROOT / "config" / "environment.rb").exists()
        and Path("/etc/redmine/default/database.yml").exists()
        and Path("/etc/redmine/default/secret_key.txt").exists()
        and local.exists()
        and "webrick" in local.read_text()
        and lock.exists()
        and "webrick" in lock.read_text()
    )


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
    _run(["debconf-set-selections"], stdin=DEBCONF, what="debconf-set-selections")
    command = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=600",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        *PACKAGES,
    ]
    try:
        _run(command, env=env, what="apt-get install " + " ".join(PACKAGES))
    except RedmineError:  # no or stale package lists: refresh them once
        _run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=600"], env=env, what="apt-get update")
        _run(command, env=env, what="apt-get install " + " ".join(PACKAGES))


def ensure_installed() -> None:
    """Install Debian's redmine (sqlite) and webrick once per machine; a no-op when done. Needs root."""
    global _installed
    if _installed or _ready():
        _installed = True
        return
    if os.geteuid() != 0:
        raise RedmineError("installing Debian's redmine needs root (no sudo is used)")
    with FileLock(str(LOCK_DIR / "redmine-install.lock"), timeout=1800):
        if not _ready():
            if (
                not (REDMINE_ROOT / "config" / "environment.rb").exists()
                or not Path("/etc/redmine/default/database.yml").exists()
            ):
                _apt_install()
            local = REDMINE_ROOT / "Gemfile.local"
            text = local.read_text() if local.exists() else ""
            if "webrick" not in text:  # Ruby 3 has no webrick of its own; Rails' server needs the gem
                local.write_text(text + ("" if not text or text.endswith("\n") else "\n") + "gem 'webrick'\n")
            _run(["bundle", "install", "--local", "--quiet"], cwd=REDMINE_ROOT, what="bundle install --local")
            if not _ready():
                raise RedmineError("redmine was installed but is not ready (Gemfile.lock has no webrick?)")
    _installed = True


@functools.cache
def redmine_version() -> str:
    """The installed redmine package's version, e.g. ``5.0.4-5+deb12u1``."""
    ensure_installed()
    return _run(["dpkg-query", "-W", "-f", "${Version}", "redmine"], what="dpkg-query").strip()


def _rails_env(database: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BUNDLE_", "GEM_", "RUBY", "RAILS_", "REDMINE_")) and k != "DATABASE_URL"
    }
    env.update(
        RAILS_ENV="production",
        REDMINE_LANG="en",
        LANG="C.UTF-8",
        TZ="UTC",
        DATABASE_URL=f"sqlite3:{quote(str(database.resolve()))}?timeout=10000",
        **extra,
    )
    return env


def _sync_stdout_file() -> Path:
    """A Ruby file for RUBYOPT=-r that unbuffers stdout, at a path with no spaces (RUBYOPT splits on them)."""
    path = LOCK_DIR / "redmine-sync-stdout.rb"
    text = "$stdout.sync = true\n$stderr.sync = true\n"
    if not path.exists() or path.read_text() != text:
        staging = path.with_name(f"{path.name}.{os.getpid()}")
        staging.write_text(text)
        staging.replace(path)
    return path


@dataclass(frozen=True)
class Template:
    """A prepared database file and the admin's API key in it; ``dataset`` is set for a seeded template."""

    path: Path
    admin_key: str
    dataset: Dataset | None = None


def _cached(directory: Path, build: Callable[[Path], None]) -> Path:
    """Build ``directory`` once (under a file lock, atomically by rename) with ``build(tmp_dir)``."""
    if (directory / KEY_NAME).exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock", timeout=1800):
        if not (directory / KEY_NAME).exists():
            staging = Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
            try:
                build(staging)
                shutil.rmtree(directory, ignore_errors=True)
                staging.rename(directory)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return directory


def _default_dir(suffix: str = "") -> Path:
    version = re.sub(r"[^A-Za-z0-9.+_-]", "_", redmine_version())
    return Path(tempfile.gettempdir()) / f"redmine-template-{version}{suffix}"


def _load_template(directory: Path) -> Template:
    dataset = None
    if (directory / DATASET_NAME).exists():
        dataset = Dataset.from_json(json.loads((directory / DATASET_NAME).read_text()))
    return Template(directory / DB_NAME, (directory / KEY_NAME).read_text().strip(), dataset)


def template_db(cache_dir: Path | None = None) -> Template:
    """A migrated database with default data (en), the REST API on and the admin's API key; made once, cached."""
    ensure_installed()

    def build(staging: Path) -> None:
        database = staging / DB_NAME
        env = _rails_env(database, SCHEMA="/dev/null")
        # two processes: a rake that migrates keeps stale column info, and loading the default data then fails
        _run(["bundle", "exec", "rake", "db:migrate"], cwd=REDMINE_ROOT, env=env, what="rake db:migrate")
        out = _run(
            ["bundle", "exec", "rake", "redmine:load_default_data"],
            cwd=REDMINE_ROOT,
            env=env,
            what="rake redmine:load_default_data",
        )
        if "Default configuration data loaded" not in out:
            raise RedmineError(f"redmine:load_default_data did not load the default data:\n{out[-2000:]}")
        out = _run(["bin/rails", "runner", RUNNER], cwd=REDMINE_ROOT, env=env, what="rails runner")
        key = re.search(r"ADMIN_KEY=(\w+)", out)
        if not key:
            raise RedmineError(f"no admin API key from rails runner:\n{out[-2000:]}")
        (staging / KEY_NAME).write_text(key.group(1) + "\n")

    return _load_template(_cached(cache_dir or _default_dir(), build))


class RedmineServer:
    """One Redmine (webrick) on 127.0.0.1 with its own database; a context manager that stops it on exit."""

    def __init__(self, workdir: Path, template: Template, port: int = 0, timeout: float = 120.0) -> None:
        self.workdir = workdir
        self.database = workdir / DB_NAME
        self.log_path = workdir / "redmine.log"
        self.admin_key = template.admin_key
        self.dataset = template.dataset
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self._timeout = timeout
        self._template = template
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy for 127.0.0.1
        self.session.headers.update(self.headers)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The admin's API key header."""
        return {"X-Redmine-API-Key": self.admin_key}

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RedmineError("the server is not running")
        return self.process.pid

    def start(self, *, fresh: bool = True) -> RedmineServer:
        """Start on a fresh copy of the template, or (``fresh=False``) on the database as it was left."""
        if self.running:
            raise RedmineError("the server is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if fresh or not self.database.exists():
            shutil.copyfile(self._template.path, self.database)
        sync = _sync_stdout_file()  # the Rails log reaches the file at once
        env = _rails_env(self.database, RAILS_LOG_TO_STDOUT="1", RUBYOPT=f"-r{sync}")
        command = [
            "bin/rails",
            "server",
            "-u",
            "webrick",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-e",
            "production",
            "-P",
            str(self.workdir / "server.pid"),
        ]
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REDMINE_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.add(self)
        try:
            self._wait_until_up(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_until_up(self, started: float) -> None:
        assert self.process is not None
        while True:
            if time.monotonic() - started > self._timeout:
                raise RedmineError(f"Redmine did not answer within {self._timeout:g} s; log:\n{self.log_tail()}")
            if self.process.poll() is not None:
                raise RedmineError(f"Redmine exited with code {self.process.returncode}; log:\n{self.log_tail()}")
            if self.port == 0:
                found = re.search(rb"HTTPServer#start: pid=\d+ port=(\d+)", self.log_path.read_bytes())
                if found:
                    self.port = int(found.group(1))
            if self.port:
                try:
                    response = self.session.get(f"{self.base_url}/users/current.json", timeout=5)
                except requests.RequestException:
                    response = None
                if response is not None and response.status_code == 200:
                    return
                if response is not None:  # webrick listens only once the app is loaded: no point in waiting
                    raise RedmineError(
                        f"/users/current.json with the admin key answered {response.status_code}: "
                        f"{response.text[:300]}; log:\n{self.log_tail()}"
                    )
            time.sleep(0.1)

    def restart(self) -> RedmineServer:
        """Start again (after ``stop`` or ``kill``) on the same database and the same port."""
        self.stop()
        return self.start(fresh=False)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after ``timeout`` s)."""
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(10)
        self._killpg_leftovers()

    def kill(self) -> None:
        """SIGKILL the server's process group at once (a crash mid-run)."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait(10)
        self._killpg_leftovers()

    def _killpg_leftovers(self) -> None:
        assert self.process is not None
        _running.discard(self)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def api(
        self,
        method: str,
        path: str,
        *,
        as_user: str | None = None,
        expect: int | tuple[int, ...] = (200, 201, 204),
        **kwargs: Any,
    ) -> Any:
        """One REST call as the admin (or as ``as_user`` through X-Redmine-Switch-User); the JSON body or None."""
        headers = dict(kwargs.pop("headers", {}))
        if as_user:
            headers["X-Redmine-Switch-User"] = as_user
        response = self.session.request(method, f"{self.base_url}{path}", headers=headers, timeout=60, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise RedmineError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json() if response.content.strip() else None

    def __enter__(self) -> RedmineServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.session.close()


@atexit.register
def _kill_forgotten() -> None:
    for server in list(_running):
        server.kill()


def start_redmine(
    workdir: Path, port: int = 0, *, template: Template | None = None, timeout: float = 120.0
) -> RedmineServer:
    """Start a Redmine on 127.0.0.1 (``port`` 0: a free one) with a copy of ``template`` (default: an empty one)."""
    return RedmineServer(workdir, template or template_db(), port, timeout).start()


# --- seeding through the REST API ---------------------------------------------------------------------------------


@dataclass
class SeedUser:
    id: int
    login: str
    firstname: str
    lastname: str
    mail: str
    password: str


@dataclass
class Dataset:
    """What ``seed`` made: ids to check an extract against."""

    project_id: int
    project_identifier: str
    users: list[SeedUser]
    issue_ids: list[int]
    closed_issue_ids: list[int]
    note_journal_count: int
    status_change_count: int
    time_entry_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        return cls(**{**data, "users": [SeedUser(**user) for user in data["users"]]})


def lookup_ids(server: RedmineServer) -> dict[str, dict[str, int]]:
    """Names to ids of the default data: statuses, trackers, priorities, activities, roles."""
    return {
        "statuses": {s["name"]: s["id"] for s in server.api("GET", "/issue_statuses.json")["issue_statuses"]},
        "trackers": {t["name"]: t["id"] for t in server.api("GET", "/trackers.json")["trackers"]},
        "priorities": {
            p["name"]: p["id"] for p in server.api("GET", "/enumerations/issue_priorities.json")["issue_priorities"]
        },
        "activities": {
            a["name"]: a["id"]
            for a in server.api("GET", "/enumerations/time_entry_activities.json")["time_entry_activities"]
        },
        "roles": {r["name"]: r["id"] for r in server.api("GET", "/roles.json")["roles"]},
    }


def create_project(
    server: RedmineServer, identifier: str, name: str, *, is_public: bool = True, tracker_ids: list[int] | None = None
) -> dict[str, Any]:
    """A project with the issue tracking and time tracking modules."""
    project: dict[str, Any] = {
        "identifier": identifier,
        "name": name,
        "is_public": is_public,
        "enabled_module_names": ["issue_tracking", "time_tracking"],
    }
    if tracker_ids:
        project["tracker_ids"] = tracker_ids
    return server.api("POST", "/projects.json", json={"project": project})["project"]


def create_user(
    server: RedmineServer, login: str, firstname: str, lastname: str, mail: str, password: str, *, admin: bool = False
) -> dict[str, Any]:
    """An active user."""
    user = {
        "login": login,
        "firstname": firstname,
        "lastname": lastname,
        "mail": mail,
        "password": password,
        "admin": admin,
        "mail_notification": "none",
    }
    return server.api("POST", "/users.json", json={"user": user})["user"]


def add_member(server: RedmineServer, project_id: int | str, user_id: int, role_ids: list[int]) -> dict[str, Any]:
    """Make a user a member of a project with the given roles."""
    membership = {"user_id": user_id, "role_ids": role_ids}
    return server.api("POST", f"/projects/{project_id}/memberships.json", json={"membership": membership})["membership"]


def create_issue(
    server: RedmineServer, project_id: int | str, subject: str, *, author: str | None = None, **fields: Any
) -> dict[str, Any]:
    """An issue; ``author`` (a login) creates it through X-Redmine-Switch-User; fields such as assigned_to_id,
    status_id, priority_id, tracker_id, description go as they are."""
    issue = {"project_id": project_id, "subject": subject, **fields}
    return server.api("POST", "/issues.json", as_user=author, json={"issue": issue})["issue"]


def update_issue(server: RedmineServer, issue_id: int, *, as_user: str | None = None, **fields: Any) -> None:
    """PUT an issue's fields (``notes``, ``private_notes``, ``status_id``, ``subject``...): one journal per call."""
    server.api("PUT", f"/issues/{issue_id}.json", as_user=as_user, json={"issue": fields})


def add_note(
    server: RedmineServer, issue_id: int, notes: str, *, as_user: str | None = None, private: bool = False
) -> None:
    """A journal note on an issue."""
    update_issue(server, issue_id, as_user=as_user, notes=notes, private_notes=private)


def change_status(server: RedmineServer, issue_id: int, status_id: int, *, as_user: str | None = None) -> None:
    """A status change with no notes (a journal with empty notes and one detail)."""
    update_issue(server, issue_id, as_user=as_user, status_id=status_id)


def delete_issue(server: RedmineServer, issue_id: int) -> None:
    """Delete an issue (its journals and time entries go with it: ``todo=destroy``)."""
    server.api("DELETE", f"/issues/{issue_id}.json", params={"todo": "destroy"})


def create_time_entry(
    server: RedmineServer,
    *,
    issue_id: int,
    user_id: int,
    hours: float,
    spent_on: date,
    activity_id: int,
    comments: str = "",
) -> dict[str, Any]:
    """A time entry logged by the admin for ``user_id``."""
    entry = {
        "issue_id": issue_id,
        "user_id": user_id,
        "hours": hours,
        "spent_on": spent_on.isoformat(),
        "activity_id": activity_id,
        "comments": comments,
    }
    return server.api("POST", "/time_entries.json", json={"time_entry": entry})["time_entry"]


FIRST_NAMES = ("Ada", "Brian", "Chiara", "Dmitri", "Eun-ji", "Farah", "Gustav", "Hana", "Ivo", "Jonas")
LAST_NAMES = ("Lovelace", "Kernighan", "Rossi", "Ivanov", "Kim", "Haddad", "Larsen", "Novak", "Petrov", "Weber")
WORDS = (
    "export",
    "login",
    "report",
    "invoice",
    "search",
    "upload",
    "timeout",
    "layout",
    "import",
    "sync",
    "cache",
    "filter",
    "email",
    "backup",
    "permissions",
    "dashboard",
)
SPENT_FROM = date(2025, 1, 6)


def seed(
    server: RedmineServer,
    *,
    issues: int = 120,
    notes: int = 250,
    time_entries: int = 150,
    users: int = 4,
    status_changes: int = 40,
    random_seed: int = 20250106,
) -> Dataset:
    """A deterministic dataset through the REST API: one public project, ``users`` members, ``issues`` issues by
    those users, ``notes`` journal notes (every 25th private), ``status_changes`` status-only journals (about two
    thirds to a closed status) and ``time_entries`` time entries. For a server on an empty template: the project is
    ``seeded`` and the logins are ``user1``..``userN``. Ids and field values are the same every time; timestamps are
    the real time of seeding."""
    rng = random.Random(random_seed)
    ids = lookup_ids(server)
    statuses, closed_names = ids["statuses"], ("Closed", "Rejected")
    open_names = [name for name in statuses if name not in closed_names and name != "New"]
    project = create_project(server, "seeded", "Seeded project", tracker_ids=sorted(ids["trackers"].values()))
    people: list[SeedUser] = []
    for n in range(users):
        first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n * 3) % len(LAST_NAMES)]
        login = f"user{n + 1}"
        user = create_user(server, login, first, last, f"{login}@example.org", f"Secret-{login}-2025")
        people.append(SeedUser(user["id"], login, first, last, f"{login}@example.org", f"Secret-{login}-2025"))
        add_member(server, project["id"], user["id"], [ids["roles"]["Manager"]])
    issue_ids: list[int] = []
    priorities, trackers = sorted(ids["priorities"].values()), sorted(ids["trackers"].values())
    for n in range(issues):
        author, assignee = rng.choice(people), rng.choice([*people, None])
        fields: dict[str, Any] = {
            "tracker_id": rng.choice(trackers),
            "priority_id": rng.choice(priorities),
            "description": f"Steps to reproduce {n + 1}.",
            "start_date": (SPENT_FROM + timedelta(rng.randint(0, 300))).isoformat(),
        }
        if assignee:
            fields["assigned_to_id"] = assignee.id
        subject = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} #{n + 1}"
        issue_ids.append(create_issue(server, project["id"], subject, author=author.login, **fields)["id"])
    for n in range(notes):
        add_note(
            server,
            rng.choice(issue_ids),
            f"Note {n + 1}: checked the {rng.choice(WORDS)}.",
            as_user=rng.choice(people).login,
            private=(n + 1) % 25 == 0,
        )
    closed: list[int] = []
    for issue_id in rng.sample(issue_ids, min(status_changes, len(issue_ids))):
        name = rng.choice(closed_names) if rng.random() < 2 / 3 else rng.choice(open_names)
        change_status(server, issue_id, statuses[name], as_user=rng.choice(people).login)
        if name in closed_names:
            closed.append(issue_id)
    entries: list[int] = []
    activities = sorted(ids["activities"].values())
    for n in range(time_entries):
        entry = create_time_entry(
            server,
            issue_id=rng.choice(issue_ids),
            user_id=rng.choice(people).id,
            hours=rng.randint(1, 32) / 4,
            spent_on=SPENT_FROM + timedelta(rng.randint(0, 300)),
            activity_id=rng.choice(activities),
            comments=f"Work {n + 1}",
        )
        entries.append(entry["id"])
    return Dataset(
        project["id"],
        project["identifier"],
        people,
        issue_ids,
        sorted(closed),
        notes,
        min(status_changes, len(issue_ids)),
        entries,
        {"users": users, "issues": issues, "notes": notes, "time_entries": time_entries},
    )


def seeded_template(cache_dir: Path | None = None, **sizes: int) -> Template:
    """A template already seeded by ``seed(**sizes)`` through the REST API once (cached): copies start seeded."""
    base = template_db()
    source = Path(__file__).read_bytes()  # a change to this module (and so to ``seed``) makes a new template
    digest = hashlib.sha1(json.dumps(sorted(sizes.items())).encode() + source).hexdigest()[:10]

    def build(staging: Path) -> None:
        with start_redmine(staging / "server", template=base) as server:
            dataset = seed(server, **sizes)
        shutil.copyfile(staging / "server" / DB_NAME, staging / DB_NAME)
        shutil.rmtree(staging / "server")
        (staging / DATASET_NAME).write_text(json.dumps(asdict(dataset)))
        (staging / KEY_NAME).write_text(base.admin_key + "\n")

    return _load_template(_cached(cache_dir or _default_dir(f"-seeded-{digest}"), build))
