"""Deterministic service-desk data (users, tickets, comments, timesheets) and the changes made to it over time."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

FIXED_CLOCK = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
LIFECYCLE = {"new": "open", "open": "pending", "pending": "resolved", "resolved": "closed", "closed": "open"}
TEAMS = ("Service Desk", "Infrastructure", "Applications")
PRIORITIES = ("low", "normal", "normal", "high", "urgent")
_FIRST = ("Ada", "Ben", "Cleo", "Dev", "Esme", "Finn", "Gita", "Hugo", "Iris", "Jon", "Kai", "Lena", "Moe")
_LAST = ("Archer", "Baker", "Carter", "Dixon", "Evans", "Foster", "Grant", "Hughes", "Irwin", "Jones")
_SUBJECTS = (
    "Cannot log in",
    "VPN drops",
    "Printer offline",
    "New starter account",
    "Password reset",
    "Laptop slow",
    "Email bounced",
    "Access request",
    "Software install",
    "Screen flickers",
)


def ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str) -> dt.datetime:
    """``2025-05-01T09:00:00Z`` or ``...+00:00`` (a ``+`` that arrived unencoded reads as a space)."""
    text = text.strip().replace(" ", "+")
    value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def timesheet_key(row: dict) -> tuple:
    return (row["user_id"], row["work_date"], row["time_from"], row["ticket_id"])


@dataclass
class Store:
    """The API's records, in memory. Timestamps are kept as datetimes and served as ISO 8601 UTC strings."""

    seed: int = 7
    clock: dt.datetime = FIXED_CLOCK
    users: dict[int, dict] = field(default_factory=dict)
    tickets: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, dict] = field(default_factory=dict)
    timesheets: list[dict] = field(default_factory=list)  # exact duplicates are separate entries

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._timesheet_starts: set[tuple[int, int, dt.date, dt.datetime]] = set()
        self._generate()

    # -- initial data ------------------------------------------------------------------------------------------
    def _between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        seconds = max(int((end - start).total_seconds()), 1)
        return (start + dt.timedelta(seconds=self.rng.randrange(seconds))).replace(microsecond=0)

    def _generate(self) -> None:
        rng, clock = self.rng, self.clock
        for user_id in range(1, 26):
            agent = user_id <= 8
            created = self._between(clock - dt.timedelta(days=90), clock - dt.timedelta(days=60))
            name = f"{_FIRST[user_id % len(_FIRST)]} {_LAST[user_id % len(_LAST)]}"
            self.users[user_id] = {
                "id": user_id,
                "email": f"{name.lower().replace(' ', '.')}{user_id}@example.org",
                "name": name,
                "role": "agent" if agent else "customer",
                "team": TEAMS[user_id % len(TEAMS)] if agent else None,
                "is_active": user_id != 20,
                "created_at": created,
                "updated_at": self._between(created, clock - dt.timedelta(days=1)),
            }
        agents = [u for u in self.users if u <= 8]
        customers = [u for u in self.users if u > 8]
        for ticket_id in range(1, 121):
            created = self._between(clock - dt.timedelta(days=60), clock - dt.timedelta(hours=2))
            status = rng.choice(("new", "open", "open", "pending", "resolved", "resolved", "closed", "closed"))
            ticket: dict[str, Any] = {
                "id": ticket_id,
                "subject": f"{rng.choice(_SUBJECTS)} #{ticket_id}",
                "status": status,
                "priority": rng.choice(PRIORITIES),
                "requester_id": rng.choice(customers),
                "assignee_id": None if status == "new" else rng.choice(agents),
                "created_at": created,
                "updated_at": created,
                "resolved_at": None,
            }
            if status in ("resolved", "closed"):
                ticket["resolved_at"] = min(created + dt.timedelta(minutes=rng.randint(30, 9000)), clock)
            self.tickets[ticket_id] = ticket
            if status != "new":
                self._initial_comments(ticket)
                self._initial_timesheets(ticket)
            latest = [ticket["resolved_at"] or created] + [
                c["updated_at"] for c in self.comments.values() if c["ticket_id"] == ticket_id
            ]
            ticket["updated_at"] = min(max(latest) + dt.timedelta(minutes=rng.randint(0, 30)), clock)

    def _initial_comments(self, ticket: dict) -> None:
        rng, created = self.rng, ticket["created_at"]
        moments = sorted(
            min(created + dt.timedelta(minutes=rng.randint(5, 2400)), self.clock) for _ in range(1 + rng.randint(0, 3))
        )
        for index, moment in enumerate(moments):
            author = ticket["assignee_id"] if index == 0 or rng.random() < 0.5 else ticket["requester_id"]
            comment_id = len(self.comments) + 1
            self.comments[comment_id] = {
                "id": comment_id,
                "ticket_id": ticket["id"],
                "author_id": author,
                "body": f"Update {index + 1} on ticket {ticket['id']}",
                "is_public": index == 0 or rng.random() < 0.8,
                "created_at": moment,
                "updated_at": moment,
            }

    def _initial_timesheets(self, ticket: dict) -> None:
        rng = self.rng
        for _ in range(rng.choice((0, 1, 2, 2, 3))):
            day = min(ticket["created_at"] + dt.timedelta(days=rng.randint(0, 3)), self.clock).date()
            row = self._timesheet_row(ticket["assignee_id"], ticket["id"], day)
            self.timesheets.append(row)
            if rng.random() < 0.07:  # the source system emits some rows twice, identically
                self.timesheets.append(dict(row))

    def _timesheet_row(self, user_id: int, ticket_id: int, day: dt.date, stamp: dt.datetime | None = None) -> dict:
        start = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC) + dt.timedelta(minutes=15 * self.rng.randint(0, 32))
        minutes = 15 * self.rng.randint(1, 12)
        # the natural key (user, day, start, ticket) names one entry: a second entry on a ticket and day starts
        # later, never at the same minute (moved, not drawn again, so the rest of the data stays as it was)
        while (user_id, ticket_id, day, start) in self._timesheet_starts:
            start += dt.timedelta(minutes=15)
        self._timesheet_starts.add((user_id, ticket_id, day, start))
        end = start + dt.timedelta(minutes=minutes)
        return {
            "user_id": user_id,
            "ticket_id": ticket_id,
            "work_date": day.isoformat(),
            "time_from": start.strftime("%H:%M"),
            "time_to": end.strftime("%H:%M"),
            "minutes": minutes,
            "note": f"Work on ticket {ticket_id}",
            "updated_at": stamp or min(end, self.clock),
        }

    # -- serving -----------------------------------------------------------------------------------------------
    def records(self, resource: str) -> list[dict]:
        """A resource's records sorted by (updated_at, key), as the API lists them."""
        if resource == "timesheets":
            return sorted(self.timesheets, key=lambda r: (r["updated_at"], timesheet_key(r)))
        return sorted(getattr(self, resource).values(), key=lambda r: (r["updated_at"], r["id"]))

    # -- changes over time -------------------------------------------------------------------------------------
    def mutate(
        self,
        tickets: int = 0,
        users: int = 0,
        comments: int = 0,
        timesheets: int = 0,
        same_timestamp: bool = False,
        deleted_tickets: int = 0,
    ) -> dict:
        """Change records as a live system would. Each change gets the advanced clock as updated_at or, with
        ``same_timestamp``, the resource's current latest updated_at (the cursor boundary case).
        ``deleted_tickets``: tickets removed outright, as a live system deletes them (gone from every list)."""
        if not same_timestamp:
            self.clock += dt.timedelta(hours=1)

        def stamp(resource: str) -> dt.datetime:
            if not same_timestamp:
                return self.clock
            rows = self.records(resource)
            return rows[-1]["updated_at"] if rows else self.clock

        changed: dict[str, list] = {"tickets": [], "users": [], "comments": [], "timesheets": [], "deleted_tickets": []}
        for ticket_id in self.rng.sample(sorted(self.tickets), min(tickets, len(self.tickets))):
            ticket, moment = self.tickets[ticket_id], stamp("tickets")
            ticket["status"] = LIFECYCLE[ticket["status"]]
            if ticket["assignee_id"] is None:
                ticket["assignee_id"] = self.rng.randint(1, 8)
            ticket["resolved_at"] = (
                max(moment, ticket["created_at"])
                if ticket["status"] == "resolved"
                else None
                if ticket["status"] == "open"
                else ticket["resolved_at"]
            )
            ticket["updated_at"] = moment
            changed["tickets"].append(ticket_id)
        for user_id in self.rng.sample(sorted(self.users), min(users, len(self.users))):
            user, moment = self.users[user_id], stamp("users")
            if user["role"] == "agent":
                user["team"] = TEAMS[(TEAMS.index(user["team"]) + 1) % len(TEAMS)]
            else:
                user["name"] = f"{user['name']} Jr"
            user["updated_at"] = moment
            changed["users"].append(user_id)
        for _ in range(comments):
            ticket = self.tickets[self.rng.choice(sorted(self.tickets))]
            comment_id, moment = max(self.comments, default=0) + 1, stamp("comments")
            self.comments[comment_id] = {
                "id": comment_id,
                "ticket_id": ticket["id"],
                "author_id": ticket["requester_id"],
                "body": "Any news?",
                "is_public": True,
                "created_at": max(moment, ticket["created_at"]),
                "updated_at": moment,
            }
            changed["comments"].append(comment_id)
        for _ in range(timesheets):
            ticket = self.tickets[self.rng.choice(sorted(self.tickets))]
            row = self._timesheet_row(ticket["assignee_id"] or 1, ticket["id"], self.clock.date(), stamp("timesheets"))
            self.timesheets.append(row)
            changed["timesheets"].append(list(timesheet_key(row)))
        for ticket_id in self.rng.sample(sorted(self.tickets), min(deleted_tickets, len(self.tickets))):
            del self.tickets[ticket_id]
            changed["deleted_tickets"].append(ticket_id)
        return {"clock": ts(self.clock), "changed": changed}
