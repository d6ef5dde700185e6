"""Status lists fill before the next opens, and each goes out whole (herd privacy).

Whoever fetches a list learns that a credential is one of those the list holds: a list
opened beside one far from full, or published shorter than its size, narrows that down.
Small lists (16 entries) make the roll-overs happen within a test.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from issuer.api import create_app
from issuer.models import IssuedCredential, StatusListRecord
from keys.encoding import b64url_decode, json_loads_object
from tests._issuer import IssuerWorld, make_settings, seed
from tests._issuer_client import PUBLIC_URL, issue, rows

LIST_SIZE = 16
BATCH = 4
ISSUANCES = 12  # 48 credentials: three lists at least


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[IssuerWorld]:
    settings = make_settings(database_url, tmp_path / "data", PUBLIC_URL)
    world = seed(dataclasses.replace(settings, status_list_size=LIST_SIZE))
    yield world
    world.deployment.engine.dispose()


@pytest.fixture
def client(world: IssuerWorld) -> Iterator[TestClient]:
    with TestClient(create_app(deployment=world.deployment)) as http:
        yield http


def published_size(client: TestClient, list_id: int) -> int:
    response = client.get(f"/agencies/mois/status-lists/{list_id}")
    assert response.status_code == 200, response.text
    payload = json_loads_object(b64url_decode(response.text.split(".")[1]))
    status_list = payload["status_list"]
    entries = len(zlib.decompress(b64url_decode(status_list["lst"]))) * 8 // status_list["bits"]
    return int(entries)


def test_a_list_is_half_used_before_the_next_opens_and_goes_out_whole(
    client: TestClient, world: IssuerWorld
) -> None:
    for _ in range(ISSUANCES):
        issue(client, world, batch=BATCH)

    lists = sorted(record.id or 0 for record in rows(world, StatusListRecord))
    used = Counter(credential.status_list_id for credential in rows(world, IssuedCredential))
    assert len(lists) >= 3
    assert sum(used.values()) == ISSUANCES * BATCH
    for list_id in lists[:-1]:  # every list but the newest was at least half used
        assert used[list_id] >= LIST_SIZE // 2, used
    for list_id in lists:  # published with every entry, used or not
        assert published_size(client, list_id) == LIST_SIZE
