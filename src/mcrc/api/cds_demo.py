"""A local CDS Client for trying the CDS Hooks services in one step (issue 21, decision record 0043).

`make run` calls `ensure_demo_issuer`: an EC P-256 key pair is generated into the data folder (never committed;
the private key readable by its owner only) and an issuer file naming its public key is written beside it, which
the server reads as MCRC_CDS_ISSUERS. `demo_call` then plays the EHR: it builds a hook request from a FHIR Bundle
on disk (the record sent whole under the prefetch key `bundle`), signs the JWT CDS Hooks 2.0 asks for (audience:
the service URL called) with the demo key, and posts it. Nothing here weakens the server's checks: the demo
issuer is an ordinary configured issuer, and its key never leaves the data folder.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEMO_ISSUER = "urn:mcrc:demo-ehr"  # the `iss` of the demo client; any other issuer is still refused
DEMO_KID = "mcrc-demo-1"
KEY_FILE = "cds-demo-key.pem"
ISSUERS_FILE = "cds-issuers.json"
HOOKS = {"patient-view": "mcrc-patient-view", "order-select": "mcrc-order-select"}
_LIFETIME_S = 60


class DemoError(Exception):
    """The demo call cannot be made (a bad file, a refused or failed request); the message says why."""


@dataclass(frozen=True)
class DemoIssuer:
    key_file: Path
    issuers_file: Path
    created: bool  # False: an existing key pair was reused


def ensure_demo_issuer(data_dir: Path) -> DemoIssuer:
    """The demo key pair and issuer file in `data_dir`, created when absent (kept otherwise, so a running server
    and earlier tokens stay valid)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    data_dir.mkdir(parents=True, exist_ok=True)
    key_file, issuers_file = data_dir / KEY_FILE, data_dir / ISSUERS_FILE
    created = not key_file.exists()
    if created:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    key = _private_key(key_file)
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": DEMO_KID, "alg": "ES256", "use": "sig"})
    doc = {"issuers": [{"iss": DEMO_ISSUER, "jwks": {"keys": [jwk]}}]}
    issuers_file.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return DemoIssuer(key_file, issuers_file, created)


def _private_key(key_file: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except OSError as exc:
        raise DemoError(f"{key_file}: cannot read the demo key ({exc.strerror}); run `mcrc cds demo-setup`") \
            from None
    except ValueError:
        raise DemoError(f"{key_file}: not a PEM private key; delete it and run `mcrc cds demo-setup`") from None


def demo_token(key_file: Path, audience: str, now: float | None = None) -> str:
    """A CDS Hooks client JWT (ES256, kid of the demo key) for one call to `audience`."""
    import jwt

    now = int(time.time() if now is None else now)
    claims = {"iss": DEMO_ISSUER, "sub": "mcrc-demo-client", "aud": audience, "iat": now,
              "exp": now + _LIFETIME_S, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, _private_key(key_file), algorithm="ES256", headers={"kid": DEMO_KID, "typ": "JWT"})


def read_bundle_file(path: Path) -> tuple[dict[str, Any], str]:
    """The Bundle in `path` and the id of its Patient; DemoError when it is not a Bundle with exactly one."""
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DemoError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise DemoError(f"{path}: not JSON ({exc})") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise DemoError(f"{path}: not a FHIR Bundle (resourceType must be 'Bundle')")
    ids = [(e.get("resource") or {}).get("id") for e in bundle.get("entry") or [] if isinstance(e, dict)
           and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Patient"]
    if len(ids) != 1 or not isinstance(ids[0], str):
        raise DemoError(f"{path}: the Bundle must hold exactly one Patient with an id (found {len(ids)})")
    return bundle, ids[0]


def hook_request(hook: str, bundle: dict[str, Any], patient_id: str,
                 draft_orders: dict[str, Any] | None = None, selections: list[str] | None = None) -> dict[str, Any]:
    """The body an EHR would send: the whole record prefetched as `bundle`."""
    context: dict[str, Any] = {"userId": "Practitioner/mcrc-demo", "patientId": patient_id}
    if hook == "order-select":
        context["draftOrders"] = draft_orders
        context["selections"] = selections or []
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": {"bundle": bundle}}


def draft_order(drug_text: str, patient_id: str) -> tuple[dict[str, Any], list[str]]:
    """A draftOrders Bundle of one MedicationRequest named in words (the server recognises drug names)."""
    resource = {"resourceType": "MedicationRequest", "id": "demo-order", "status": "draft", "intent": "order",
                "subject": {"reference": f"Patient/{patient_id}"}, "medicationCodeableConcept": {"text": drug_text}}
    return ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]},
            ["MedicationRequest/demo-order"])


def demo_call(base_url: str, hook: str, bundle_file: Path, data_dir: Path, order: str | None = None,
              client: httpx.Client | None = None) -> list[dict[str, Any]]:
    """Sign and send one hook call for the record in `bundle_file`; the cards answered. `client` is injectable
    (tests pass the app's TestClient; by default a fresh httpx client calls `base_url`)."""
    if hook not in HOOKS:
        raise DemoError(f"unknown hook {hook!r}: use {' or '.join(HOOKS)}")
    if hook == "order-select" and not order:
        raise DemoError("order-select needs --order 'drug name' (the draft order to check)")
    bundle, patient_id = read_bundle_file(bundle_file)
    orders, selections = draft_order(order, patient_id) if hook == "order-select" else (None, None)
    url = f"{base_url.rstrip('/')}/cds-services/{HOOKS[hook]}"
    token = demo_token(data_dir / KEY_FILE, url)
    body = hook_request(hook, bundle, patient_id, orders, selections)
    own = client is None
    http = client or httpx.Client(timeout=30.0)
    try:
        r = http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise DemoError(f"cannot reach {url}: {exc} (is `make run` serving?)") from None
    finally:
        if own:
            http.close()
    if r.status_code == 404:
        raise DemoError(f"{url}: 404; the server has no CDS Hooks services (start it with `make run`, which "
                        "configures the demo issuer)")
    if r.status_code == 401:
        raise DemoError(f"{url}: 401; the server does not trust the demo issuer (was it started with "
                        f"MCRC_CDS_ISSUERS={data_dir / ISSUERS_FILE} and --public-url {base_url}?)")
    if r.status_code != 200:
        raise DemoError(f"{url}: HTTP {r.status_code}: {r.text[:300]}")
    return r.json().get("cards", [])
