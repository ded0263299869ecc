"""Each moto gap that local/moto_fixes.py works around is still there.

Each check runs plain moto (without our fixes) in a fresh interpreter and prints GAP while moto still
behaves differently from AWS. When one of these tests fails, moto has mended that gap: remove the
matching fix from local/moto_fixes.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = textwrap.dedent(
    """
    import json, os, threading, time
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    from moto import mock_aws

    def table(ddb):
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])

    def waiting_machine(sfn, states=2):
        names = [f"Wait{i}" for i in range(states)]
        definition = {"StartAt": names[0], "States": {
            name: {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem.waitForTaskToken",
                   "Parameters": {"TableName": "t", "Item": {"pk": {"S": name}, "token": {"S.$": "$$.Task.Token"}}},
                   "ResultPath": None, **({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})}
            for i, name in enumerate(names)}}
        return sfn.create_state_machine(name="m", definition=json.dumps(definition),
                                        roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]

    def token(ddb, name):
        for _ in range(500):
            item = ddb.get_item(TableName="t", Key={"pk": {"S": name}}).get("Item")
            if item:
                return item["token"]["S"]
            time.sleep(0.01)
        raise AssertionError("no token")
    """
)

CHECKS = {
    "ALL_OLD is read before the write": """
        from moto.dynamodb.models import DynamoDBBackend
        original = DynamoDBBackend.update_item
        def with_concurrent_writer(self, *args, **kwargs):
            # Another client's write lands between moto's read of the old item and its own write.
            if not getattr(with_concurrent_writer, "done", False):
                with_concurrent_writer.done = True
                original(self, "t", {"pk": {"S": "a"}}, "SET tok = :t", {}, {":t": {"S": "x"}})
            return original(self, *args, **kwargs)
        DynamoDBBackend.update_item = with_concurrent_writer
        with mock_aws():
            ddb = boto3.client("dynamodb"); table(ddb)
            old = ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET e = :e",
                                  ExpressionAttributeValues={":e": {"S": "1"}}, ReturnValues="ALL_OLD")
            item = ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]
            # AWS: the old image is the item just before this write, so it holds the other write's token.
            print("GAP" if "tok" in item and "tok" not in old.get("Attributes", {}) else "FIXED")
    """,
    "a used task token is accepted again": """
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb, sfn = boto3.client("dynamodb"), boto3.client("stepfunctions"); table(ddb)
            arn = sfn.start_execution(stateMachineArn=waiting_machine(sfn), name="e", input="{}")["executionArn"]
            first = token(ddb, "Wait0")
            sfn.send_task_success(taskToken=first, output="{}")
            token(ddb, "Wait1")  # the execution runs on, waiting at the second state
            try:
                sfn.send_task_success(taskToken=first, output="{}")
                print("GAP")
            except sfn.exceptions.TaskTimedOut:
                print("FIXED")
    """,
    "TaskTimedOut and TaskDoesNotExist cannot be constructed": """
        from moto.stepfunctions.parser.models import TaskDoesNotExist, TaskTimedOut
        broken = 0
        for error in (TaskTimedOut, TaskDoesNotExist):
            try:
                error()
            except TypeError:
                broken += 1
        print("GAP" if broken else "FIXED")
    """,
    "SendTask raises AttributeError while an execution starts": """
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
        ExecutionWorker.start = lambda self: None  # hold the execution where its worker has no environment yet
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb, sfn = boto3.client("dynamodb"), boto3.client("stepfunctions"); table(ddb)
            sfn.start_execution(stateMachineArn=waiting_machine(sfn), name="e", input="{}")
            try:
                sfn.send_task_success(taskToken="any", output="{}")
                print("FIXED")
            except AttributeError:
                print("GAP")
            except Exception:
                print("FIXED")
    """,
    "every execution parses the definition again": """
        from moto.stepfunctions.parser.asl.parse import asl_parser
        calls = []
        original = asl_parser.AmazonStateLanguageParser.parse
        asl_parser.AmazonStateLanguageParser.parse = staticmethod(lambda d: calls.append(1) or original(d))
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb, sfn = boto3.client("dynamodb"), boto3.client("stepfunctions"); table(ddb)
            machine = waiting_machine(sfn, states=1)
            before = len(calls)
            for name in ("a", "b", "c"):
                sfn.start_execution(stateMachineArn=machine, name=name, input="{}")
            time.sleep(0.5)
            print("GAP" if len(calls) - before >= 3 else "FIXED")
    """,
    "every Task state builds a new client": """
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk as sdk
        calls = []
        original = sdk.boto_client_for
        sdk.boto_client_for = lambda *a, **k: calls.append(1) or original(*a, **k)
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb, sfn = boto3.client("dynamodb"), boto3.client("stepfunctions"); table(ddb)
            sfn.start_execution(stateMachineArn=waiting_machine(sfn), name="e", input="{}")
            sfn.send_task_success(taskToken=token(ddb, "Wait0"), output="{}")
            token(ddb, "Wait1")
            print("GAP" if len(calls) >= 2 else "FIXED")
    """,
    "EventBridge cannot invoke a Lambda target": """
        with mock_aws():
            events, awslambda = boto3.client("events"), boto3.client("lambda")
            events.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
            events.put_targets(Rule="r", Targets=[{"Id": "f", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}])
            try:
                events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
                print("FIXED")
            except NotImplementedError:
                print("GAP")
    """,
    "every delivery parses its input paths again": """
        import jsonpath_ng.ext
        calls = []
        original = jsonpath_ng.ext.parse
        jsonpath_ng.ext.parse = lambda path: calls.append(path) or original(path)
        with mock_aws():
            events, sqs = boto3.client("events"), boto3.client("sqs")
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
            events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn, "InputTransformer": {
                "InputPathsMap": {"d": "$.detail"}, "InputTemplate": "<d>"}}])
            for _ in range(3):
                events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
            print("GAP" if calls.count("$.detail") >= 3 else "FIXED")
    """,
    "the interpreter parses each path again for each state it runs": """
        from moto.stepfunctions.parser.asl.utils import json_path
        calls = []
        original = json_path.parse
        json_path.parse = lambda path: calls.append(path) or original(path)
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb, sfn = boto3.client("dynamodb"), boto3.client("stepfunctions"); table(ddb)
            machine = waiting_machine(sfn)
            for name in ("e1", "e2"):
                sfn.start_execution(stateMachineArn=machine, name=name, input="{}")
                sfn.send_task_success(taskToken=token(ddb, "Wait0"), output="{}")
                ddb.delete_item(TableName="t", Key={"pk": {"S": "Wait0"}})
            print("GAP" if calls.count("$.Task.Token") >= 2 else "FIXED")
    """,
    "an UpdateExpression is parsed for each request, its passes' maps for each node": """
        from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
        from moto.dynamodb.parsing.expressions import UpdateExpressionParser
        parses, maps = [], []
        make = UpdateExpressionParser.make.__func__
        UpdateExpressionParser.make = classmethod(lambda cls, text: parses.append(text) or make(cls, text))
        original_process = DepthFirstTraverser.process
        def process(self, node):
            maps.append(id(self))
            return original_process(self, node)
        DepthFirstTraverser.process = process
        with mock_aws():
            ddb = boto3.client("dynamodb"); table(ddb)
            for _ in range(3):
                ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET a = :v, b = :v",
                                ExpressionAttributeValues={":v": {"S": "x"}})
            # DepthFirstTraverser.process looks its map up anew on each call.
            rebuilt = "self._processing_map()" in __import__("inspect").getsource(original_process)
            print("GAP" if len(parses) >= 3 and rebuilt and len(maps) > len(set(maps)) else "FIXED")
    """,
    "a Query of one partition sorts the whole table": """
        from moto.dynamodb.models.table import Table
        seen = []
        original = Table.all_items
        Table.all_items = lambda self: seen.append(len(original(self))) or original(self)
        with mock_aws():
            ddb = boto3.client("dynamodb")
            ddb.create_table(TableName="r", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}])
            for n in range(50):
                ddb.put_item(TableName="r", Item={"pk": {"S": f"p{n % 5}"}, "sk": {"S": str(n)}})
            seen.clear()
            items = ddb.query(TableName="r", KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": {"S": "p1"}})["Items"]
            assert len(items) == 10
            print("GAP" if max(seen, default=0) == 50 else "FIXED")
    """,
    "a response member's keys are worked out again for every value": """
        from moto.core.serialize import AttributePicker
        asked = []
        original = AttributePicker.get_possible_keys
        AttributePicker.get_possible_keys = lambda self, context: asked.append(context.key) or original(self, context)
        with mock_aws():
            ddb = boto3.client("dynamodb"); table(ddb)
            ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
            counts = []
            for _ in range(2):
                asked.clear()
                ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})
                counts.append(len(asked))
            print("GAP" if counts[0] > 0 and counts[1] == counts[0] else "FIXED")
    """,
    "a workflow variable cannot be read": """
        definition = {"StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"milestone": "Payment"}, "Next": "Read"},
            "Read": {"Type": "Pass", "Parameters": {"milestone.$": "$milestone"}, "End": True}}}
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            sfn = boto3.client("stepfunctions")
            machine = sfn.create_state_machine(name="v", definition=json.dumps(definition),
                                               roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            for _ in range(500):
                described = sfn.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    break
                time.sleep(0.01)
            # AWS: SUCCEEDED with {"milestone": "Payment"}.
            print("GAP" if json.loads(described.get("output") or "null") != {"milestone": "Payment"} else "FIXED")
    """,
    "an execution's end puts no event on the default bus": """
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            sfn, events, sqs = boto3.client("stepfunctions"), boto3.client("events"), boto3.client("sqs")
            url = sqs.create_queue(QueueName="ends")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name="ends", EventPattern=json.dumps({"source": ["aws.states"]}))
            events.put_targets(Rule="ends", Targets=[{"Id": "q", "Arn": arn}])
            machine = sfn.create_state_machine(name="e", definition=json.dumps(definition),
                                               roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            for _ in range(500):
                if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
                    break
                time.sleep(0.01)
            time.sleep(0.2)
            # AWS: a "Step Functions Execution Status Change" event, SUCCEEDED, on the default bus.
            print("GAP" if not sqs.receive_message(QueueUrl=url).get("Messages") else "FIXED")
    """,
    "SQS sizes a message by its body's characters alone": """
        with mock_aws():
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="q", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
            accepted = 0
            for body, attributes in (
                ("\u00fc" * 600, {}),  # 600 characters, 1,200 bytes
                ("x" * 1000, {"reason": {"DataType": "String", "StringValue": "y" * 100}}),  # 1,100 bytes with it
            ):
                try:
                    sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
                    accepted += 1
                except sqs.exceptions.ClientError:
                    pass
            # AWS: both are over 1,024 bytes and refused.
            print("GAP" if accepted else "FIXED")
    """,
}


@pytest.mark.parametrize("gap", sorted(CHECKS))
def test_moto_gap_is_still_there(gap: str) -> None:
    script = PRELUDE + textwrap.dedent(CHECKS[gap])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    verdict = result.stdout.strip().splitlines()[-1:] or [result.stderr[-2000:]]
    assert verdict == ["GAP"], f"{gap}: moto now behaves like AWS ({verdict}); remove its fix in local/moto_fixes.py"
