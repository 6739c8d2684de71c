"""The embedded engine opens the server configuration rendered beside its data: fragments, operator's too."""

from __future__ import annotations

from pathlib import Path

from tests.support.warehouse import Warehouse

COLLECTION = """<clickhouse><named_collections><pulse_config_probe>
<url>http://127.0.0.1:9/bucket/</url><access_key_id>k</access_key_id><secret_access_key>s</secret_access_key>
</pulse_config_probe></named_collections></clickhouse>"""


def _collections(warehouse: Warehouse) -> list[str]:
    client = warehouse.client()
    try:
        return [row[0] for row in client.query("SELECT name FROM system.named_collections").result_rows]
    finally:
        client.close()


def test_operator_fragments_are_loaded_and_a_removed_one_is_gone_after_restart(tmp_path: Path) -> None:
    fragments = tmp_path / "config.d"
    fragments.mkdir()
    (fragments / "probe.xml").write_text(COLLECTION)
    warehouse = Warehouse(
        path=tmp_path / "chdb",
        home=tmp_path / "home",
        extra_env={"PULSE_CLICKHOUSE__EMBEDDED_CONFIG_D": str(fragments)},
    )
    warehouse.home.mkdir()
    warehouse.start()
    try:
        assert "pulse_config_probe" in _collections(warehouse)
        (fragments / "probe.xml").unlink()
        warehouse.stop()
        warehouse.start()
        assert "pulse_config_probe" not in _collections(warehouse)
    finally:
        warehouse.stop()
