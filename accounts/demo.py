"""The customer master half of ``python manage.py seed_demo`` (SPEC section 5).

The command itself lives in relationships/ (it adds visits, follow-ups and plans), which
may import accounts/ but not the other way round.

Users for each role, two sales teams, about 300 customers with a Pareto-shaped book of
two years of sales ending today, receivables, buying units and contacts, and one planted
"fake big customer" for each rule of SPEC section 3.

Everything comes from one ``random.Random(SEED)`` and is written with get_or_create or
bulk_create(ignore_conflicts=True) on the natural keys, so a second run creates nothing
and changes nothing; rows that already exist are never overwritten. Dates are relative
to today, but which customer, order ref and line number a row gets does not depend on
the day the command runs, so running it again on a later day adds nothing either.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import BuyingUnit, Contact, Customer, Receivable, SalesLine, SalesTeam
from kam.roles import GROUP_FINANCE, GROUP_KAM_MANAGER, GROUP_SALES_REP

SEED = 20261124
PASSWORD = "kam-demo"
SPAN_DAYS = 728  # order dates: today - SPAN_DAYS (+2 for a weekend) .. today
N_CUSTOMERS = 300
N_NORMAL_ORDERS = 9_400  # about 19,000 lines; the planted customers add about 1,100
BATCH = 2000
UNPAID_RECENT_DAYS = 45

# username, surname, given name, role group (None: none), superuser
USERS = [
    ("rep1", "张", "伟", GROUP_SALES_REP, False),
    ("rep2", "李", "娜", GROUP_SALES_REP, False),
    ("rep3", "王", "强", GROUP_SALES_REP, False),
    ("rep4", "刘", "洋", GROUP_SALES_REP, False),
    ("manager", "陈", "静", GROUP_KAM_MANAGER, False),
    ("manager2", "赵", "磊", GROUP_KAM_MANAGER, False),
    ("finance", "孙", "丽", GROUP_FINANCE, False),
    ("admin", "周", "明", None, True),
]
TEAMS = [("华东一组", "manager", ["rep1", "rep2"]), ("华南二组", "manager2", ["rep3", "rep4"])]

# region, weight, cities
REGIONS = [
    ("华东", 30, ["上海", "苏州", "杭州", "宁波", "无锡", "南京", "常州", "合肥"]),
    ("华南", 22, ["深圳", "广州", "东莞", "佛山", "厦门", "珠海"]),
    ("华北", 16, ["北京", "天津", "石家庄", "唐山", "太原", "保定"]),
    ("华中", 12, ["武汉", "长沙", "郑州", "襄阳", "株洲", "洛阳"]),
    ("西南", 12, ["成都", "重庆", "昆明", "贵阳"]),
    ("东北", 8, ["沈阳", "大连", "长春", "哈尔滨"]),
]
# industry, weight, name suffixes
INDUSTRIES = [
    ("机械制造", 18, ["精密机械", "重工机械", "机械设备", "自动化设备"]),
    ("电子", 16, ["电子科技", "微电子", "电子材料"]),
    ("化工", 12, ["化工", "新材料", "精细化工"]),
    ("汽车零部件", 15, ["汽车零部件", "汽车配件", "车用部件"]),
    ("医疗器械", 9, ["医疗器械", "医疗科技", "生物医疗"]),
    ("食品饮料", 10, ["食品", "饮品", "食品科技"]),
    ("建材", 10, ["建材", "新型建材", "建筑材料"]),
    ("物流", 10, ["物流", "供应链管理", "储运"]),
]
# Trade-name words, with pinyin for e-mail domains.
WORDS = [
    ("恒达", "hengda"), ("鑫源", "xinyuan"), ("宏远", "hongyuan"), ("瑞丰", "ruifeng"),
    ("天成", "tiancheng"), ("永盛", "yongsheng"), ("卓越", "zhuoyue"), ("新力", "xinli"),
    ("精工", "jinggong"), ("凯旋", "kaixuan"), ("明德", "mingde"), ("同创", "tongchuang"),
    ("佳美", "jiamei"), ("华宇", "huayu"), ("远航", "yuanhang"), ("蓝天", "lantian"),
    ("金桥", "jinqiao"), ("恒信", "hengxin"), ("宝丰", "baofeng"), ("鼎盛", "dingsheng"),
    ("顺泰", "shuntai"), ("立新", "lixin"), ("安泰", "antai"), ("昌盛", "changsheng"),
    ("福源", "fuyuan"), ("润达", "runda"), ("通力", "tongli"), ("伟业", "weiye"),
    ("荣昌", "rongchang"), ("启明", "qiming"), ("志成", "zhicheng"), ("北辰", "beichen"),
    ("久安", "jiuan"), ("广和", "guanghe"), ("兴达", "xingda"), ("振华", "zhenhua"),
]  # fmt: skip
GROUP_WORDS = [
    ("金泰", "jintai"), ("万邦", "wanbang"), ("德隆", "delong"), ("海川", "haichuan"),
    ("汇通", "huitong"), ("嘉禾", "jiahe"), ("博远", "boyuan"), ("盛世", "shengshi"),
]  # fmt: skip
SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"),
    ("高", "gao"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
    ("唐", "tang"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"), ("彭", "peng"),
    ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"), ("潘", "pan"),
    ("蒋", "jiang"), ("蔡", "cai"), ("余", "yu"), ("杜", "du"), ("叶", "ye"), ("程", "cheng"),
    ("魏", "wei"), ("丁", "ding"), ("沈", "shen"), ("任", "ren"), ("姚", "yao"), ("钟", "zhong"),
]  # fmt: skip
GIVEN = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀", "xiu"),
    ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("英", "ying"), ("华", "hua"), ("建", "jian"),
    ("国", "guo"), ("文", "wen"), ("辉", "hui"), ("鹏", "peng"), ("宇", "yu"), ("浩", "hao"),
    ("婷", "ting"), ("晨", "chen"), ("欣", "xin"), ("琳", "lin"), ("雪", "xue"), ("波", "bo"),
    ("斌", "bin"), ("峰", "feng"), ("海", "hai"), ("亮", "liang"), ("志", "zhi"), ("红", "hong"),
]  # fmt: skip
PHONE_PREFIXES = ["138", "139", "137", "136", "135", "150", "151", "158", "186", "188", "189"]
NOTES = [
    "喜欢打高尔夫球",
    "孩子明年高考",
    "不喝酒, 爱喝普洱茶",
    "老家在湖南, 春节回乡",
    "马拉松爱好者",
    "重视数据, 汇报要带报价对比",
    "周一上午例会, 不要约",
    "与前任供应商关系紧密",
]
# code, unit price in cents, decimals of the quantity
PRODUCTS = [
    ("BRG-6204", 1_800, 0), ("BRG-6308", 4_600, 0), ("BRG-NU210", 26_000, 0),
    ("MTR-Y2-15", 320_000, 0), ("MTR-Y2-55", 980_000, 0), ("MTR-SV-750", 260_000, 0),
    ("VLV-DN50", 68_000, 0), ("VLV-DN100", 165_000, 0), ("PMP-CDL4", 720_000, 0),
    ("SNS-PT100", 12_000, 0), ("SNS-PX10", 42_000, 0), ("PLC-S1200", 390_000, 0),
    ("HMI-7IN", 220_000, 0), ("CBL-RVV3X15", 480, 1), ("CBL-YJV4X25", 9_600, 1),
    ("GER-RV63", 85_000, 0), ("CYL-SC63", 36_000, 0), ("FLT-HF35", 15_500, 0),
    ("SEL-OR40", 350, 0), ("CHM-EP128", 2_350, 3), ("CHM-PU80A", 3_100, 3),
    ("STL-Q235", 420_000, 3), ("ALU-6061", 2_150_000, 3), ("PKG-CTN5", 650, 0),
    ("PKG-PLT12", 9_000, 0), ("TOL-CNC-D10", 28_000, 0), ("LUB-ISO46", 1_850, 3),
    ("ELC-CB63", 16_800, 0), ("ELC-VFD7", 310_000, 0), ("INS-GLV", 1_200, 0),
]  # fmt: skip

# Buying units: name, kind, head (title, role, influence), others (title, role, influence).
UNIT_TYPES = {
    "总经办": ("department", ("总经理", "decision_maker", "high"),
            [("副总经理", "influencer", "high"), ("总经理助理", "gatekeeper", "low")]),
    "采购部": ("department", ("采购经理", "buyer", "high"),
            [("采购专员", "buyer", "low"), ("采购主管", "buyer", "medium")]),
    "技术部": ("department", ("技术总监", "technical", "high"),
            [("工程师", "user", "low"), ("研发经理", "technical", "medium")]),
    "生产部": ("department", ("生产主管", "user", "medium"),
            [("车间主任", "user", "low"), ("设备工程师", "user", "low")]),
    "财务部": ("department", ("财务经理", "finance", "medium"), [("会计", "finance", "low")]),
    "质量部": ("department", ("质量经理", "influencer", "medium"),
            [("质检工程师", "user", "low")]),
    "工厂": ("plant", ("厂长", "influencer", "high"), [("设备主管", "user", "medium")]),
    "新产线项目组": ("project", ("项目经理", "influencer", "medium"),
                [("项目工程师", "technical", "low")]),
}  # fmt: skip
OPTIONAL_UNITS = ["采购部", "技术部", "生产部", "财务部", "质量部", "工厂", "新产线项目组"]
ATTITUDES = ["supporter", "neutral", "opponent", "unknown"]

# The planted fake big customers (SPEC section 3): code, name, rule, trade-name pinyin,
# industry, region, owner, relationship level, payment terms, credit limit (yuan).
PLANTED = [
    ("C9001", "华信团购贸易有限公司", "one_off", "huaxin", "食品饮料", "华东",
     "rep1", "ordinary", 30, 3_000_000),
    ("C9002", "巨量低毛利批发有限公司", "low_margin", "juliang", "建材", "华北",
     "rep2", "strategic", 60, 20_000_000),
    ("C9003", "强势压价采购集团", "squeezer (discount)", "qiangshi", "汽车零部件", "华东",
     "rep1", "partner", 90, 8_000_000),
    ("C9004", "高退货电商有限公司", "squeezer (returns)", "gaotuihuo", "电子", "华南",
     "rep2", "partner", 30, 8_000_000),
    ("C9005", "拖欠账款实业有限公司", "squeezer (late payment)", "tuoqian", "机械制造", "华中",
     "rep1", "partner", 30, 6_000_000),
]  # fmt: skip


@dataclass
class CustomerPlan:
    code: str
    name: str
    domain: str
    industry: str
    region: str
    city: str
    owner: str = ""
    rank: int = 0  # Pareto rank among the ordinary book; 0 for planted customers
    level: str = "ordinary"
    status: str = "active"
    credit_limit: int = 0  # yuan
    terms: int = 30
    parent: str | None = None
    referred_by: str | None = None
    team: list[str] = field(default_factory=list)
    kind: str = ""  # planted rule, or ""
    gap: str = ""  # planted coverage gap, or ""
    t0: float = 0.0  # active part of the two years, as fractions (1.0 is today)
    t1: float = 1.0
    growth: float = 0.0
    margin: float = 0.25
    products: list = field(default_factory=list)


@dataclass
class ContactPlan:
    code: str
    unit: str
    name: str
    title: str
    role: str
    influence: str
    attitude: str
    phone: str
    email: str
    birthday: date
    notes: str
    active: bool
    boss: tuple[str, str] | None  # (unit, name) of the contact this one reports to


@dataclass
class Line:
    product: str
    qty_milli: int
    revenue: int  # cents
    cost: int
    discount: int


@dataclass
class OrderPlan:
    t: float  # position in the two years; the order number follows it
    code: str
    seq: int
    day: date
    lines: list[Line]
    number: int = 0


def _skew(u: float, growth: float) -> float:
    """Inverse CDF of the density 1 + growth*t on [0, 1]: growth > 0 means a growing account."""
    if abs(growth) < 1e-9:
        return u
    return (math.sqrt(1 + 2 * growth * u * (1 + growth / 2)) - 1) / growth


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _weekday_before(day: date) -> date:
    """Saturday and Sunday move back to Friday (monotone, so order numbers stay in date order)."""
    return day - timedelta(days=day.weekday() - 4) if day.weekday() >= 5 else day


class Planner:
    """The whole demo company, in memory; only the dates depend on ``today``."""

    def __init__(self, today: date):
        self.rng = random.Random(SEED)
        self.today = today
        self.customers: list[CustomerPlan] = []
        self.by_code: dict[str, CustomerPlan] = {}
        self.units: list[tuple[str, str, str]] = []  # customer code, unit name, kind
        self.contacts: list[ContactPlan] = []
        self.orders: list[OrderPlan] = []
        self.receivables: list[tuple[int, str, date, date, int, date | None]] = []
        self._plan_customers()
        self._plan_planted()
        self._plan_people()
        self._plan_sales()
        self._plan_receivables()

    # -- customers ------------------------------------------------------------------------

    def _name(self, used: set[str], city: str, word: str, suffix: str) -> str | None:
        name = f"{city}{word}{suffix}有限公司"
        if name in used:
            return None
        used.add(name)
        return name

    def _plan_customers(self) -> None:
        rng = self.rng
        codes = [f"C{i:04d}" for i in range(1, N_CUSTOMERS + 1)]
        ranks = list(range(1, N_CUSTOMERS + 1))
        rng.shuffle(ranks)
        rank_of = dict(zip(codes, ranks, strict=True))
        by_rank = sorted(codes, key=rank_of.__getitem__)

        regions = [r for r, _w, _c in REGIONS]
        region_w = [w for _r, w, _c in REGIONS]
        cities = {r: c for r, _w, c in REGIONS}
        industries = [i for i, _w, _s in INDUSTRIES]
        industry_w = [w for _i, w, _s in INDUSTRIES]
        suffixes = {i: s for i, _w, s in INDUSTRIES}

        # Group hierarchies: a holding (big) with 2-5 subsidiaries; the first one goes deeper.
        parents = sorted(rng.sample(by_rank[:40], len(GROUP_WORDS)))
        pool = sorted(c for c in codes if c not in parents)
        rng.shuffle(pool)
        group_of: dict[str, int] = {}
        parent_of: dict[str, str] = {}
        for g, parent in enumerate(parents):
            group_of[parent] = g
            children = [pool.pop() for _ in range(rng.randint(2, 5))]
            for child in children:
                group_of[child] = g
                parent_of[child] = parent
            if g == 0:
                for _ in range(2):
                    grandchild = pool.pop()
                    group_of[grandchild] = g
                    parent_of[grandchild] = children[0]

        # A group has a main industry: the holding's, and that of most subsidiaries.
        group_industry = [rng.choices(industries, weights=industry_w)[0] for _ in parents]

        used: set[str] = set()
        for code in codes:
            region = rng.choices(regions, weights=region_w)[0]
            industry = rng.choices(industries, weights=industry_w)[0]
            g = group_of.get(code)
            if g is not None and (code in parents or rng.random() < 0.7):
                industry = group_industry[g]
            if g is not None and code in parents:
                city = rng.choice(cities[region])
                word, py = GROUP_WORDS[g]
                name = f"{city}{word}{rng.choice(['集团', '控股集团'])}有限公司"
                used.add(name)
            else:
                name = None
                while name is None:
                    city = rng.choice(cities[region])
                    word, py = GROUP_WORDS[g] if g is not None else rng.choice(WORDS)
                    name = self._name(used, city, word, rng.choice(suffixes[industry]))
            plan = CustomerPlan(
                code=code,
                name=name,
                domain=f"{py}-{code[1:]}.example.com",
                industry=industry,
                region=region,
                city=city,
                rank=rank_of[code],
                parent=parent_of.get(code),
            )
            self.customers.append(plan)
            self.by_code[code] = plan
        # Owners: rep1 and rep2 carry most of the book and all of the top 15; ten accounts
        # are the manager's own; a subsidiary usually has its group's owner.
        in_group = [c for c in codes if c in group_of]
        managers_own = set(rng.sample([c for c in by_rank[20:200] if c not in group_of], 10))
        for code in codes:
            plan = self.by_code[code]
            if code in managers_own:
                plan.owner = "manager"
            elif plan.rank <= 15:
                plan.owner = rng.choice(["rep1", "rep2"])
            else:
                plan.owner = rng.choices(["rep1", "rep2", "rep3", "rep4"], [36, 32, 17, 15])[0]
        for code in sorted(in_group, key=lambda c: (self._depth(c), c)):
            plan = self.by_code[code]
            if plan.parent and rng.random() < 0.7:
                plan.owner = self.by_code[plan.parent].owner

        # Relationship levels, mostly following size.
        strategic = rng.sample(by_rank[:25], 11) + rng.sample(by_rank[25:80], 4)
        chosen = set(strategic)
        partner = rng.sample([c for c in by_rank[:80] if c not in chosen], 30) + rng.sample(
            by_rank[80:200], 15
        )
        for code in strategic:
            self.by_code[code].level = "strategic"
        for code in partner:
            self.by_code[code].level = "partner"

        for plan in self.customers:
            limit = max(100_000, round(8_000_000 / plan.rank**0.8 / 50_000) * 50_000)
            plan.credit_limit = limit * 3 // 2 if plan.level == "strategic" else limit
            if plan.level == "strategic":
                plan.terms = rng.choice([60, 90])
            else:
                plan.terms = rng.choices([30, 60, 90], [5, 3, 2])[0]
            # Activity: a few new accounts, a few lapsed ones, and a growth trend each.
            if plan.rank > 20:
                r = rng.random()
                if r < 0.10:
                    plan.t0 = rng.uniform(0.45, 0.85)
                elif r < 0.16:
                    plan.t1 = rng.uniform(0.3, 0.6)
                    plan.status = rng.choices(["active", "dormant", "closed"], [3, 5, 1])[0]
            plan.growth = rng.uniform(-0.6, 0.9)
            plan.margin = rng.uniform(0.16, 0.34)
            plan.products = rng.sample(PRODUCTS, rng.randint(5, 10))

        # Referrals: smaller stand-alone accounts referred by bigger stand-alone ones.
        referred = sorted(
            rng.sample([c for c in codes if c not in group_of and rank_of[c] > 30], 20)
        )
        referred_set = set(referred)
        referrers = [c for c in by_rank[:100] if c not in group_of and c not in referred_set]
        for code in referred:
            self.by_code[code].referred_by = rng.choice(referrers)

        # Account teams: colleagues helping on some accounts (two across the team line).
        for member, owner, k in [
            ("rep2", "rep1", 8),
            ("rep1", "rep2", 5),
            ("rep4", "rep3", 4),
            ("rep3", "rep4", 3),
            ("rep3", "rep1", 2),
            ("rep2", "manager", 2),
        ]:
            owned = [c for c in by_rank if self.by_code[c].owner == owner][:30]
            for code in sorted(rng.sample(owned, k)):
                if member not in self.by_code[code].team:
                    self.by_code[code].team.append(member)

        # Coverage gaps: some strategic accounts are deliberately thin, and so is one of the
        # biggest ordinary ones.
        strategic_by_rank = [c for c in by_rank if c in chosen]
        gaps = ["single", "single", "no_decision_maker", "no_decision_maker", "one_unit"]
        for code, gap in zip(rng.sample(strategic_by_rank[2:], len(gaps)), gaps, strict=True):
            self.by_code[code].gap = gap
        big_plain = [c for c in by_rank[:10] if c not in chosen]
        if big_plain:
            self.by_code[big_plain[0]].gap = "single"

    def _depth(self, code: str) -> int:
        depth = 0
        while self.by_code[code].parent:
            code = self.by_code[code].parent
            depth += 1
        return depth

    def _plan_planted(self) -> None:
        for code, name, kind, py, industry, region, owner, level, terms, limit in PLANTED:
            plan = CustomerPlan(
                code=code,
                name=name,
                domain=f"{py}-{code[1:]}.example.com",
                industry=industry,
                region=region,
                city="",
                owner=owner,
                level=level,
                credit_limit=limit,
                terms=terms,
                kind=kind,
                products=self.rng.sample(PRODUCTS, 6),
            )
            self.customers.append(plan)
            self.by_code[code] = plan

    # -- people ---------------------------------------------------------------------------

    def _person(self, taken: set[str]) -> tuple[str, str]:
        while True:
            surname, s_py = self.rng.choice(SURNAMES)
            parts = [self.rng.choice(GIVEN) for _ in range(self.rng.choice([1, 2, 2]))]
            name = surname + "".join(p[0] for p in parts)
            if name not in taken:
                taken.add(name)
                return name, s_py + "".join(p[1] for p in parts)

    def _plan_people(self) -> None:
        rng = self.rng
        for plan in self.customers:
            if plan.gap == "single":
                units, n_contacts = ["采购部"], 1
            elif plan.gap == "no_decision_maker":
                units, n_contacts = ["采购部", "技术部", "生产部"], 4
            elif plan.gap == "one_unit":
                units, n_contacts = ["总经办"], 3
            else:
                if plan.level == "strategic" or plan.kind:
                    n_units = rng.randint(3, 4)
                    n_contacts = rng.randint(max(n_units, 4), 6)
                elif plan.level == "partner":
                    n_units = rng.randint(2, 3)
                    n_contacts = rng.randint(n_units, 5)
                else:
                    n_units = rng.choices([1, 2], [55, 45])[0]
                    n_contacts = rng.randint(n_units, 3)
                has_boss = n_contacts > 1 or rng.random() < 0.5
                first = "总经办" if has_boss else "采购部"
                others = [u for u in OPTIONAL_UNITS if u != first]
                units = [first, *rng.sample(others, n_units - 1)]

            names = {u: f"{plan.city or '总部'}工厂" if u == "工厂" else u for u in units}
            for unit in units:
                self.units.append((plan.code, names[unit], UNIT_TYPES[unit][0]))

            taken: set[str] = set()
            heads: dict[str, str] = {}
            boss = None
            people: list[tuple[str, tuple[str, str, str], bool]] = [
                (u, UNIT_TYPES[u][1], True) for u in units
            ]
            for _ in range(n_contacts - len(units)):
                unit = rng.choice(units)
                people.append((unit, rng.choice(UNIT_TYPES[unit][2]), False))
            for unit, (title, role, influence), is_head in people:
                name, py = self._person(taken)
                if is_head:
                    heads[unit] = name
                if role == "decision_maker":
                    boss = (names[unit], name)
                    attitude = rng.choices(ATTITUDES, [45, 35, 5, 15])[0]
                else:
                    attitude = rng.choices(ATTITUDES, [30, 40, 10, 20])[0]
                active = role == "decision_maker" or rng.random() >= 0.04
                notes = rng.choice(NOTES) if rng.random() < 0.15 else ""
                if not active:
                    notes = "已离职" + (f"; {notes}" if notes else "")
                reports = rng.random()
                if role == "decision_maker":
                    reports_to = None
                elif is_head:
                    reports_to = boss if boss and reports < 0.6 else None
                else:
                    head = (names[unit], heads[unit])
                    reports_to = head if reports < 0.6 else (boss if reports < 0.8 else None)
                phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
                email = f"{py}@{plan.domain}" if rng.random() < 0.85 else ""
                birthday = date(rng.randint(1965, 1995), 1, 1) + timedelta(days=rng.randint(0, 364))
                self.contacts.append(
                    ContactPlan(
                        code=plan.code,
                        unit=names[unit],
                        name=name,
                        title=title,
                        role=role,
                        influence=influence,
                        attitude=attitude,
                        phone=phone,
                        email=email,
                        birthday=birthday,
                        notes=notes,
                        active=active,
                        boss=reports_to,
                    )
                )

    # -- sales ----------------------------------------------------------------------------

    def _date(self, t: float) -> date:
        offset = min(SPAN_DAYS, int((1 - t) * SPAN_DAYS))
        return _weekday_before(self.today - timedelta(days=offset))

    def _line(self, plan: CustomerPlan, amount_yuan: float, margin: float, disc: float, sign=1):
        products = plan.products
        if sign < 0:  # a return gives back part of a delivery, not a whole expensive unit
            products = [p for p in products if p[1] <= amount_yuan * 100] or [
                min(products, key=lambda p: p[1])
            ]
        product, price, places = self.rng.choice(products)
        unit = max(1, round(price * self.rng.uniform(0.92, 1.08)))
        step = 10 ** (3 - places)
        qty = max(step, round(amount_yuan * 100_000 / unit / step) * step)
        revenue = round(qty * unit / 1000)
        cost = round(revenue * (1 - margin))
        discount = round(revenue * disc) if sign > 0 else 0
        return Line(product, sign * qty, sign * revenue, sign * cost, discount)

    def _plan_sales(self) -> None:
        rng = self.rng
        normal = [p for p in self.customers if not p.kind]
        counts = {p.code: 2 for p in normal}
        order_weights = [p.rank ** (-1.1 * 0.7) for p in normal]
        extra = N_NORMAL_ORDERS - 2 * len(normal)
        for code in rng.choices([p.code for p in normal], weights=order_weights, k=extra):
            counts[code] += 1

        for plan in normal:
            # Revenue ~ rank^-1.1: 0.7 of the exponent in the order count, 0.3 in the size.
            median = 2500 * (N_CUSTOMERS / plan.rank) ** (1.1 * 0.3)
            cap, returns = counts[plan.code] // 12, 0
            for seq in range(counts[plan.code]):
                t = plan.t0 + (plan.t1 - plan.t0) * _skew(rng.random(), plan.growth)
                is_return = rng.random() < 0.04 and returns < cap
                returns += is_return
                n_lines = 1 if is_return else rng.choices([1, 2, 3], [35, 30, 35])[0]
                lines = []
                for _ in range(n_lines):
                    amount = median * rng.lognormvariate(0, 0.7)
                    margin = plan.margin + rng.uniform(-0.03, 0.03)
                    if rng.random() < 0.04:
                        margin = rng.uniform(0.05, 0.12)  # a promotion
                    if is_return:  # part of a typical line: no big account looks like C9004
                        amount = median * rng.uniform(0.2, 0.6)
                        lines.append(self._line(plan, amount, margin, 0, -1))
                    else:
                        disc = 0.0 if rng.random() < 0.4 else rng.uniform(0, 0.05)
                        lines.append(self._line(plan, amount, margin, disc))
                self.orders.append(OrderPlan(t, plan.code, seq, self._date(t), lines))

        book = sum(line.revenue for o in self.orders for line in o.lines if line.revenue > 0)
        self._plan_planted_sales(book)
        self.orders.sort(key=lambda o: (o.t, o.code, o.seq))
        for number, order in enumerate(self.orders, 1):
            order.number = number

    def _planted_orders(self, plan, n, target, margin, disc, t_range=(0.0, 1.0), day_of=None):
        rng = self.rng
        per_line = target / 100 / (n * 2.5)
        for seq in range(n):
            t = rng.uniform(*t_range)
            lines = [
                self._line(
                    plan,
                    per_line * rng.lognormvariate(0, 0.35),
                    margin + rng.uniform(-0.1, 0.1) * margin,
                    rng.uniform(*disc),
                )
                for _ in range(rng.randint(2, 3))
            ]
            day = day_of(t) if day_of else self._date(t)
            self.orders.append(OrderPlan(t, plan.code, seq, day, lines))

    def _plan_planted_sales(self, book: int) -> None:
        """Sized against the ordinary book's two-year revenue, so each is clearly big."""
        rng = self.rng
        p = self.by_code

        # one_off: every order in one calendar month about five months ago.
        year, month = self.today.year, self.today.month - 5
        if month <= 0:
            year, month = year - 1, month + 12
        first = date(year, month, 1)
        last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        lo, hi = 1 - 165 / SPAN_DAYS, 1 - 135 / SPAN_DAYS

        def in_month(t: float) -> date:
            day = first + timedelta(days=int((t - lo) / (hi - lo) * (last - first).days))
            friday = _weekday_before(day)
            return friday if friday >= first else day + timedelta(days=7 - day.weekday())

        self._planted_orders(p["C9001"], 26, book * 0.035, 0.25, (0, 0.03), (lo, hi), in_month)
        self._planted_orders(p["C9002"], 160, book * 0.16, 0.02, (0, 0.02))
        self._planted_orders(p["C9003"], 110, book * 0.05, 0.25, (0.26, 0.34))
        self._planted_orders(p["C9004"], 130, book * 0.06, 0.26, (0, 0.03))
        self._planted_orders(p["C9005"], 100, book * 0.05, 0.27, (0, 0.04))

        # C9004 sends back 18 % of what it buys, in the last year and in the year before.
        plan = p["C9004"]
        split = 1 - 364 / SPAN_DAYS
        bought = [o for o in self.orders if o.code == plan.code]
        periods = [
            (1000, 20, (1 - 358 / SPAN_DAYS, 1.0), True),
            (2000, 14, (0.0, 1 - 372 / SPAN_DAYS), False),
        ]
        for seq0, n, t_range, recent in periods:
            period = sum(
                line.revenue for o in bought if (o.t >= split) == recent for line in o.lines
            )
            weights = [rng.uniform(0.5, 1.5) for _ in range(n)]
            for i, w in enumerate(weights):
                t = rng.uniform(*t_range)
                amount = period * 0.18 * w / sum(weights) / 100
                line = self._line(plan, amount, plan.margin, 0, -1)
                self.orders.append(OrderPlan(t, plan.code, seq0 + i, self._date(t), [line]))

    def _plan_receivables(self) -> None:
        rng = self.rng
        for order in self.orders:
            plan = self.by_code[order.code]
            total = sum(line.revenue for line in order.lines)
            if total <= 0:
                continue
            due = order.day + timedelta(days=plan.terms)
            if plan.code == "C9005":
                paid = due + timedelta(days=rng.randint(70, 120))
                stuck = rng.random() < 0.08 and (self.today - order.day).days > 200
            else:
                late = rng.randint(11, 30) if rng.random() < 0.08 else rng.triangular(-10, 10, 0)
                paid = due + timedelta(days=round(late))
                stuck = False
            if stuck or paid > self.today or (self.today - order.day).days < UNPAID_RECENT_DAYS:
                paid = None
            self.receivables.append((order.number, plan.code, order.day, due, total, paid))


# -- writing ----------------------------------------------------------------------------------


def _counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "sales teams": SalesTeam.objects.count(),
        "team members": SalesTeam.members.through.objects.count(),
        "customers": Customer.objects.count(),
        "account team members": Customer.account_team.through.objects.count(),
        "buying units": BuyingUnit.objects.count(),
        "contacts": Contact.objects.count(),
        "sales lines": SalesLine.objects.count(),
        "receivables": Receivable.objects.count(),
    }


def _levels(keys, deps_of) -> list[list]:
    """Keys grouped so that every key comes after the keys it refers to (parents, bosses)."""
    memo: dict = {}

    def level(key) -> int:
        if key not in memo:
            deps = deps_of(key)
            memo[key] = 1 + max(level(d) for d in deps) if deps else 0
        return memo[key]

    grouped: dict[int, list] = defaultdict(list)
    for key in keys:
        grouped[level(key)].append(key)
    return [grouped[i] for i in sorted(grouped)]


class Command(BaseCommand):
    help = (
        "Create a demo company: users for each role (password kam-demo), teams, about 300 "
        "customers with two years of sales, contacts and planted fake big customers. "
        "Runs only with DEBUG on; running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when any customer exists already.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates users with a known password; it runs only with DEBUG on."
            )
        if options["if_empty"] and Customer.objects.exists():
            self.stdout.write("seed_demo --if-empty: customers exist already; nothing was seeded.")
            return

        started = time.monotonic()
        today = timezone.localdate()
        plan = Planner(today)
        with transaction.atomic():
            before = self.counts()
            users = self._users()
            self._teams(users)
            pks = self._customers(plan, users)
            self._people(plan, pks)
            self._sales(plan, pks)
            self.seed_more(today)
            after = self.counts()
        self._report(before, after, today, time.monotonic() - started)

    def counts(self) -> dict[str, int]:
        return _counts()

    def seed_more(self, today: date) -> None:
        """Apps further up the dependency chain add their demo rows here (same transaction)."""

    # Each writer creates what is missing and leaves existing rows as they are.

    def _users(self):
        user_model = get_user_model()
        groups = {}
        users = {}
        for username, surname, given, group_name, superuser in USERS:
            user, _created = user_model.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": given,
                    "last_name": surname,
                    "email": f"{username}@kam-demo.example.com",
                    "is_staff": True,
                    "is_superuser": superuser,
                    # A callable default is only evaluated (hashed) when the user is created.
                    "password": lambda: make_password(PASSWORD),
                },
            )
            if group_name:
                if group_name not in groups:
                    groups[group_name] = Group.objects.get_or_create(name=group_name)[0]
                user.groups.add(groups[group_name])
            users[username] = user
        return users

    def _teams(self, users) -> None:
        for name, manager, members in TEAMS:
            team, _created = SalesTeam.objects.get_or_create(
                name=name, defaults={"manager": users[manager]}
            )
            team.members.add(*(users[m] for m in members))

    def _customers(self, plan: Planner, users) -> dict[str, int]:
        codes = [c.code for c in plan.customers]

        def current() -> dict[str, int]:
            return dict(Customer.objects.filter(code__in=codes).values_list("code", "pk"))

        def refers_to(code: str) -> list[str]:
            c = plan.by_code[code]
            return [d for d in (c.parent, c.referred_by) if d]

        pks = current()
        for level in _levels(codes, refers_to):
            Customer.objects.bulk_create(
                [
                    Customer(
                        code=c.code,
                        name=c.name,
                        industry=c.industry,
                        region=c.region,
                        parent_id=pks[c.parent] if c.parent else None,
                        owner=users[c.owner],
                        status=c.status,
                        relationship_level=c.level,
                        credit_limit=Decimal(c.credit_limit),
                        payment_terms_days=c.terms,
                        referred_by_id=pks[c.referred_by] if c.referred_by else None,
                    )
                    for c in (plan.by_code[code] for code in level)
                    if c.code not in pks
                ],
                batch_size=BATCH,
                ignore_conflicts=True,
            )
            pks = current()
        through = Customer.account_team.through
        through.objects.bulk_create(
            [
                through(customer_id=pks[c.code], user_id=users[member].pk)
                for c in plan.customers
                for member in c.team
            ],
            ignore_conflicts=True,
        )
        return pks

    def _people(self, plan: Planner, pks: dict[str, int]) -> None:
        BuyingUnit.objects.bulk_create(
            [
                BuyingUnit(customer_id=pks[code], name=name, kind=kind)
                for code, name, kind in plan.units
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        unit_pks = {
            (code, name): pk
            for code, name, pk in BuyingUnit.objects.filter(customer_id__in=pks.values())
            .values_list("customer__code", "name", "pk")
            .order_by("pk")
        }
        by_key = {(c.code, c.unit, c.name): c for c in plan.contacts}
        keys = list(by_key)

        def boss_key(key):
            boss = by_key[key].boss
            return [(key[0], *boss)] if boss and (key[0], *boss) in by_key else []

        contact_pks: dict[tuple[str, str, str], int] = {}
        for level in _levels(keys, boss_key):
            objs = []
            for key in level:
                c = by_key[key]
                boss = boss_key(key)
                objs.append(
                    Contact(
                        buying_unit_id=unit_pks[(c.code, c.unit)],
                        name=c.name,
                        title=c.title,
                        role=c.role,
                        influence=c.influence,
                        attitude=c.attitude,
                        phone=c.phone,
                        email=c.email,
                        birthday=c.birthday,
                        personal_notes=c.notes,
                        reports_to_id=contact_pks.get(boss[0]) if boss else None,
                        is_active=c.active,
                    )
                )
            Contact.objects.bulk_create(objs, batch_size=BATCH, ignore_conflicts=True)
            contact_pks = {
                (code, unit, name): pk
                for code, unit, name, pk in Contact.objects.filter(
                    buying_unit__customer_id__in=pks.values()
                )
                .values_list("buying_unit__customer__code", "buying_unit__name", "name", "pk")
                .order_by("pk")
            }

    def _sales(self, plan: Planner, pks: dict[str, int]) -> None:
        SalesLine.objects.bulk_create(
            [
                SalesLine(
                    customer_id=pks[order.code],
                    order_ref=f"SO-{order.number:06d}",
                    line_no=line_no,
                    order_date=order.day,
                    product_code=line.product,
                    quantity=Decimal(line.qty_milli).scaleb(-3),
                    revenue=_money(line.revenue),
                    cost=_money(line.cost),
                    discount=_money(line.discount),
                )
                for order in plan.orders
                for line_no, line in enumerate(order.lines, 1)
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        Receivable.objects.bulk_create(
            [
                Receivable(
                    customer_id=pks[code],
                    invoice_ref=f"INV-{number:06d}",
                    invoice_date=invoice_date,
                    due_date=due,
                    amount=_money(amount),
                    paid_date=paid,
                )
                for number, code, invoice_date, due, amount, paid in plan.receivables
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )

    # -- the summary ------------------------------------------------------------------------

    def _report(self, before, after, today, seconds) -> None:
        out = self.stdout.write
        out(f"seed_demo: demo company as of {today} (seed {SEED}), {seconds:.1f} s")
        out(f"  {'':22}{'created':>9}{'existing':>10}{'total':>9}")
        for label, total in after.items():
            out(f"  {label:22}{total - before[label]:>9}{before[label]:>10}{total:>9}")
        out("  Planted fake big customers (SPEC section 3 rules they are built to trip):")
        for code, name, kind, *_rest in PLANTED:
            out(f"    {code} {name}  {kind}")
        out(
            "  Sign in as rep1, rep2, rep3, rep4, manager, manager2, finance or admin, "
            f"password {PASSWORD} (set only on users this command created)."
        )
