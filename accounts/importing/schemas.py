"""What each import kind's columns are, what they may be called, and how a cell is read.

Column names and keys are SPEC §5. Chinese header aliases are accepted too (README lists
them). A parser turns the cell text into the value staged for the database or raises
CellError with a message that says what was expected.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from accounts.models import Contact, Customer


class CellError(ValueError):
    pass


_NUMBER = r"([+-])?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
_NUMBER_RE = re.compile(_NUMBER)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII: what fromisoformat reads
_WHOLE_RE = re.compile(r"\d+")


def _number_parts(text: str):
    match = _NUMBER_RE.fullmatch(text)
    if match is None:
        raise CellError(_("not a number (use digits, an optional . and optional , separators)"))
    sign, whole, fraction = match.groups()
    return sign == "-", whole.replace(",", ""), fraction or ""


def parse_money(text: str) -> int:
    """'1,234.50' -> 123450 cents. At most two decimal places: money is never rounded here."""
    negative, whole, fraction = _number_parts(text)
    if len(fraction) > 2:
        raise CellError(_("an amount has at most two decimal places"))
    cents = int(whole) * 100 + int(fraction.ljust(2, "0"))
    if cents > 9_000_000_000_000_000:
        raise CellError(_("the amount is too large"))
    return -cents if negative else cents


def parse_quantity(text: str) -> Decimal:
    negative, whole, fraction = _number_parts(text)
    if len(fraction) > 3:
        raise CellError(_("a quantity has at most three decimal places"))
    if len(whole) > 11:
        raise CellError(_("the quantity is too large"))
    value = Decimal(f"{whole}.{fraction or '0'}")
    return -value if negative else value


def parse_date(text: str) -> datetime.date:
    if not _DATE_RE.fullmatch(text):
        raise CellError(_("not a date in the form YYYY-MM-DD"))
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CellError(_("no such date")) from None


def parse_positive_int(text: str) -> int:
    if not _WHOLE_RE.fullmatch(text) or int(text) < 1:
        raise CellError(_("not a whole number of 1 or more"))
    if int(text) > 2_000_000_000:
        raise CellError(_("the number is too large"))
    return int(text)


def parse_days(text: str) -> int:
    if not _WHOLE_RE.fullmatch(text) or int(text) > 3650:
        raise CellError(_("not a whole number of days between 0 and 3650"))
    return int(text)


def parse_email(text: str) -> str:
    try:
        validate_email(text)
    except ValidationError:
        raise CellError(_("not an email address")) from None
    return text


def text_parser(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if "\x00" in text:
            raise CellError(_("contains a NUL character"))
        if len(text) > max_length:
            raise CellError(_("longer than %(max)s characters") % {"max": max_length})
        return text

    return parse


def choice_parser(choices) -> Callable[[str], str]:
    """Accept a stored value ('strategic') or its English or Chinese label ('战略性')."""
    allowed = [value for value, _label in choices.choices]
    by_text: dict[str, str] = {}
    english = {value: str(label) for value, label in choices.choices}
    for value in allowed:
        by_text[value.lower()] = value
        by_text[english[value].lower()] = value
    chinese = _CHINESE_LABELS.get(choices.__name__, {})
    for label, value in chinese.items():
        by_text[label] = value

    def parse(text: str) -> str:
        value = by_text.get(text.lower())
        if value is None:
            raise CellError(_("must be one of: %(allowed)s") % {"allowed": ", ".join(allowed)})
        return value

    return parse


# SPEC §2's Chinese names, accepted in cells as they are in headers.
_CHINESE_LABELS = {
    "RelationshipLevel": {"普通": "ordinary", "伙伴式": "partner", "战略性": "strategic"},
    "Status": {"活跃": "active", "休眠": "dormant", "已关闭": "closed"},
    "Role": {
        "决策者": "decision_maker",
        "影响者": "influencer",
        "采购": "buyer",
        "使用者": "user",
        "技术把关": "technical",
        "财务审批": "finance",
        "守门人": "gatekeeper",
        "其他": "other",
    },
    "Influence": {"高": "high", "中": "medium", "低": "low"},
    "Attitude": {"支持者": "supporter", "中立": "neutral", "反对者": "opponent", "未知": "unknown"},
}


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[str], object]
    sql_type: str  # of the staging table: text, integer, money, date, decimal
    required: bool = False
    default: object = None  # staged when the cell is empty or the column is absent
    aliases: tuple[str, ...] = ()
    # A regular expression for the cell in its plainest form, which `parse` accepts and
    # PostgreSQL's COPY reads to the same value. Rows whose every cell matches are staged
    # as they are (the fast path for million-line files); None: always parse.
    fast: str | None = None


def fast_text(max_length: int, *, allow_empty: bool = False) -> str:
    """Text without surrounding space and without characters COPY would need escaped."""
    body = rf"[^\s\x00\x1f\\](?:[^\x00\x1f\t\n\r\\]{{0,{max_length - 2}}}[^\s\x00\x1f\\])?"
    return f"(?:{body})?" if allow_empty else body


# [0-9], never \d: \d matches any script's digits (١, １), which COPY cannot read; cells with
# them take the careful path (Python's int() reads full-width digits as numbers).
FAST_MONEY = r"-?[0-9]{1,15}(?:\.[0-9]{1,2})?"
FAST_QUANTITY = r"-?[0-9]{1,11}(?:\.[0-9]{1,3})?"
FAST_POSITIVE_INT = r"[1-9][0-9]{0,8}"
# Days 1-28 of any month, 29 and 30 of any month but February, 31 of the months that have
# it: only real dates. February 29 takes the careful path, which knows leap years.
FAST_DATE = (
    r"(?:19|20)[0-9]{2}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)


@dataclass(frozen=True)
class Schema:
    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    def header_names(self) -> dict[str, str]:
        """Every accepted header spelling (lower-cased) -> canonical column name."""
        names = {}
        for column in self.columns:
            names[column.name] = column.name
            for alias in column.aliases:
                names[alias.lower()] = column.name
        return names


_CODE = text_parser(50)
_CUSTOMER_CODE = Column(
    "customer_code", _CODE, "text", required=True, aliases=("客户编码",), fast=fast_text(50)
)

CUSTOMERS = Schema(
    "customers",
    (
        Column("code", _CODE, "text", required=True, aliases=("客户编码", "编码")),
        Column("name", text_parser(200), "text", required=True, aliases=("客户名称", "名称")),
        Column("industry", text_parser(100), "text", default="", aliases=("行业",)),
        Column("region", text_parser(100), "text", default="", aliases=("区域", "地区")),
        Column("parent_code", _CODE, "text", aliases=("上级客户编码", "上级客户")),
        Column("owner", text_parser(150), "text", aliases=("负责人", "客户经理")),
        Column(
            "relationship_level",
            choice_parser(Customer.RelationshipLevel),
            "text",
            default="ordinary",
            aliases=("关系层级", "关系级别"),
        ),
        Column("credit_limit", parse_money, "money", aliases=("信用额度",)),
        Column("payment_terms_days", parse_days, "integer", aliases=("账期", "账期天数")),
        Column("referred_by_code", _CODE, "text", aliases=("推荐客户编码", "推荐人")),
        Column(
            "status", choice_parser(Customer.Status), "text", default="active", aliases=("状态",)
        ),
    ),
    key=("code",),
)

CONTACTS = Schema(
    "contacts",
    (
        _CUSTOMER_CODE,
        Column(
            "buying_unit", text_parser(200), "text", required=True, aliases=("采购单元", "部门")
        ),
        Column("name", text_parser(100), "text", required=True, aliases=("姓名", "联系人")),
        Column("title", text_parser(100), "text", default="", aliases=("职务", "职位")),
        Column(
            "role",
            choice_parser(Contact.Role),
            "text",
            default="other",
            aliases=("角色", "采购角色"),
        ),
        Column(
            "influence",
            choice_parser(Contact.Influence),
            "text",
            default="medium",
            aliases=("影响力",),
        ),
        Column(
            "attitude",
            choice_parser(Contact.Attitude),
            "text",
            default="unknown",
            aliases=("态度",),
        ),
        Column("phone", text_parser(50), "text", default="", aliases=("电话", "手机")),
        Column("email", parse_email, "text", default="", aliases=("邮箱", "电子邮件")),
        Column("birthday", parse_date, "date", aliases=("生日",)),
    ),
    key=("customer_code", "buying_unit", "name"),
)

SALES = Schema(
    "sales",
    (
        _CUSTOMER_CODE,
        Column("order_ref", _CODE, "text", required=True, aliases=("订单号",), fast=fast_text(50)),
        Column(
            "line_no",
            parse_positive_int,
            "integer",
            default=1,
            aliases=("行号",),
            fast=FAST_POSITIVE_INT,
        ),
        Column(
            "order_date",
            parse_date,
            "date",
            required=True,
            aliases=("日期", "订单日期"),
            fast=FAST_DATE,
        ),
        Column(
            "product_code",
            _CODE,
            "text",
            default="",
            aliases=("产品编码", "物料编码"),
            fast=fast_text(50, allow_empty=True),
        ),
        Column(
            "quantity",
            parse_quantity,
            "decimal",
            default=Decimal("0"),
            aliases=("数量",),
            fast=FAST_QUANTITY,
        ),
        Column(
            "revenue",
            parse_money,
            "money",
            required=True,
            aliases=("金额", "收入", "净收入"),
            fast=FAST_MONEY,
        ),
        Column("cost", parse_money, "money", required=True, aliases=("成本",), fast=FAST_MONEY),
        Column("discount", parse_money, "money", default=0, aliases=("折扣",), fast=FAST_MONEY),
    ),
    key=("order_ref", "line_no"),
)

PAYMENTS = Schema(
    "payments",
    (
        _CUSTOMER_CODE,
        Column(
            "invoice_ref", _CODE, "text", required=True, aliases=("发票号",), fast=fast_text(50)
        ),
        Column(
            "invoice_date",
            parse_date,
            "date",
            required=True,
            aliases=("开票日期", "发票日期"),
            fast=FAST_DATE,
        ),
        Column(
            "due_date",
            parse_date,
            "date",
            required=True,
            aliases=("到期日", "应收日期"),
            fast=FAST_DATE,
        ),
        Column(
            "amount",
            parse_money,
            "money",
            required=True,
            aliases=("金额", "发票金额"),
            fast=FAST_MONEY,
        ),
        # Unpaid invoices leave paid_date empty, which stages as NULL: the careful path.
        Column("paid_date", parse_date, "date", aliases=("付款日期", "回款日期")),
    ),
    key=("invoice_ref",),
)

SCHEMAS = {schema.kind: schema for schema in (CUSTOMERS, CONTACTS, SALES, PAYMENTS)}

# A row that breaks its kind's rule, as SQL over the staged rows or (the bulk load) the
# stored ones; the staged way reports each such row.
ROW_RULES = {"sales": "revenue > 0 AND cost < 0", "payments": "due_date < invoice_date"}
