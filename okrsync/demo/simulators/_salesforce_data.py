"""The Salesforce simulator's org: its schema, seeded records and the one report.

Opportunities close across 2026, a few soft-deleted; Accounts; and report
``REPORT_ID`` ("Won opportunities 2026": Sum of Amount and Record Count of the won
Opportunities as its grand total). Same seed, same records.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

REPORT_ID = "00OSIM000000000001"
REPORT_NAME = "Won opportunities 2026"
ORG_ID = "00DSIM000000000001"


def _schema(text: str) -> dict[str, str]:
    return {name: kind for name, _, kind in (f.partition(":") for f in text.split())}


TYPES = {  # field → SOQL type, per sObject
    "Opportunity": _schema(
        "Id:id Name:string Amount:double IsWon:boolean IsClosed:boolean IsDeleted:boolean"
        " CloseDate:date CreatedDate:datetime StageName:string AccountId:id Product_Family__c:string"
    ),
    "Account": _schema(
        "Id:id Name:string Industry:string Type:string AnnualRevenue:double IsDeleted:boolean"
        " CreatedDate:datetime"
    ),
}


def seed_records(
    seed: int, opportunities: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Opportunities, Accounts); ``_wins`` and ``_stage`` say how an Opportunity ends
    once its CloseDate has passed (:meth:`SalesforceSimulator.records` decides per day)."""
    rng = random.Random(seed)  # noqa: S311 - deterministic demo data, not security
    words = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay"]
    kinds = ["Systems", "Labs", "Foods", "Logistics", "Health", "Bank", "Media", "Energy"]
    accounts = [
        {
            "Id": f"001SIM{n:012d}",
            "Name": f"{words[n % 8]} {kinds[(n // 8) % 8]}",
            "Industry": rng.choice(["Technology", "Retail", "Finance", "Healthcare"]),
            "Type": rng.choice(["Customer - Direct", "Customer - Channel", "Prospect"]),
            "AnnualRevenue": float(rng.randrange(1, 500) * 100_000),
            "IsDeleted": False,
            "CreatedDate": datetime(2024, 1, 1, 9, tzinfo=UTC) + timedelta(days=n * 7),
        }
        for n in range(60)
    ]
    opps = []
    for n in range(opportunities):
        close = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        account = accounts[rng.randrange(len(accounts))]
        family = "New" if rng.random() < 0.4 else "Core"
        amount = None if rng.random() < 0.02 else float(rng.randrange(20, 800) * 500)
        created = datetime.combine(close, datetime.min.time(), UTC) - timedelta(
            days=rng.randrange(20, 160), minutes=n
        )
        opps.append(
            {
                "Id": f"006SIM{n:012d}",
                "Name": f"{account['Name']} - {family} {n}",
                "Amount": amount,
                "CloseDate": close,
                "CreatedDate": created,
                "AccountId": account["Id"],
                "Product_Family__c": family,
                "IsDeleted": rng.random() < 0.03,
                "_wins": rng.random() < 0.55,
                "_stage": rng.choice(["Prospecting", "Qualification", "Proposal", "Negotiation"]),
            }
        )
    return opps, accounts


def report_answer(rows: list[dict[str, Any]], ver: str, details: bool) -> dict[str, Any]:
    """What ``analytics/reports/REPORT_ID`` answers, from the won Opportunities ``rows``."""
    total = sum(r["Amount"] for r in rows if r["Amount"] is not None)
    fact: dict[str, Any] = {
        "aggregates": [
            {"label": f"USD {total:,.2f}", "value": total},
            {"label": f"{len(rows):,}", "value": len(rows)},
        ]
    }
    if details:
        fact["rows"] = [
            {
                "dataCells": [
                    {"label": r["Name"], "value": r["Id"]},
                    {"label": f"USD {r['Amount'] or 0:,.2f}", "value": r["Amount"]},
                ]
            }
            for r in rows
        ]
    meta = {
        "id": REPORT_ID,
        "name": REPORT_NAME,
        "reportFormat": "TABULAR",
        "aggregates": ["s!Amount", "RowCount"],
        "detailColumns": ["OPPORTUNITY_NAME", "AMOUNT"],
        "reportType": {"type": "Opportunity", "label": "Opportunities"},
    }
    columns = {
        "s!Amount": {
            "label": "Sum of Amount",
            "dataType": "currency",
            "acrossGroupingContext": None,
            "downGroupingContext": None,
        },
        "RowCount": {
            "label": "Record Count",
            "dataType": "int",
            "acrossGroupingContext": None,
            "downGroupingContext": None,
        },
    }
    base = f"/services/data/v{ver}/analytics/reports/{REPORT_ID}"
    return {
        "attributes": {
            "type": "Report",
            "reportId": REPORT_ID,
            "reportName": REPORT_NAME,
            "describeUrl": f"{base}/describe",
            "instancesUrl": f"{base}/instances",
        },
        "allData": True,
        "hasDetailRows": details,
        "reportMetadata": meta,
        "reportExtendedMetadata": {"aggregateColumnInfo": columns},
        "factMap": {"T!T": fact},
        "groupingsDown": {"groupings": []},
        "groupingsAcross": {"groupings": []},
    }
