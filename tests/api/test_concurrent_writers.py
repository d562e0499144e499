"""Concurrent mixed writers, EC2 (issue 11's standing suite): several accounts'
threads interleave valid and failing writes (tags past the 50-tag limit,
duplicate key pairs, groups and rules, writes to another account's
resources; and AllocateAddress past the account's limit, the "addresses"
kind). Every call is recorded with the
outcome it must have; then, as each owner, exactly the acknowledged
resources, tags and rules exist, none of the refused ones, the limits hold,
and no account sees another's.

Bounded: a fixed set of tasks per account, shuffled with a fixed seed onto a
thread pool, joined with a timeout. Each task owns its resource names (its
expected outcomes are exact) except the race tasks, where several threads
create the same thing and exactly one must win."""
from __future__ import annotations

import random
import threading
import uuid

import boto3
from botocore.config import Config

from tests.reporting import write_summary
from tests.ledger import OK, Ledger, run_all

SEED = 11
ACCOUNTS = 4
THREADS = 16
JOIN_SECONDS = 90
MAX_TAGS = 50  # services/tags.py, as in EC2
BASE_TAGS = 40  # each tagged resource starts with these: ~10 more fit


def _rule(port: int, cidr: str) -> dict:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": cidr}]}


def _rules_of(group: dict) -> set:
    return {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
            for p in group["IpPermissions"] for r in p.get("IpRanges", [])}


def _key(rule: dict) -> tuple:
    return ("tcp", rule["FromPort"], rule["ToPort"], rule["IpRanges"][0]["CidrIp"])


class Account:
    """One account's client, its setup resources and what its tasks expect to exist."""

    def __init__(self, cloud, index: int, tag: str):
        self.index = index
        credential = cloud.new_account(f"cmw-{tag}-{index}")
        # No retries at all (the harness's max_attempts=1 is one retry): every call's
        # first answer is the one recorded.
        self.ec2 = boto3.client(
            "ec2", endpoint_url=cloud.ec2_url, region_name=cloud.settings.cloud.region,
            aws_access_key_id=credential.access_key_id,
            aws_secret_access_key=credential.secret_access_key,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                          max_pool_connections=THREADS))
        ec2 = self.ec2
        self.keys = {}  # name -> id, as expected at the end
        for name in ("t0", "t1"):
            self.keys[name] = ec2.create_key_pair(KeyName=name, KeyType="ed25519")["KeyPairId"]
        self.groups = {"default": ec2.describe_security_groups(
            GroupNames=["default"])["SecurityGroups"][0]["GroupId"]}
        self.rules = {}  # group id -> expected ingress rules (of those the tasks made)
        for name in ("tagged", "rules"):
            gid = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
            self.groups[name], self.rules[gid] = gid, set()
        self.addresses = {ec2.allocate_address(Domain="vpc")["AllocationId"]}
        self.tagged = [self.keys["t0"], self.keys["t1"], self.groups["tagged"],
                       next(iter(self.addresses))]
        self.tags = {}  # resource id -> {key: value}, expected
        for rid in self.tagged:
            base = {f"base{i}": "v" for i in range(BASE_TAGS)}
            ec2.create_tags(Resources=[rid], Tags=[{"Key": k, "Value": v}
                                                   for k, v in base.items()])
            self.tags[rid] = base
        self.refused_batches = {rid: [] for rid in self.tagged}  # new keys of refused batches
        self.allocations = []  # (acknowledged, allocation id or code)
        self.races = []  # (what, [acknowledged?...])
        self.lock = threading.Lock()


KINDS = frozenset({"keys", "tags", "groups", "intrusions", "addresses"})


def _tasks(accounts: list[Account], ledger: Ledger, rng: random.Random, kinds) -> list:
    tasks = []

    def add(kind, *fns):
        if kind in kinds:
            tasks.extend(fns)
    for a in accounts:
        i = a.index
        victim = accounts[(i + 1) % len(accounts)]

        # Key pairs: three names each created by three racing threads.
        for n in range(3):
            name, wins = f"race{n}", []

            def race_key(name=name, wins=wins, a=a):
                ok, resp = ledger.call(a.index, "CreateKeyPair", a.ec2.create_key_pair,
                                       {OK, "InvalidKeyPair.Duplicate"}, name,
                                       KeyName=name, KeyType="ed25519")
                with a.lock:
                    wins.append(resp["KeyPairId"] if ok else None)
                    if ok:
                        a.keys[name] = resp["KeyPairId"]
            add("keys", *[race_key] * 3)
            if "keys" in kinds:
                a.races.append((f"CreateKeyPair {name}", wins))

        # Key pairs: create, duplicate, delete, (create again): exact outcomes.
        for n in range(4):
            def key_sequence(name=f"seq{n}", again=n % 2 == 0, a=a):
                call, ec2 = ledger.call, a.ec2
                ok, resp = call(a.index, "CreateKeyPair", ec2.create_key_pair, OK, name,
                                KeyName=name, KeyType="ed25519")
                call(a.index, "CreateKeyPair", ec2.create_key_pair,
                     "InvalidKeyPair.Duplicate", name, KeyName=name, KeyType="ed25519")
                call(a.index, "DeleteKeyPair", ec2.delete_key_pair, OK, name, KeyName=name)
                if again:
                    ok, resp = call(a.index, "CreateKeyPair", ec2.create_key_pair, OK, name,
                                    KeyName=name, KeyType="ed25519")
                    with a.lock:
                        a.keys[name] = resp.get("KeyPairId")
            add("keys", key_sequence)

        # Tags: batches of new keys racing for the ~10 free places on each resource,
        # a batch over the limit on its own, and an overwrite of an existing tag.
        for rid in a.tagged:
            for n in range(8):
                batch = {f"b{n}-{j}": f"{i}-{n}-{j}" for j in range(rng.randint(1, 4))}

                def tag_batch(rid=rid, batch=batch, a=a):
                    ok, _ = ledger.call(a.index, "CreateTags", a.ec2.create_tags,
                                        {OK, "ResourceLimitExceeded"}, rid, Resources=[rid],
                                        Tags=[{"Key": k, "Value": v} for k, v in batch.items()])
                    with a.lock:
                        if ok:
                            a.tags[rid].update(batch)
                        else:
                            a.refused_batches[rid].append(set(batch))
                add("tags", tag_batch)

            def too_many(rid=rid, a=a):
                ledger.call(a.index, "CreateTags", a.ec2.create_tags, "ResourceLimitExceeded",
                            rid, Resources=[rid],
                            Tags=[{"Key": f"over{j}", "Value": "x"} for j in range(MAX_TAGS + 1)])

            def overwrite(rid=rid, a=a):
                ok, _ = ledger.call(a.index, "CreateTags", a.ec2.create_tags, OK, rid,
                                    Resources=[rid], Tags=[{"Key": "base0", "Value": "new"}])
                with a.lock:
                    if ok:
                        a.tags[rid]["base0"] = "new"
            add("tags", too_many, overwrite)

        # A batch naming two resources, one of them another account's: nothing lands.
        def mixed_batch(a=a, victim=victim):
            ledger.call(a.index, "CreateTags", a.ec2.create_tags, "InvalidKeyPair.NotFound",
                        "own+other", Resources=[a.groups["tagged"], victim.keys["t0"]],
                        Tags=[{"Key": "intruder", "Value": str(a.index)}])
        add("intrusions", mixed_batch)

        # Security groups: one name created by two racing threads.
        wins = []

        def race_group(a=a, wins=wins):
            ok, resp = ledger.call(a.index, "CreateSecurityGroup", a.ec2.create_security_group,
                                   {OK, "InvalidGroup.Duplicate"}, "g-race",
                                   GroupName="g-race", Description="race")
            with a.lock:
                wins.append(ok)
                if ok:
                    a.groups["g-race"] = resp["GroupId"]
                    a.rules[resp["GroupId"]] = set()
        add("groups", *[race_group] * 2)
        if "groups" in kinds:
            a.races.append(("CreateSecurityGroup g-race", wins))

        # One rule authorized by three racing threads on the same group.
        rule_wins = []

        def race_rule(a=a, wins=rule_wins):
            gid = a.groups["rules"]
            ok, _ = ledger.call(a.index, "AuthorizeSecurityGroupIngress",
                                a.ec2.authorize_security_group_ingress,
                                {OK, "InvalidPermission.Duplicate"}, "race rule",
                                GroupId=gid, IpPermissions=[_rule(22, "10.0.0.0/8")])
            with a.lock:
                wins.append(ok)
                if ok:
                    a.rules[gid].add(_key(_rule(22, "10.0.0.0/8")))
        add("groups", *[race_rule] * 3)
        if "groups" in kinds:
            a.races.append(("Authorize tcp/22 10.0.0.0/8", rule_wins))

        # Groups with exact sequences: create, rules, duplicate rules (alone and
        # beside a new one: the new one must not land), duplicate group.
        for n in range(3):
            def group_sequence(name=f"g{n}", n=n, a=a):
                call, ec2 = ledger.call, a.ec2
                ok, resp = call(a.index, "CreateSecurityGroup", ec2.create_security_group, OK,
                                name, GroupName=name, Description=name)
                gid = resp.get("GroupId")
                with a.lock:
                    a.groups[name], a.rules[gid] = gid, set()
                first, second = _rule(80 + n, "192.0.2.0/24"), _rule(443, f"198.18.{n}.0/24")
                authorize = ec2.authorize_security_group_ingress
                ok1, _ = call(a.index, "AuthorizeSecurityGroupIngress", authorize, OK, name,
                              GroupId=gid, IpPermissions=[first])
                call(a.index, "AuthorizeSecurityGroupIngress", authorize,
                     "InvalidPermission.Duplicate", name, GroupId=gid, IpPermissions=[first])
                call(a.index, "AuthorizeSecurityGroupIngress", authorize,
                     "InvalidPermission.Duplicate", name + " new+dup", GroupId=gid,
                     IpPermissions=[second, first])
                ok2 = False
                if n != 1:  # g1 keeps only its first rule: the refused one must not appear
                    ok2, _ = call(a.index, "AuthorizeSecurityGroupIngress", authorize, OK, name,
                                  GroupId=gid, IpPermissions=[second])
                call(a.index, "CreateSecurityGroup", ec2.create_security_group,
                     "InvalidGroup.Duplicate", name, GroupName=name, Description="again")
                with a.lock:
                    a.rules[gid] |= {_key(r) for r, ok in ((first, ok1), (second, ok2)) if ok}
            add("groups", group_sequence)

        # Addresses: 7 more attempts with one held and a limit of 5.
        def allocate(a=a):
            ok, resp = ledger.call(a.index, "AllocateAddress", a.ec2.allocate_address,
                                   {OK, "AddressLimitExceeded", "InsufficientAddressCapacity"},
                                   Domain="vpc")
            with a.lock:
                a.allocations.append((ok, resp["AllocationId"] if ok else
                                      resp["Error"]["Code"]))
                if ok:
                    a.addresses.add(resp["AllocationId"])
        add("addresses", *[allocate] * 7)

        # Another account's resources: "not found", and nothing changes for their owner.
        def intrude(a=a, v=victim):
            call, ec2 = ledger.call, a.ec2
            call(a.index, "CreateTags", ec2.create_tags, "InvalidKeyPair.NotFound", "other key",
                 Resources=[v.keys["t1"]], Tags=[{"Key": "intruder", "Value": "x"}])
            call(a.index, "CreateTags", ec2.create_tags, "InvalidGroup.NotFound", "other sg",
                 Resources=[v.groups["tagged"]], Tags=[{"Key": "intruder", "Value": "x"}])
            call(a.index, "CreateTags", ec2.create_tags, "InvalidAllocationID.NotFound",
                 "other eip", Resources=[v.tagged[3]], Tags=[{"Key": "intruder", "Value": "x"}])
            call(a.index, "AuthorizeSecurityGroupIngress", ec2.authorize_security_group_ingress,
                 "InvalidGroup.NotFound", "other sg", GroupId=v.groups["rules"],
                 IpPermissions=[_rule(3389, "0.0.0.0/0")])
            call(a.index, "DeleteKeyPair", ec2.delete_key_pair, "InvalidKeyPair.NotFound",
                 "other key", KeyPairId=v.keys["t1"])
            call(a.index, "DeleteSecurityGroup", ec2.delete_security_group,
                 "InvalidGroup.NotFound", "other sg", GroupId=v.groups["tagged"])
            call(a.index, "ReleaseAddress", ec2.release_address, "InvalidAllocationID.NotFound",
                 "other eip", AllocationId=v.tagged[3])
            call(a.index, "DeleteTags", ec2.delete_tags, "InvalidKeyPair.NotFound", "other key",
                 Resources=[v.keys["t0"]], Tags=[{"Key": "base1"}])
        add("intrusions", intrude)
    rng.shuffle(tasks)
    return tasks


def _check(account: Account, others: list[Account], kinds) -> int:
    """Compare what the owner sees with what was acknowledged; returns the checks made."""
    ec2, checked = account.ec2, 0
    who = f"account {account.index}"

    keys = {k["KeyName"]: k["KeyPairId"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert keys == account.keys, f"{who}: key pairs {keys} != acknowledged {account.keys}"
    checked += len(keys)

    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert {g["GroupName"]: g["GroupId"] for g in groups} == account.groups, who
    for g in groups:
        if g["GroupId"] in account.rules:
            assert _rules_of(g) == account.rules[g["GroupId"]], \
                f"{who}: {g['GroupName']} rules {_rules_of(g)} != {account.rules[g['GroupId']]}"
            checked += 1 + len(account.rules[g["GroupId"]])

    held = {x["AllocationId"] for x in ec2.describe_addresses()["Addresses"]}
    assert held == account.addresses, f"{who}: addresses {held} != {account.addresses}"
    assert len(held) <= 5, f"{who}: {len(held)} addresses past the limit of 5"
    if "addresses" in kinds and not any(code == "InsufficientAddressCapacity"
                                        for ok, code in account.allocations):
        assert len(held) == 5, f"{who}: refused addresses below the limit ({len(held)} held)"
    checked += len(held) + 1

    tags = {}
    for t in ec2.describe_tags(MaxResults=1000)["Tags"]:
        tags.setdefault(t["ResourceId"], {})[t["Key"]] = t["Value"]
    assert set(tags) == set(account.tagged), f"{who}: tags on {set(tags) - set(account.tagged)}"
    for rid, wanted in account.tags.items():
        missing, extra = wanted.keys() - tags[rid].keys(), tags[rid].keys() - wanted.keys()
        assert tags[rid] == wanted, \
            f"{who}: {rid} tags: missing {sorted(missing)}, extra {sorted(extra)}"
        assert len(tags[rid]) <= MAX_TAGS
        for batch in account.refused_batches[rid]:  # refused only if it did not fit
            assert len(tags[rid]) + len(batch) > MAX_TAGS, \
                f"{who}: {rid}: a batch of {len(batch)} refused with {len(tags[rid])} tags"
        checked += len(wanted)

    for what, wins in account.races:
        assert sum(1 for w in wins if w) == 1, f"{who}: {what}: {wins} acknowledged"
        checked += 1

    for other in others:  # nothing of anyone else is visible, nor was anything of theirs changed
        assert not set(keys.values()) & set(other.keys.values())
        assert not {g["GroupId"] for g in groups} & set(other.groups.values())
        assert not held & other.addresses
        assert not set(tags) & set(other.tagged)
        checked += 4
    return checked


def run_mixed_writers(cloud, kinds=KINDS, title="EC2") -> None:
    """The suite: set up the accounts, run the shuffled tasks, check as each owner."""
    tag = uuid.uuid4().hex[:6]
    accounts = [Account(cloud, i, tag) for i in range(ACCOUNTS)]
    ledger = Ledger()
    tasks = _tasks(accounts, ledger, random.Random(SEED), kinds)
    try:
        run_all(tasks, THREADS, JOIN_SECONDS)
        ledger.assert_expected()
        checked = sum(_check(a, [o for o in accounts if o is not a], kinds) for a in accounts)
    finally:
        for a in accounts:  # give the addresses back to the session's pool
            for x in a.ec2.describe_addresses()["Addresses"]:
                a.ec2.release_address(AllocationId=x["AllocationId"])
    acked, refused = ledger.counts()
    write_summary(f"concurrent writers ({title}): {ACCOUNTS} accounts, {len(tasks)} "
                           f"tasks on {THREADS} threads: {acked} acknowledged, {refused} "
                           f"refused, {checked} checked, 0 lost")


def test_concurrent_mixed_writers_keep_exactly_what_was_acknowledged(cloud):
    """Key pairs, tags, groups and rules, elastic addresses past the account's
    limit, and writes to other accounts' resources."""
    run_mixed_writers(cloud, KINDS, "EC2")
