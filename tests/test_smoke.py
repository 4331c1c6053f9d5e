import json
from pathlib import Path

import mcrc

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_every_example_is_assessed_in_scope():
    for path in sorted(EXAMPLES.glob("*.json")):
        a = mcrc.assess(json.loads(path.read_text()))
        assert a.scope.status in {"in_scope", "refer_mdt", "out_of_scope"}
        assert a.fired_rows(), path.name
