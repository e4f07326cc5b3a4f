"""The relationship half of the demo company: a year of visits, next steps, account plans.

Written once: when any visit or plan exists already, nothing is added, so running seed_demo
again (on any day) changes nothing. Dates are relative to the day of the first run.
"""

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import Contact, Customer, SalesLine
from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit

SEED = 20261125

CHANNELS = [
    ("onsite", 35),
    ("phone", 25),
    ("wechat", 20),
    ("video", 10),
    ("email", 5),
    ("event", 5),
]
PURPOSES = [
    "季度业务回顾",
    "新产品介绍",
    "年度价格谈判",
    "交付问题跟进",
    "框架协议续签",
    "技术交流会",
    "回款沟通",
    "满意度回访",
    "新项目需求了解",
    "高层拜访",
]
SUMMARIES = [
    "客户对本季度交付基本满意，关注下半年产能安排。",
    "对方采购部提出降价要求，已说明成本构成，约定下次带方案。",
    "技术部希望试用新型号，需要安排样品。",
    "财务确认上月发票已走审批流程，预计两周内付款。",
    "决策层对长期合作持积极态度，希望扩大合作范围。",
    "使用部门反馈一处质量问题，已记录并转质量部门。",
]
NEXT_STEPS = [
    "发送报价方案",
    "安排样品试用",
    "邀请参观工厂",
    "跟进付款进度",
    "准备年度合作方案",
    "约技术负责人交流",
]
ACTIONS = [
    "安排高层互访",
    "提交年度框架协议草案",
    "组织新品技术交流会",
    "梳理采购流程与关键人",
    "完成质量问题整改报告",
    "制定联合降本方案",
]


def seed_relationships(today: date) -> None:
    if Visit.objects.exists() or AccountPlan.objects.exists():
        return
    rng = random.Random(SEED)
    customers = list(
        Customer.objects.exclude(owner=None)
        .exclude(status=Customer.Status.CLOSED)
        .order_by("code")
        .values_list("pk", "owner_id", "relationship_level")
    )
    window = Q(order_date__gt=today - timedelta(days=365), order_date__lte=today)
    figures = {
        row["customer_id"]: row
        for row in SalesLine.objects.filter(window)
        .values("customer_id")
        .annotate(total=Sum("revenue"), profit=Sum(F("revenue") - F("cost")))
    }
    ranked = sorted(
        (pk for pk, _owner, _level in customers),
        key=lambda pk: -(figures.get(pk, {}).get("total") or 0),
    )
    rank = {pk: i for i, pk in enumerate(ranked)}
    contacts = defaultdict(list)
    for pk, customer_id in Contact.objects.filter(is_active=True).values_list(
        "pk", "buying_unit__customer_id"
    ):
        contacts[customer_id].append(pk)

    visits, met, latest = [], [], {}
    channels, weights = zip(*CHANNELS, strict=True)
    for pk, owner_id, _level in customers:
        share = rank[pk] / max(len(ranked), 1)
        interval = 28 if share < 0.2 else 55 if share < 0.5 else 110
        if rng.random() < 0.12:  # a neglected account: the cadence job will find it
            interval *= 2
        day = today - timedelta(days=rng.randint(1, int(interval * 1.3)))
        while day > today - timedelta(days=365):
            visits.append(
                Visit(
                    customer_id=pk,
                    author_id=owner_id,
                    visit_date=day,
                    channel=rng.choices(channels, weights)[0],
                    purpose=rng.choice(PURPOSES),
                    summary=rng.choice(SUMMARIES),
                    outcome=rng.choices(["positive", "neutral", "negative"], [5, 4, 1])[0],
                    next_step=rng.choice(NEXT_STEPS),
                )
            )
            people = contacts.get(pk, [])
            met.append(rng.sample(people, min(len(people), rng.randint(1, 2))))
            latest.setdefault(pk, visits[-1])
            day -= timedelta(days=max(3, int(interval * rng.uniform(0.6, 1.4))))
    Visit.objects.bulk_create(visits, batch_size=2000)
    through = Visit.contacts.through
    through.objects.bulk_create(
        [
            through(visit_id=visit.pk, contact_id=contact_id)
            for visit, people in zip(visits, met, strict=True)
            for contact_id in people
        ],
        batch_size=2000,
    )

    # The next steps of recent visits: some overdue, some today, some in the coming days.
    follow_ups = []
    for pk, visit in latest.items():
        if rng.random() < 0.45:
            due = visit.visit_date + timedelta(days=rng.randint(7, 40))
            if due < today - timedelta(days=20):
                continue
            follow_ups.append(
                FollowUp(
                    customer_id=pk,
                    owner_id=visit.author_id,
                    kind=FollowUp.Kind.NEXT_STEP,
                    due_date=due,
                    note=visit.next_step,
                    source_visit=visit,
                )
            )
    for follow_up in follow_ups[:3]:
        follow_up.due_date = today
    FollowUp.objects.bulk_create(follow_ups)

    # This year's plans for the strategic accounts and the ten biggest.
    owners = {pk: owner_id for pk, owner_id, _level in customers}
    planned = sorted(
        {pk for pk, _owner, level in customers if level == "strategic"} | set(ranked[:10])
    )
    for pk in planned:
        row = figures.get(pk, {})
        revenue = row.get("total") or Decimal(0)
        profit = row.get("profit") or Decimal(0)
        plan = AccountPlan.objects.create(
            customer_id=pk,
            year=today.year,
            strategy="巩固核心供应商地位，扩大在新项目中的份额，建立高层定期互访机制。",
            created_by_id=owners[pk],
        )
        growth = PlanObjective.objects.create(
            plan=plan,
            title="销售额同比增长 15%",
            revenue_target=(revenue * Decimal("1.15")).quantize(Decimal("10000")),
        )
        margin = PlanObjective.objects.create(
            plan=plan,
            title="毛利额提升 10%",
            profit_target=(profit * Decimal("1.10")).quantize(Decimal("10000")),
        )
        for i, title in enumerate(rng.sample(ACTIONS, 3)):
            due = date(today.year, min(12, 3 + 4 * i), 15)
            status = (
                "done" if due < today - timedelta(days=30) else rng.choice(["open", "in_progress"])
            )
            PlanAction.objects.create(
                plan=plan,
                objective=growth if i % 2 == 0 else margin,
                title=title,
                owner_id=owners[pk],
                due_date=due,
                status=status,
                completed_at=timezone.now() if status == "done" else None,
            )


def relationship_counts() -> dict[str, int]:
    return {
        "visits": Visit.objects.count(),
        "follow-ups": FollowUp.objects.count(),
        "account plans": AccountPlan.objects.count(),
        "plan actions": PlanAction.objects.count(),
    }
