"""The pure parts of the chaos runner (scripts/chaos/): its report arithmetic and verdicts, and
its webhook receiver's signature check and webhook-id deduplication. The run itself (`make
chaos`) starts servers and kills processes; it is not part of the test suite."""

import json
import time
import urllib.error
import urllib.request

import pytest
from standardwebhooks.webhooks import Webhook

from assessments.integrations import webhooks
from scripts.chaos import report
from scripts.chaos.probe import ERROR, Probe, Target
from scripts.chaos.receiver import Ledger, Receiver, signature_valid

# --- Report arithmetic -------------------------------------------------------------------------


def test_it_counts_the_rows_that_repeat_a_key():
    rows = [(1, "A"), (1, "B"), (1, "A"), (2, "A"), (1, "A")]
    assert report.duplicate_rows(rows) == 2
    assert report.duplicate_rows([(1, "A"), (2, "A")]) == 0
    assert report.duplicate_rows([]) == 0


def test_it_gives_a_distribution_in_numeric_order():
    assert report.distribution([2, 1, 10, 1, 2, 1]) == {"1": 3, "2": 2, "10": 1}


def test_it_separates_5xx_by_stage():
    probe = {
        "steady": {"healthz": {"200": 10}, "api": {"200": 9, "502": 1}},
        "outage": {"healthz": {"503": 4, "error": 2}, "api": {"500": 3, "503": 1}},
        "recovery": {"healthz": {"200": 5}, "api": {"200": 5, "404": 1}},
    }
    assert report.probe_figures(probe) == {
        "requests": 41,
        "5xx_steady": 1,
        "5xx_outage": 8,
        "500_outage": 3,
        "5xx_recovery": 0,
        "no_answer": 2,
    }


def _scenario(**overrides) -> dict:
    result = {
        "name": "redis_restart",
        "title": "2. Redis restarted",
        "bound_s": 60.0,
        "duration_s": 30.0,
        "tries": 1,
        "losses": 0,
        "duplicates": 0,
        "probe": {"outage": {"api": {"500": 2}}, "recovery": {"api": {"200": 3}}},
        "checks": [report.check("the scenario's own check", True)],
    }
    return {**result, **overrides}


def test_it_passes_a_scenario_whose_5xx_fell_inside_the_outage():
    result = report.finish(_scenario())
    assert result["ok"]
    assert [c["name"] for c in result["checks"]] == [
        "the scenario's own check",
        "nothing lost",
        "nothing done twice",
        "no 5xx outside the outage",
        "within its time bound",
    ]


@pytest.mark.parametrize(
    ("overrides", "broken"),
    [
        ({"losses": 1}, "nothing lost"),
        ({"duplicates": 2}, "nothing done twice"),
        ({"probe": {"recovery": {"api": {"500": 1}}}}, "no 5xx outside the outage"),
        ({"probe": {"steady": {"healthz": {"503": 1}}}}, "no 5xx outside the outage"),
        ({"duration_s": 61.0}, "within its time bound"),
        ({"checks": [report.check("the scenario's own check", False)]}, "the scenario's own check"),
    ],
)
def test_it_fails_a_scenario_that_broke_a_guarantee(overrides, broken):
    result = report.finish(_scenario(**overrides))
    assert not result["ok"]
    assert [c["name"] for c in result["checks"] if not c["ok"]] == [broken]


def test_it_fails_the_run_when_one_scenario_failed_or_none_ran(tmp_path):
    good, bad = report.finish(_scenario()), report.finish(_scenario(losses=3))
    built = report.build(
        mode="quick", started_at="t", duration_s=1, machine_info={}, scenarios=[good, bad]
    )
    assert not built["ok"]
    assert (
        report.build(mode="quick", started_at="t", duration_s=1, machine_info={}, scenarios=[])[
            "ok"
        ]
        is False
    )
    as_json, as_markdown = report.write(built, tmp_path)
    assert json.loads(as_json.read_text())["scenarios"][1]["losses"] == 3
    text = as_markdown.read_text()
    assert "A GUARANTEE WAS BROKEN" in text
    assert "| 2. Redis restarted | 1 | 3 | 0 | 0 | 2 (2) | 0 | 30.0 s / 60.0 s | FAILED |" in text


def test_it_describes_the_machine():
    described = report.machine(postgres="PostgreSQL 18")
    assert described["cpus"] >= 1 and described["python"]
    assert described["postgres"] == "PostgreSQL 18"


# --- The receiver --------------------------------------------------------------------------


def _signed(secret: str, body: bytes, msg_id: str = "msg_1") -> dict[str, str]:
    """Headers as the app's own signing code makes them."""
    timestamp = int(time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def test_its_signature_check_agrees_with_the_app_and_the_reference_library():
    secret, body = webhooks.new_secret(), b'{"type":"action.updated"}'
    headers = _signed(secret, body)
    Webhook(secret).verify(body, headers)  # the reference library accepts what we check
    kwargs = {
        "msg_id": headers["webhook-id"],
        "timestamp": headers["webhook-timestamp"],
        "body": body,
    }
    assert signature_valid(secret, signature_header=headers["webhook-signature"], **kwargs)
    # One valid signature among several (a rotation) is enough.
    both = (
        f"{webhooks.sign(webhooks.new_secret(), msg_id='msg_1', timestamp=1, body=body)} "
        + (headers["webhook-signature"])
    )
    assert signature_valid(secret, signature_header=both, **kwargs)
    assert not signature_valid(webhooks.new_secret(), signature_header=both, **kwargs)
    assert not signature_valid(
        secret, signature_header=headers["webhook-signature"], **{**kwargs, "body": body + b" "}
    )


def test_its_signature_check_refuses_an_old_or_odd_timestamp():
    secret, body = webhooks.new_secret(), b"{}"
    old = int(time.time()) - 10 * 60
    header = webhooks.sign(secret, msg_id="msg_1", timestamp=old, body=body)
    assert not signature_valid(
        secret, msg_id="msg_1", timestamp=str(old), signature_header=header, body=body
    )
    assert not signature_valid(
        secret, msg_id="msg_1", timestamp="soon", signature_header=header, body=body
    )
    assert not signature_valid(
        "whsec_???", msg_id="msg_1", timestamp=str(old), signature_header=header, body=body
    )


def test_its_ledger_accepts_each_id_once_and_counts_repeats_after_a_2xx():
    ledger = Ledger()
    assert ledger.receive("msg_a", valid=True, unavailable=True) == 503
    assert ledger.receive("msg_a", valid=True, unavailable=False) == 200  # first acceptance
    assert ledger.receive("msg_a", valid=True, unavailable=False) == 200  # acknowledged again
    assert ledger.receive("msg_a", valid=True, unavailable=True) == 503  # a repeat all the same
    assert ledger.receive("msg_b", valid=False, unavailable=False) == 401
    assert ledger.snapshot() == {
        "requests": 5,
        "answers": {"200": 2, "401": 1, "503": 2},
        "accepted": 1,
        "ids_seen": 1,
        "duplicates_after_2xx": 2,
        "bad_signatures": 1,
    }


def _post(url: str, body: bytes, headers: dict[str, str]) -> int | str:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return ERROR


def test_its_receiver_goes_down_answers_503_and_comes_back_on_the_same_port():
    secret, body = webhooks.new_secret(), b'{"n":1}'
    receiver = Receiver(secret)
    receiver.start()
    try:
        url, port = receiver.url, receiver.port
        assert _post(url, body, _signed(secret, body, "msg_1")) == 200
        assert _post(url, body, _signed(webhooks.new_secret(), body, "msg_2")) == 401
        receiver.stop()
        assert _post(url, body, _signed(secret, body, "msg_2")) == ERROR  # refused
        receiver.unavailable()
        assert receiver.port == port
        assert _post(url, body, _signed(secret, body, "msg_2")) == 503
        receiver.start()
        assert _post(url, body, _signed(secret, body, "msg_2")) == 200
        assert _post(url, body, _signed(secret, body, "msg_1")) == 200
    finally:
        receiver.stop()
    assert set(receiver.ledger.accepted) == {"msg_1", "msg_2"}
    assert receiver.ledger.duplicates_after_2xx == 1
    assert receiver.ledger.bad_signatures == 1


def test_its_probe_counts_answers_and_refusals():
    receiver = Receiver()  # answers GET with 501: http.server has no do_GET here
    receiver.start()
    port = receiver.port
    try:
        probe = Probe([Target("hook", receiver.url)], timeout=2)
        assert probe.ask(probe.targets[0]) == "501"
    finally:
        receiver.stop()
    assert probe.ask(Target("gone", f"http://127.0.0.1:{port}/")) == ERROR


# --- The app's knob the chaos run turns ----------------------------------------------------------


def test_it_scales_the_webhook_retry_waits(settings):
    settings.WEBHOOK_RETRY_SCALE = 0.001
    waits = [webhooks.retry_wait(n).total_seconds() for n in (1, 2, 3)]
    # Nominal 5 s, 5 min and 30 min, a thousandth of each, jittered by up to 15 %.
    for wait, nominal in zip(waits, (0.005, 0.3, 1.8), strict=True):
        assert nominal * 0.85 <= wait <= nominal * 1.15
    settings.WEBHOOK_RETRY_SCALE = 1.0
    assert 4.25 <= webhooks.retry_wait(1).total_seconds() <= 5.75
