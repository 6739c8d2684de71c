"""The access definition: roles, departments, sensitive column classes and row slices, typed and checked.

A ClickHouse user is rendered for every data source Grafana needs: one per department and
department-scoped role (``pulse_ads_analyst``), one per global role (``pulse_admin``, ``pulse_api``).
What a user reads is deny-by-default: the objects its department (or global role) lists, minus the
columns of every sensitive class that neither its role nor its department ``reads``, limited to the
department's ``slice`` of rows when it has one.

A metric of ``metrics/*.yaml`` names the department that may read it: :func:`load` adds its named
query and rollup tables to that department (and its query to every global role that reads every
table), so the analyst's one line is the grant, and nothing is granted twice by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from pulse.errors import PulseError

#: Where the definition lives, relative to the repository (or ``--root``).
DEFINITION = Path("provisioning/access/access.yaml")

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: ``column`` or ``table.column``; shell-style wildcards (``*spend*``) match names the schema adds later.
ColumnPattern = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_*?\[\]]+(\.[A-Za-z0-9_*?\[\]]+)?$")]
SliceValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Profile(_Strict):
    """The settings profile of every rendered user: read-only, but a data source may tune its timeout."""

    name: Identifier = "pulse_readonly"
    max_execution_time: int = Field(default=30, ge=1, description="seconds a query may run by default")
    max_execution_time_limit: int = Field(default=300, ge=1, description="the most a data source may set")
    # Issue 16: a thousand viewers must not starve ingest. Per replica; fixed (CONST / MAX / MIN) for the user.
    max_concurrent_queries_for_user: int = Field(
        default=16, ge=0, description="queries one data source user runs at once on a server (0: unlimited)"
    )
    max_threads: int = Field(default=2, ge=1, description="threads one dashboard query may use (at most)")
    priority: int = Field(
        default=2,
        ge=0,
        description="query priority (1 highest, 0 unused): dashboards pause while a query of a smaller number runs",
    )

    @model_validator(mode="after")
    def _limit_covers_default(self) -> Profile:
        if self.max_execution_time > self.max_execution_time_limit:
            raise ValueError("profile.max_execution_time: larger than profile.max_execution_time_limit")
        return self


class SensitiveClass(_Strict):
    description: str
    columns: list[ColumnPattern] = Field(min_length=1)


class Slice(_Strict):
    """The rows a department sees: ``column IN values`` (or, in the one-dimension slice tables, the
    rows ``dimension = column AND value IN values``)."""

    column: Identifier
    values: list[SliceValue] = Field(min_length=1)


class Role(_Strict):
    description: str
    grafana_role: Literal["Admin", "Editor", "Viewer"] | None = Field(
        default=None, description="the Grafana basic role the IdP group maps to (none: a service account)"
    )
    scope: Literal["department", "global"] = Field(
        default="department", description="a user per department, or one user for the whole warehouse"
    )
    reads: list[Identifier] = Field(default_factory=list, description="sensitive classes it reads")
    tables: list[Identifier] | Literal["*"] | None = Field(default=None, description="global roles: what it reads")
    queries: list[Identifier] = Field(default_factory=list, description="global roles: named queries it runs")
    archive: list[Identifier] = Field(
        default_factory=list,
        description="named queries over the S3 archive it runs; any grants it the archive (every column and row)",
    )


class Department(_Strict):
    description: str
    roles: list[Identifier] = Field(min_length=1, description="department-scoped roles with a data source here")
    reads: list[Identifier] = Field(default_factory=list, description="sensitive classes the department reads")
    tables: list[Identifier] = Field(min_length=1)
    slice: Slice | None = None
    queries: list[Identifier] = Field(default_factory=list, description="named queries of its dashboards")
    role_queries: dict[Identifier, list[Identifier]] = Field(
        default_factory=dict, description="more named queries for one role only (e.g. those reading personal data)"
    )


GroupName = Annotated[str, StringConstraints(pattern=r"^[^\s,:\\\[\]]+$")]


class GrafanaOrg(_Strict):
    """One Grafana organization: the IdP group that logs into it and the data source user it queries as.

    Grafana OSS lets every member of an organization query every data source of it, so an organization
    holds exactly one ClickHouse data source: the organization *is* the boundary (docs/access.md).
    """

    id: int = Field(ge=1, description="Grafana's organization id; provisioning files name it, so it never changes")
    user: Identifier = Field(description="the data source user (a rendered ClickHouse user) of this organization")
    group: GroupName = Field(description="the IdP group mapped to this organization (org_mapping)")


class GrafanaSide(_Strict):
    organizations: list[GrafanaOrg] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Grantee:
    """One rendered ClickHouse user: a Grafana data source's identity in the warehouse."""

    user: str
    role: str
    department: str | None
    tables: tuple[str, ...] | Literal["*"]
    reads: frozenset[str]
    slice: Slice | None
    queries: tuple[str, ...]
    archive: tuple[str, ...] = ()  # named queries over the S3 archive: the archive's grants when any

    @property
    def runnable(self) -> frozenset[str]:
        """Every named query this user may run: over the warehouse's tables and over the archive."""
        return frozenset(self.queries) | frozenset(self.archive)

    @property
    def title(self) -> str:
        return f"{self.department} / {self.role}" if self.department else f"{self.role} (all departments)"


class AccessDefinition(_Strict):
    database: Identifier
    profile: Profile = Profile()
    sensitive: dict[Identifier, SensitiveClass]
    roles: dict[Identifier, Role] = Field(min_length=1)
    departments: dict[Identifier, Department]
    grafana: GrafanaSide | None = Field(default=None, description="one Grafana organization per data source user")

    @model_validator(mode="after")
    def _references(self) -> AccessDefinition:
        problems: list[str] = []

        def classes(where: str, names: list[str]) -> None:
            problems.extend(
                f"{where}: unknown sensitive class {name!r} (known: {', '.join(sorted(self.sensitive)) or 'none'})"
                for name in names
                if name not in self.sensitive
            )

        for name, role in self.roles.items():
            classes(f"roles.{name}.reads", role.reads)
            if role.scope == "global" and role.tables is None:
                problems.append(f"roles.{name}.tables: a global role lists the tables it reads (or '*')")
            if role.scope == "department" and (role.tables is not None or role.queries):
                problems.append(f"roles.{name}: a department role reads its department's tables and queries")
            reads_everything = role.scope == "global" and role.tables == "*" and set(role.reads) == set(self.sensitive)
            if role.archive and not reads_everything:
                problems.append(
                    f"roles.{name}.archive: the archive holds every column and row of every department, unsliced: "
                    "only a global role with tables '*' that reads every sensitive class may read it"
                )
        for name, department in self.departments.items():
            classes(f"departments.{name}.reads", department.reads)
            for index, role_name in enumerate(department.roles):
                if role_name not in self.roles:
                    problems.append(f"departments.{name}.roles[{index}]: unknown role {role_name!r}")
                elif self.roles[role_name].scope != "department":
                    problems.append(f"departments.{name}.roles[{index}]: {role_name} is a global role")
            problems.extend(
                f"departments.{name}.role_queries.{role_name}: {role_name} is not one of the department's roles"
                for role_name in department.role_queries
                if role_name not in department.roles
            )
        if problems:
            raise ValueError("; ".join(problems))
        if self.grafana is not None:
            self._check_organizations(self.grafana)
        return self

    def _check_organizations(self, grafana: GrafanaSide) -> None:
        """Every Grafana-facing user has exactly one organization; ids and groups are not shared."""
        problems: list[str] = []
        grantees = {g.user: g for g in self.grantees()}
        for field in ("id", "user", "group"):
            values = [getattr(org, field) for org in grafana.organizations]
            problems.extend(
                f"grafana.organizations[{index}].{field}: {value} is used by another organization"
                for index, value in enumerate(values)
                if value in values[:index]
            )
        for index, org in enumerate(grafana.organizations):
            where = f"grafana.organizations[{index}].user"
            grantee = grantees.get(org.user)
            if grantee is None:
                problems.append(f"{where}: {org.user!r} is not a rendered user ({', '.join(grantees)})")
            elif self.roles[grantee.role].grafana_role is None:
                problems.append(f"{where}: {org.user} is a service user ({grantee.role} has no grafana_role)")
        mapped = {org.user for org in grafana.organizations}
        problems.extend(
            f"grafana.organizations: no organization for {user} ({g.title}), whose role logs into Grafana"
            for user, g in grantees.items()
            if self.roles[g.role].grafana_role is not None and user not in mapped
        )
        if problems:
            raise ValueError("; ".join(problems))

    def grantees(self) -> list[Grantee]:
        """Every rendered user, departments first (in definition order), then the global roles."""
        found: list[Grantee] = []
        for department_name, department in self.departments.items():
            for role_name in department.roles:
                role = self.roles[role_name]
                found.append(
                    Grantee(
                        user=f"pulse_{department_name}_{role_name}".lower(),
                        role=role_name,
                        department=department_name,
                        tables=tuple(department.tables),
                        reads=frozenset(role.reads) | frozenset(department.reads),
                        slice=department.slice,
                        queries=tuple(department.queries + department.role_queries.get(role_name, [])),
                    )
                )
        for role_name, role in self.roles.items():
            if role.scope == "global":
                assert role.tables is not None  # checked by _references
                found.append(
                    Grantee(
                        user=f"pulse_{role_name}".lower(),
                        role=role_name,
                        department=None,
                        tables=role.tables if role.tables == "*" else tuple(role.tables),
                        reads=frozenset(role.reads),
                        slice=None,
                        queries=tuple(role.queries),
                        archive=tuple(role.archive),
                    )
                )
        users = [g.user for g in found]
        duplicated = sorted({u for u in users if users.count(u) > 1})
        if duplicated:
            raise PulseError(f"two data sources would share the ClickHouse user {', '.join(duplicated)}")
        return found

    def with_metrics(self, grants: list[tuple[str, str, tuple[str, ...]]]) -> AccessDefinition:
        """A copy where each ``(department, query, tables)`` of a generated metric is granted."""
        departments = {name: d.model_copy(deep=True) for name, d in self.departments.items()}
        roles = {name: r.model_copy(deep=True) for name, r in self.roles.items()}
        unknown = sorted({d for d, _, _ in grants if d not in departments})
        if unknown:
            raise PulseError(f"metrics name departments the access definition lacks: {', '.join(unknown)}")
        for department, query, tables in grants:
            target = departments[department]
            target.tables.extend(t for t in tables if t not in target.tables)
            if query not in target.queries:
                target.queries.append(query)
            for role in roles.values():
                if role.scope == "global" and role.tables == "*" and query not in role.queries:
                    role.queries.append(query)
        return self.model_copy(update={"departments": departments, "roles": roles})

    def classes_of(self, table: str, column: str) -> frozenset[str]:
        """The sensitive classes a column belongs to (a pattern with a dot names the table too)."""
        return frozenset(
            name
            for name, sensitive in self.sensitive.items()
            for pattern in sensitive.columns
            if fnmatchcase(f"{table}.{column}" if "." in pattern else column, pattern)
        )


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse(data: object, source: str = "access definition") -> AccessDefinition:
    """Validate a loaded definition; every problem is reported with the field it is about."""
    try:
        return AccessDefinition.model_validate(data)
    except ValidationError as error:
        lines: list[str] = []
        for problem in error.errors():
            message = re.sub(r"^Value error, ", "", problem["msg"])
            where = _location(problem["loc"])
            lines.extend(f"{where}: {message}" if where else part for part in message.split("; "))
        raise PulseError(f"{source} is invalid:\n  " + "\n  ".join(lines)) from None


def load(path: Path) -> AccessDefinition:
    """Read and validate the YAML definition at ``path``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PulseError(f"cannot read the access definition {path}: {error}") from error
    except yaml.YAMLError as error:
        raise PulseError(f"{path} is not valid YAML: {error}") from error
    from pulse.metrics.load import active, load_folder  # the metrics import nothing of access

    grants = [(m.department, m.name, m.tables) for m in active(load_folder())]
    return parse(data, str(path)).with_metrics(grants)
