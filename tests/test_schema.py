import pytest

from cba.schema import FEATURES, KAGGLE_CUSTOMERS, human_label


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("r_score", "recency"),
        ("share_laptop_accessory", "share of Laptop & Accessory events"),
        ("events_mobile_phone", "Mobile Phone events"),
        ("product_affinity_2", "product affinity 2"),
        ("PreferedOrderCat_Fashion", "preferred category: Fashion"),
        ("MaritalStatus=Single", "marital status: Single"),
        ("not_a_column", "not_a_column"),
    ],
    ids=["exact", "category-share", "category-events", "affinity", "one-hot", "one-hot-equals", "unknown"],
)
def test_human_label(name, label):
    assert human_label(name) == label


def test_every_feature_and_attribute_has_a_human_label():
    names = [c.name for c in FEATURES.columns + KAGGLE_CUSTOMERS.columns]
    assert [n for n in names if human_label(n) == n and n not in ("cutoff", "country")] == []
