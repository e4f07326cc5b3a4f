"""``python manage.py seed_demo``: a believable demo company (SPEC section 5).

The customer master, sales and receivables come from accounts/demo.py; this command adds
the relationship work on top: a year of visits, next-step follow-ups and account plans.
"""

from accounts.demo import Command as MasterDataCommand
from relationships.demo import relationship_counts, seed_relationships


class Command(MasterDataCommand):
    help = (
        "Create a demo company: users for each role (password kam-demo), teams, about 300 "
        "customers with two years of sales, contacts, visits, follow-ups, account plans and "
        "planted fake big customers. Runs only with DEBUG on; running it again changes nothing."
    )

    def counts(self) -> dict[str, int]:
        return {**super().counts(), **relationship_counts()}

    def seed_more(self, today) -> None:
        seed_relationships(today)
