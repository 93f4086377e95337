"""One Policy decides from many threads at once, as it does from one."""

import json
import threading

import bylaw

from conftest import SCENARIO


def test_eight_threads_deciding_at_once_get_the_sequential_answers():
    policy = bylaw.load(SCENARIO / "guard.bylaw")
    lines = (SCENARIO / "requests.jsonl").read_text().splitlines()[:4000]
    requests = [json.loads(line) for line in lines]
    expected = [r.pop("expected") for r in requests]
    sequential = [policy.decide(r).to_dict() for r in requests]
    assert [d["outcome"] for d in sequential] == expected

    results = [None] * 8
    errors = []
    start = threading.Barrier(8)

    def work(index):
        try:
            start.wait()
            # Each thread walks the requests from its own offset, so that threads
            # decide different requests at the same moment.
            order = requests[index * 500 :] + requests[: index * 500]
            got = [policy.decide(r).to_dict() for r in order]
            results[index] = got[len(requests) - index * 500 :] + got[: len(requests) - index * 500]
            batch = policy.decide_many(requests[:200])
            assert [d.to_dict() for d in batch] == sequential[:200]
        except Exception as e:  # noqa: BLE001 - reported below with the thread's index
            errors.append((index, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for got in results:
        assert got == sequential


def test_a_governor_is_shared_between_threads_and_counts_every_decision():
    policy = bylaw.load(SCENARIO.parent.parent / "examples" / "genai_chat.bylaw")
    governor = bylaw.Governor(policy)
    request = json.loads(
        (SCENARIO.parent.parent / "examples" / "requests" / "chat_eu_medical.json").read_text()
    )
    jailbreak = {**request, "scores": {"toxicity": 0.0, "jailbreak": 0.95}}
    at = "2026-12-07T10:00:00Z"

    def work():
        for _ in range(10):
            governor.decide(jailbreak, now=at)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 80 jailbreak attempts within 10 minutes: `jailbreak_wave` (>= 50) suspended chat.
    (chat,) = governor.status(now=at)["services"]
    assert chat["name"] == "chat"
    assert chat["state"]["state"] == "suspended" or "suspended" in chat["label"]
