"""The AWS template (deployments/aws/infrastructure.yml): lint, least privilege, and a
deployment of its storage side on moto that decides an application.

* ``cfn-lint`` finds nothing (errors, warnings or informational).
* Every IAM statement (role policies, the KMS key policy, bucket, queue and endpoint
  policies) allows no wildcard action, and every allowed resource is scoped: an ARN of
  this stack's resources or a named parameter, or ``*`` only where IAM has no resource
  type for the action (listed below) or in the key policy (where ``*`` is the key).
* ``DeployCompute=false`` deploys the KMS key, bucket, queues, alarms, IAM roles and
  the S3 endpoint with CloudFormation on moto's server. moto's CloudFormation creates
  the bucket with its encryption only and skips policies, alarms and secrets (types it
  does not implement); the test applies exactly those properties from the template
  through each service's API (so the values in the template are what is checked) and
  fails on any other resource nobody created. Then an application lands in the
  stack's bucket, S3 notifies the stack's queue, the bridge reads it, and every event
  the process-application trigger (prefect.yaml: its match and parameter templates,
  evaluated by Prefect's own code) would start is run as that flow in this process, on
  the session's Prefect API: one decision, as make up would make it (the full server,
  trigger and worker path is tests/e2e/test_events.py).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from kyc import metrics, runtime
from tests.fixtures.s3 import REGION
from tests.fixtures.trigger import trigger_parameters

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deployments" / "aws" / "infrastructure.yml"

#: Actions that have no resource type in IAM (the Service Authorization Reference):
#: "*" is the only resource they can be granted on.
NO_RESOURCE_TYPE = {
    "textract:AnalyzeID",
    "rekognition:CompareFaces",
    "rekognition:GetFaceLivenessSessionResults",
    "ecr:GetAuthorizationToken",
}


def load_template() -> dict[str, Any]:
    """The template with its short-form tags as CloudFormation reads them."""
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    assert not errors, errors
    assert template is not None
    return dict(template)


# --------------------------------------------------------------------------------------
# static checks
# --------------------------------------------------------------------------------------


def test_cfn_lint_is_clean() -> None:
    lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert lint, "cfn-lint is in requirements.txt; run make setup"
    done = subprocess.run(
        [lint, "--format", "parseable", str(TEMPLATE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def _secret_refs(container: dict[str, Any]) -> dict[str, Any]:
    """A container definition's secrets: variable name -> ValueFrom (under its condition)."""
    out: dict[str, Any] = {}
    for item in container.get("Secrets", []):
        if isinstance(item, dict) and "Fn::If" in item:
            _, item, _ = item["Fn::If"]
        out[item["Name"]] = item["ValueFrom"]
    return out


def test_the_prefect_api_credential_is_a_secret_the_workers_and_the_bridge_send() -> None:
    template = load_template()
    assert template["Parameters"]["PrefectApiAuthString"]["NoEcho"] is True
    resources = template["Resources"]
    secret = resources["PrefectApiAuth"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    ref = {"Ref": "PrefectApiAuth"}
    worker = resources["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    bridge = resources["BridgeTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert _secret_refs(worker)["PREFECT_API_AUTH_STRING"] == ref
    assert _secret_refs(worker)["KYC_PREFECT_AUTH_STRING"] == ref  # the Apify webhook's
    assert _secret_refs(bridge)["PREFECT_API_AUTH_STRING"] == ref
    # Never a plain environment variable (visible in the task definition).
    for container in (worker, bridge):
        names = json.dumps(container.get("Environment", []))
        assert "AUTH_STRING" not in names
    # The execution role may read it to inject it.
    policies = resources["ExecutionRole"]["Properties"]["Policies"]
    assert "PrefectApiAuth" in json.dumps(policies)


def _statements(
    node: Any, where: str, key_policy: bool = False
) -> Iterator[tuple[str, bool, dict[str, Any]]]:
    """Every policy statement under ``node``: (where, in a KMS key policy, statement)."""
    if isinstance(node, dict):
        if "Statement" in node and "Version" in node:
            statements = node["Statement"]
            for index, st in enumerate(
                statements if isinstance(statements, list) else [statements]
            ):
                yield f"{where}.Statement[{index}]", key_policy, st
            return
        for key, value in node.items():
            yield from _statements(value, f"{where}.{key}", key_policy or key == "KeyPolicy")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _statements(value, f"{where}[{index}]", key_policy)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _scoped(resource: Any, template: dict[str, Any]) -> bool:
    """A resource reference that names one thing of this stack or a given ARN."""
    if isinstance(resource, dict):
        ((fn, arg),) = resource.items()
        if fn == "Ref":
            return arg in template["Resources"] or arg in template["Parameters"]
        if fn == "Fn::GetAtt":
            name = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            return name in template["Resources"]
        if fn == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            return _scoped(text, template)
        if fn == "Fn::If":
            # A branch of AWS::NoValue drops the list item: it grants nothing.
            return all(
                _scoped(r, template)
                for branch in arg[1:]
                if branch != {"Ref": "AWS::NoValue"}
                for r in _as_list(branch)
            )
        return False
    text = str(resource)
    if not text.startswith("arn:${AWS::Partition}:"):
        return False
    for pseudo, value in (
        ("${AWS::Partition}", "aws"),
        ("${AWS::Region}", REGION),
        ("${AWS::AccountId}", "123456789012"),
    ):
        text = text.replace(pseudo, value)
    _, _, service, _, _, name = text.split(":", 5)
    if "*" not in name:
        return bool(name)
    # A wildcard only for the objects under a named bucket (and prefix): "b/p/*".
    return (
        service == "s3"
        and name.endswith("/*")
        and "*" not in name[:-2]
        and not name.startswith("/")
    )


def least_privilege_problems(template: dict[str, Any]) -> list[str]:
    """What breaks the least-privilege rules; empty when the template keeps them."""
    problems = []
    found = 0
    for where, key_policy, st in _statements(template["Resources"], "Resources"):
        found += 1
        actions = [str(a) for a in _as_list(st.get("Action", []))]
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: NotAction/NotResource")
        if st.get("Effect") == "Deny":
            # A deny may cover a whole service (TLS only), but only under a condition.
            if not st.get("Condition"):
                problems.append(f"{where}: a Deny without a condition")
            continue
        wild = [a for a in actions if "*" in a]
        if wild:
            problems.append(f"{where}: wildcard action {wild}")
        if "Resource" not in st:
            continue  # trust policies name principals, not resources
        for resource in _as_list(st["Resource"]):
            if resource == "*":
                if key_policy or set(actions) <= NO_RESOURCE_TYPE:
                    continue
                problems.append(f"{where}: Resource '*' for {actions}")
            elif not _scoped(resource, template):
                problems.append(f"{where}: unscoped resource {resource!r}")
    if found < 10:
        problems.append(f"only {found} statements found: the walk is broken")
    return problems


def test_no_wildcard_actions_and_every_resource_scoped() -> None:
    template = load_template()
    assert least_privilege_problems(template) == []
    # What the pipeline's roles need is there (and nothing of the kind "s3:*").
    worker = json.dumps(template["Resources"]["WorkerTaskRole"])
    for action in (
        "textract:AnalyzeID",
        "rekognition:CompareFaces",
        "rekognition:GetFaceLivenessSessionResults",
        "s3:GetObject",
        "kms:Decrypt",
    ):
        assert action in worker
    bridge = json.dumps(template["Resources"]["BridgeTaskRole"])
    assert "sqs:ReceiveMessage" in bridge and "sqs:DeleteMessage" in bridge


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:${AWS::Partition}:s3:::b/*"},
            "wildcard action",
        ),
        (
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:${AWS::Partition}:s3:::b/*"},
            "wildcard action",
        ),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, "Resource '*'"),
        (
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:${AWS::Partition}:s3:::*",
            },
            "unscoped",
        ),
        (
            {"Effect": "Allow", "Action": ["textract:AnalyzeID", "s3:GetObject"], "Resource": "*"},
            "Resource '*'",
        ),
        (
            {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:${AWS::Partition}:s3:::b"},
            "Deny without",
        ),
    ],
)
def test_the_check_catches_what_it_must(statement: dict[str, Any], expected: str) -> None:
    template = load_template()
    bad = copy.deepcopy(template)
    policy = bad["Resources"]["WorkerTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append(statement)
    problems = least_privilege_problems(bad)
    assert len(problems) == 1 and expected in problems[0], problems


# --------------------------------------------------------------------------------------
# deployed on moto
# --------------------------------------------------------------------------------------


def _cfn_lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": ""}}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "ExpiredObjectDeleteMarker" in rule:
        api["Expiration"] = {"ExpiredObjectDeleteMarker": bool(rule["ExpiredObjectDeleteMarker"])}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(
                rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            )
        }
    return api


def _bucket_rest(s3: Any, bucket: str, props: dict[str, Any]) -> set[str]:
    """Apply the bucket properties moto's CloudFormation ignores; returns what was applied."""
    applied = set()
    s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"]
    )
    applied.add("VersioningConfiguration")
    lock = copy.deepcopy(props["ObjectLockConfiguration"])
    for rule in [lock.get("Rule", {}).get("DefaultRetention")]:
        if rule:
            rule["Days"] = int(rule["Days"])
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=lock)
    applied |= {"ObjectLockEnabled", "ObjectLockConfiguration"}
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    applied.add("PublicAccessBlockConfiguration")
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
    applied.add("OwnershipControls")
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [_cfn_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
        },
    )
    applied.add("LifecycleConfiguration")
    queues = [
        {
            "QueueArn": q["Queue"],
            "Events": [q["Event"]],
            "Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}},
        }
        for q in props["NotificationConfiguration"]["QueueConfigurations"]
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
    )
    applied.add("NotificationConfiguration")
    return applied


def complete_moto_deployment(stack_name: str, endpoint: str) -> dict[str, str]:
    """Apply what moto's CloudFormation skipped, from the template's resolved properties.

    Properties are resolved (Ref, GetAtt, Sub, If, conditions) by moto's own
    CloudFormation parser against the stack it created, so what is applied is what
    CloudFormation would have applied.

    Returns:
        logical id -> how it got deployed, for every resource whose condition holds.
    """
    import boto3
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json
    from moto.core import DEFAULT_ACCOUNT_ID

    backend = cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION]
    (stack,) = [s for s in backend.stacks.values() if s.name == stack_name]
    resources = stack.resource_map
    template = stack.template_dict["Resources"]
    client = {
        n: boto3.client(n, endpoint_url=endpoint, region_name=REGION)
        for n in ("s3", "sqs", "cloudwatch", "secretsmanager")
    }
    how: dict[str, str] = {}
    for logical_id, spec in template.items():
        condition = spec.get("Condition")
        if condition and not resources.lazy_condition_map[condition]:
            continue
        props = clean_json(spec.get("Properties", {}), resources)
        kind = spec["Type"]
        created = resources[logical_id] is not None
        if kind == "AWS::S3::Bucket":
            assert created
            rest = _bucket_rest(client["s3"], props["BucketName"], props)
            # moto's CloudFormation applies these itself.
            assert set(props) - rest == {"BucketName", "BucketEncryption"}, set(props) - rest
            how[logical_id] = "cloudformation + S3 API"
        elif kind == "AWS::KMS::Key":
            assert created
            key = resources[logical_id]
            # moto's CloudFormation keeps the key policy as a dict where its KMS API
            # expects the JSON text (every call on the key then fails): store it as text.
            if isinstance(key.policy, dict):
                key.policy = json.dumps(key.policy)
            how[logical_id] = "cloudformation"
        elif kind == "AWS::S3::BucketPolicy":
            client["s3"].put_bucket_policy(
                Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"])
            )
            how[logical_id] = "S3 API"
        elif kind == "AWS::SQS::QueuePolicy":
            for url in props["Queues"]:
                client["sqs"].set_queue_attributes(
                    QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
                )
            how[logical_id] = "SQS API"
        elif kind == "AWS::CloudWatch::Alarm":
            args = {k: v for k, v in props.items() if k not in {"AlarmActions", "OKActions"} or v}
            for number in ("Period", "EvaluationPeriods"):
                args[number] = int(args[number])
            args["Threshold"] = float(args["Threshold"])
            client["cloudwatch"].put_metric_alarm(AlarmName=f"{stack_name}-{logical_id}", **args)
            how[logical_id] = "CloudWatch API"
        elif kind == "AWS::SecretsManager::Secret":
            client["secretsmanager"].create_secret(Name=f"{stack_name}-{logical_id}", **props)
            how[logical_id] = "Secrets Manager API"
        else:
            assert created, f"{logical_id} ({kind}) was neither created nor applied"
            how[logical_id] = "cloudformation"
    return how


def _role_policy(iam: Any, role: str, name: str) -> dict[str, Any]:
    """An inline policy of a role as deployed."""
    import ast

    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        # moto's CloudFormation stores inline policies as the Python repr of the dict.
        document = ast.literal_eval(document)
    return dict(document)


@pytest.fixture
def network(aws_env: None, moto_endpoint: str) -> dict[str, str]:
    """A VPC with two private subnets and their route table (the template's inputs)."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    return {"VpcId": vpc, "PrivateSubnetIds": ",".join(subnets), "PrivateRouteTableIds": table}


class TriggerRunner:
    """What the process-application trigger and a worker do with the bridge's events:
    the trigger's match and parameters (tests/fixtures/trigger.py), then the flow, here."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.parameters: list[dict[str, Any]] = []
        self.outcomes: list[Any] = []

    def emit(self, objects: Sequence[Any]) -> None:
        from deployments.bridge import build_event
        from flows.process_application import process_application

        for obj in objects:
            event = build_event(obj)
            self.events.append(event)
            params = trigger_parameters(event)
            if params is not None:
                self.parameters.append(params)
                self.outcomes.append(process_application(**params))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
# What the template deploys does not depend on the database server (tests/db covers both).
@pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)
def test_storage_side_deploys_on_moto_and_the_landing_path_decides(
    network: dict[str, str],
    moto_endpoint: str,
    prefect_api: None,
    fresh_pg_url: str,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from deployments.bridge import SqsBridge
    from kyc.storage.local import LocalStore
    from tests.services.conftest import land

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=moto_endpoint, region_name=REGION)

    cfn, s3, sqs, iam = client("cloudformation"), client("s3"), client("sqs"), client("iam")
    stack = f"kyc-{uuid.uuid4().hex[:8]}"
    bucket = f"{stack}-landing"
    params = network | {"LandingBucketName": bucket, "DeployCompute": "false"}
    cfn.create_stack(
        StackName=stack,
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    how = complete_moto_deployment(stack, moto_endpoint)
    assert how["LandingBucket"] == "cloudformation + S3 API"
    assert "Database" not in how and "WorkerService" not in how  # DeployCompute=false
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}

    # What the template promises, as deployed.
    assert outputs["Landing"] == f"s3://{bucket}"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": outputs["DataKeyArn"],
    }
    key = client("kms").describe_key(KeyId=outputs["DataKeyArn"])["KeyMetadata"]
    assert key["KeyState"] == "Enabled"
    assert client("kms").get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    assert (lock["ObjectLockEnabled"], retention["Mode"], retention["Days"]) == (
        "Enabled",
        "GOVERNANCE",
        30,
    )
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Statement"][0]["Resource"] == [
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{bucket}/*",
    ]
    # moto evaluates a bucket policy's conditions without the request's context (no
    # aws:SecureTransport, no s3:TlsVersion), so the TLS-only denies match every
    # request, HTTPS or not: with the policy in place nothing could land here.
    with pytest.raises(s3.exceptions.ClientError, match="403"):
        s3.put_object(Bucket=bucket, Key="incoming/x/probe.txt", Body=b"")
    s3.delete_bucket_policy(Bucket=bucket)
    queue_url, dlq_url = outputs["NotificationQueueUrl"], outputs["DeadLetterQueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 5,
    }
    assert json.loads(attrs["Policy"])["Statement"][0]["Principal"] == {
        "Service": "s3.amazonaws.com"
    }
    (notify,) = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert notify["QueueArn"] == attrs["QueueArn"]
    assert notify["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix=stack)["MetricAlarms"]
    assert sorted(a["Dimensions"][0]["Value"] for a in alarms) == sorted(
        [queue_url.rsplit("/", 1)[1], dlq_url.rsplit("/", 1)[1]]
    )
    roles = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::IAM::Role"
    }
    assert set(roles) == {"WorkerTaskRole", "BridgeTaskRole", "WebTaskRole"}
    engines = _role_policy(iam, roles["WorkerTaskRole"], "engines")
    assert engines["Statement"][0]["Action"] == [
        "textract:AnalyzeID",
        "rekognition:CompareFaces",
        "rekognition:GetFaceLivenessSessionResults",
    ]
    consume = _role_policy(iam, roles["BridgeTaskRole"], "notifications")["Statement"][0]
    assert consume["Resource"] == attrs["QueueArn"]  # resolved to the stack's queue

    # The pipeline on the stack's outputs (deployments/aws/README.md's mapping).
    for name, value in {
        "KYC_LANDING": outputs["Landing"],
        "KYC_SQS_QUEUE_URL": queue_url,
        "KYC_SQS_DLQ_URL": dlq_url,
        "KYC_KMS_KEY_ID": outputs["DataKeyArn"],
        "KYC_AWS_REGION": outputs["Region"],
        "KYC_S3_ENDPOINT_URL": moto_endpoint,
        "KYC_SQS_ENDPOINT_URL": moto_endpoint,
        "KYC_KMS_ENDPOINT_URL": moto_endpoint,
        "KYC_DATABASE_URL": fresh_pg_url,
        "KYC_LIVENESS_POLICY": "record",
    }.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    try:
        staged = LocalStore(tmp_path / "staged")
        landed = land(staged, shared_data, identity=0)
        objects = sorted(staged.list("incoming/"), key=lambda o: "selfie" in o.key)
        for obj in objects:  # as DataSync or the intake API would: the selfie last
            s3.put_object(Bucket=bucket, Key=obj.key, Body=staged.get(obj.key))
        s3.put_object(Bucket=bucket, Key="elsewhere/readme.txt", Body=b"not an application")

        def counted(name: str, **labels: str) -> float:
            return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

        decided = counted("kyc_decisions_total", decision="PASS", source="pipeline")
        scans = counted("kyc_stage_seconds_count", stage="scan-document", outcome="ok")
        runner = TriggerRunner()
        bridge = SqsBridge(
            sqs, queue_url, outputs["Landing"], runner, dlq_url=dlq_url, wait_seconds=1
        )
        for _ in range(5):
            if bridge.poll_once() == 0 and bridge.stats.events:
                break
        # One notification per object under incoming/ (the prefix filter), one run.
        assert bridge.stats.events == len(objects) and bridge.stats.poison == 0
        (outcome,) = runner.outcomes
        (params,) = runner.parameters
        assert counted("kyc_decisions_total", decision="PASS", source="pipeline") == decided + 1
        assert counted("kyc_stage_seconds_count", stage="scan-document", outcome="ok") == scans + 1
        assert params["traceparent"] is None  # tracing is off: nothing to continue
        assert outcome.application_id == landed.application_id
        assert (outcome.status, outcome.decision) == ("DECIDED", "PASS"), outcome
        assert (
            sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
            == "0"
        )
    finally:
        runtime.reset()
