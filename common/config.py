"""Typed configuration read from `config/`, validated at load time.

Every problem is reported at once with the file and the key path (`layouts.RTL_ACCT.fields[4]
.width: ...`), in the spirit of Splink's settings validation: an operator fixing a YAML file
at night should not have to run the pipeline five times to find five typos.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import ConfigError
from common.paths import config_dir

FieldType = Literal["text", "code", "date", "amount", "int"]
SYSTEMS = ("RTL", "CRD", "LON", "FND")
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    name: str
    type: FieldType
    width: int | None = Field(default=None, gt=0)
    # Text of a delimited file has no width: its longest value, where the CRM's column
    # is bounded (crm_contact.postcode varchar(10)); longer is set aside, not a database error.
    max_length: int | None = Field(default=None, gt=0)
    codes: str | None = None
    required: bool = False
    scale: int = Field(default=2, ge=0, le=8)
    max_scale: bool = False  # up to `scale` decimals instead of exactly `scale`
    as_: str | None = Field(default=None, alias="as")

    @property
    def column(self) -> str:
        """Name of the staged column this field lands in."""
        return self.as_ or self.name

    @model_validator(mode="after")
    def _codes_for_code(self) -> FieldSpec:
        if self.type == "code" and not self.codes:
            raise ValueError("a field of type 'code' needs 'codes'")
        return self


class Layout(_Strict):
    role: Literal["customer", "account", "txn", "rate"]
    format: Literal["fixed", "delimited"]
    encoding: Literal["gb18030", "utf-8"]
    line_end: Literal["crlf", "lf"]
    key: list[str]
    fields: list[FieldSpec]
    control: str | None = None
    kind: str | None = None  # account kind for the whole file (CARD, LOAN, FUND)
    kind_from: str | None = None  # or a code field mapping to it (RTL product)
    export_filter: bool = False

    @property
    def record_width(self) -> int:
        return sum(f.width or 0 for f in self.fields)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @model_validator(mode="after")
    def _consistent(self) -> Layout:
        names = self.field_names
        problems = []
        if len(set(names)) != len(names):
            problems.append("duplicate field names")
        for key in self.key:
            if key not in names:
                problems.append(f"key field {key!r} is not a field")
        if self.control and self.control not in names:
            problems.append(f"control field {self.control!r} is not a field")
        if self.kind_from and self.kind_from not in names:
            problems.append(f"kind_from field {self.kind_from!r} is not a field")
        if self.format == "fixed" and any(f.width is None for f in self.fields):
            problems.append("every field of a fixed-width layout needs a width")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def with_action(self) -> Layout:
        """The layout of the daily change file: one leading action field."""
        action = FieldSpec(
            name="action",
            type="code",
            codes="action",
            required=True,
            width=1 if self.format == "fixed" else None,
        )
        return self.model_copy(update={"fields": [action, *self.fields]})


class LayoutConfig(_Strict):
    code_sets: dict[str, list[str] | dict[str, str]]
    change_files: dict[str, str]
    layouts: dict[str, Layout]

    def code_values(self, name: str) -> dict[str, str]:
        """A code set as {code in the file: canonical value}."""
        codes = self.code_sets[name]
        return dict(codes) if isinstance(codes, dict) else {c: c for c in codes}

    def layout_for(self, system: str, entity: str) -> Layout:
        """The layout of `{system}_{entity}`, deriving change-file layouts from full ones."""
        name = f"{system}_{entity}"
        if name in self.layouts:
            return self.layouts[name]
        if entity in self.change_files:
            return self.layouts[f"{system}_{self.change_files[entity]}"].with_action()
        raise KeyError(f"no layout for {name} in layouts.yaml")

    @model_validator(mode="after")
    def _codes_exist(self) -> LayoutConfig:
        missing = [
            f"layouts.{ln}.fields.{f.name}.codes: unknown code set {f.codes!r}"
            for ln, layout in self.layouts.items()
            for f in layout.fields
            if f.codes and f.codes not in self.code_sets
        ]
        if missing:
            raise ValueError("; ".join(missing))
        return self


class Province(_Strict):
    """A provincial branch and the city branches that fold into it.

    Every city in `cities` is expected each night (core-dumps.md section 1: a branch with
    nothing to send still sends empty files), unless it is in `optional_cities`: a missing
    folder then fails the province, so that a province is never published from part of its
    branches (docs/decisions.md, "Complete provinces").
    """

    name: str = ""
    cities: list[str] = []
    optional_cities: list[str] = []  # cities that may not report separately on a night

    @model_validator(mode="after")
    def _optional_are_cities(self) -> Province:
        strangers = [c for c in self.optional_cities if c not in self.cities]
        if strangers:
            raise ValueError(
                f"optional_cities: {', '.join(map(repr, strangers))} not among the cities "
                f"{self.cities}"
            )
        return self


class ProvinceConfig(_Strict):
    provinces: dict[str, Province]
    source_priority: list[Literal["RTL", "CRD", "LON", "FND"]]
    entities: dict[Literal["initial", "daily"], dict[str, list[str]]]

    def province_of(self, branch: str) -> str | None:
        """The province a branch folds into (itself for a province), None if unknown."""
        if branch in self.provinces:
            return branch
        for code, province in self.provinces.items():
            if branch in province.cities:
                return code
        return None

    def branches_of(self, province: str) -> list[str]:
        """The province's own branch, then its cities in configuration order."""
        return [province, *self.provinces[province].cities]

    def is_optional(self, province: str, branch: str) -> bool:
        """Whether `branch` of `province` may send nothing on a night (never the province's
        own branch: only a city declared in `optional_cities`)."""
        return branch in self.provinces[province].optional_cities

    @model_validator(mode="after")
    def _cities_unique(self) -> ProvinceConfig:
        seen: dict[str, str] = {}
        problems = []
        for code, province in self.provinces.items():
            for city in province.cities:
                if city in self.provinces or city in seen:
                    problems.append(f"provinces.{code}.cities: {city!r} is already a branch")
                seen[city] = code
        if sorted(self.source_priority) != sorted(SYSTEMS):
            problems.append(f"source_priority: must list each of {', '.join(SYSTEMS)} once")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SftpSettings(_Strict):
    connection: str = "crm_core_sftp"
    remote_root: str = "/outbound"
    known_hosts: str = "~/.ssh/known_hosts"
    max_parallel: int = Field(default=4, ge=1, le=32)
    flag_deadline_minutes: int = Field(default=240, ge=0)


class SourceSettings(_Strict):
    kind: Literal["local", "sftp"] = "local"
    sftp: SftpSettings = SftpSettings()


class ExportSftpSettings(_Strict):
    """The CRM data server that exports are pushed to (credentials: by connection id)."""

    connection: str = "crm_data_sftp"
    remote_root: str = "/inbound"
    known_hosts: str = "~/.ssh/known_hosts"
    verify_checksum: bool = True
    attempts: int = Field(default=3, ge=1, le=10)


class ExportSettings(_Strict):
    dir: str = "var/export"
    sftp: ExportSftpSettings = ExportSftpSettings()


class PipelineSettings(_Strict):
    landing_dir: str = "var/landing"
    staging_dir: str = "var/staging"
    warehouse_url: str = "sqlite:///var/warehouse.db"
    formulas_dir: str = "scoring_formulas"
    chunk_rows: int = Field(default=1_000_000, ge=1)
    source: SourceSettings = SourceSettings()
    export: ExportSettings = ExportSettings()


def _location(path: Path, loc: tuple[Any, ...]) -> str:
    key = ".".join(str(part) for part in loc if part not in ("function-after",))
    return f"{path}: {key}" if key else str(path)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; a syntax error names the file, line and column."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise ConfigError([f"{path}: file not found"]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError([f"{path}: {where}: {exc.problem}"]) from exc


def load_model(model: type[M], path: Path) -> M:
    """Validate one YAML file against its model, listing every problem with its key."""
    data = read_yaml(path)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(
            [f"{_location(path, err['loc'])}: {err['msg']}" for err in exc.errors()]
        ) from exc


@cache
def layouts(directory: Path | None = None) -> LayoutConfig:
    return load_model(LayoutConfig, (directory or config_dir()) / "layouts.yaml")


@cache
def provinces(directory: Path | None = None) -> ProvinceConfig:
    return load_model(ProvinceConfig, (directory or config_dir()) / "provinces.yaml")


@cache
def settings(directory: Path | None = None) -> PipelineSettings:
    return load_model(PipelineSettings, (directory or config_dir()) / "pipeline.yaml")
