#!/usr/bin/env python3
# A device written only with AWS's own IoT Device SDK for Python v2
# (awsiotsdk / awscrt), run by fleet/tests/all/aws_sdk.rs against jobhost-fleet.
#
# Everything on the wire is produced and parsed by the SDK: requests are the
# SDK's request models, topics are the ones its clients build, and replies
# are the SDK's response models (its V1 callbacks hand us None when it
# cannot parse a payload, which fails the step here).
#
# Phase 1, IotJobsClient over MQTT 3.1.1 (the flow of the SDK's jobs
# sample): GetPendingJobExecutions, subscribe to NextJobExecutionChanged and
# JobExecutionsChanged, DescribeJobExecution $next,
# StartNextPendingJobExecution, UpdateJobExecution IN_PROGRESS, a deliberate
# VersionMismatch, UpdateJobExecution SUCCEEDED, then the notifications that
# the queue emptied and DescribeJobExecution $next with nothing pending.
#
# Phase 2 (with --next-job), IotJobsClientV2 over MQTT 5 (the flow of the
# SDK's current service_clients/jobs.py sample, whose request-response
# client correlates replies by clientToken): open the NextJobExecutionChanged
# stream, print `v2-waiting-for-job` (the test then creates --next-job), get
# woken by notify-next, describe $next, start it, VersionMismatch again,
# SUCCEEDED, and GetPendingJobExecutions shows nothing left.
#
# Output: one JSON object per line on stdout, {"step": ..., "ok": true, ...};
# the first failure prints {"step": ..., "ok": false, "error": ...} and
# exits 1. Every step gives up after 10 s.

import argparse
import datetime
import gc
import json
import os
import queue
import sys
import time
import traceback

import awsiot
from awscrt import mqtt, mqtt5, mqtt_request_response
from awsiot import iotjobs

STEP_TIMEOUT = 10.0
SDK_NAME = "aws-iot-device-sdk-python-v2"
QOS1 = mqtt.QoS.AT_LEAST_ONCE


class StepFailed(Exception):
    pass


def emit(step, **fields):
    line = {"step": step, "ok": True}
    line.update(fields)
    print(json.dumps(line, default=str, sort_keys=True), flush=True)


def die(step, message):
    print(json.dumps({"step": step, "ok": False, "error": message}), flush=True)
    sys.stderr.flush()
    # Leave at once: the CRT's native threads may still hold a connection.
    os._exit(1)


def check(condition, message):
    if not condition:
        raise StepFailed(message)


def recent(stamp, what):
    """The SDK turns `timestamp` and the *At fields into datetimes with
    datetime.fromtimestamp (seconds). Milliseconds would not parse at all
    (the event would be None); anything far from now is wrong too."""
    check(isinstance(stamp, datetime.datetime), f"{what} is {stamp!r}, not a datetime")
    skew = abs((datetime.datetime.now() - stamp).total_seconds())
    check(skew < 24 * 3600, f"{what} is {stamp}, {skew:.0f} s away from now")


def attrs(obj, *names):
    return {n: getattr(obj, n) for n in names}


class Inbox:
    """What one SDK event callback delivered, in order."""

    def __init__(self, name):
        self.name = name
        self.items = queue.Queue()
        self.seen = []

    def __call__(self, event):
        self.items.put(event)

    def take(self, what, match, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepFailed(
                    f"no {what} on {self.name} within {timeout:.0f} s "
                    f"(received meanwhile: {self.seen!r})")
            try:
                event = self.items.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                raise StepFailed(f"the SDK could not parse a message on {self.name}")
            self.seen.append(event)
            if match(event):
                return event


class Replies:
    """The /accepted and /rejected replies to one V1 operation."""

    def __init__(self, name):
        self.name = name
        self.items = queue.Queue()

    def accepted(self, response):
        self.items.put(("accepted", response))

    def rejected(self, error):
        self.items.put(("rejected", error))

    def wait(self, token):
        try:
            kind, message = self.items.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise StepFailed(f"no {self.name} reply within {STEP_TIMEOUT:.0f} s")
        if message is None:
            raise StepFailed(f"the SDK could not parse the {self.name}/{kind} payload")
        check(message.client_token == token,
              f"{self.name}/{kind} carries clientToken {message.client_token!r}, sent {token!r}")
        recent(message.timestamp, f"{self.name}/{kind} timestamp")
        return kind, message

    def accepted_reply(self, token):
        kind, message = self.wait(token)
        if kind == "rejected":
            raise StepFailed(
                f"{self.name} rejected: {message.code}: {message.message} "
                f"(executionState {message.execution_state!r})")
        return message


def subscribed(pair):
    """Waits for the SUBACK of one of the SDK's subscribe_to_* calls."""
    future, topic = pair
    try:
        future.result(timeout=STEP_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any failure is the report
        raise StepFailed(f"SUBSCRIBE {topic} failed: {e!r}")


def published(future, what):
    """Waits for the PUBACK of one of the SDK's publish_* calls."""
    try:
        future.result(timeout=STEP_TIMEOUT)
    except Exception as e:  # noqa: BLE001
        raise StepFailed(f"PUBLISH {what} failed: {e!r}")


def phase_v1(args):
    thing, job = args.thing, args.job
    step = "connect"
    try:
        client = mqtt.Client(None, None)  # default bootstrap, no TLS
        connection = mqtt.Connection(
            client=client,
            host_name=args.host,
            port=args.port,
            client_id=thing,
            clean_session=True,
            keep_alive_secs=30,
        )
        connected = connection.connect().result(timeout=STEP_TIMEOUT)
        emit(step, protocol="MQTT 3.1.1", client_id=thing,
             session_present=connected["session_present"])
        jobs = iotjobs.IotJobsClient(connection)

        step = "get-pending"
        replies = Replies("jobs/get")
        sub = iotjobs.GetPendingJobExecutionsSubscriptionRequest(thing_name=thing)
        subscribed(jobs.subscribe_to_get_pending_job_executions_accepted(
            sub, QOS1, replies.accepted))
        subscribed(jobs.subscribe_to_get_pending_job_executions_rejected(
            sub, QOS1, replies.rejected))
        token = "get-pending-1"
        published(jobs.publish_get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name=thing, client_token=token),
            QOS1), "jobs/get")
        pending = replies.accepted_reply(token)
        check(pending.in_progress_jobs == [],
              f"inProgressJobs is {pending.in_progress_jobs!r}, expected []")
        check(len(pending.queued_jobs or []) == 1,
              f"queuedJobs is {pending.queued_jobs!r}, expected just {job}")
        summary = pending.queued_jobs[0]
        check(summary.job_id == job, f"queued job is {summary.job_id!r}, expected {job!r}")
        check(summary.version_number == 1 and summary.execution_number == 1,
              f"summary {summary!r}: expected versionNumber 1, executionNumber 1")
        recent(summary.queued_at, "queuedAt")
        recent(summary.last_updated_at, "lastUpdatedAt")
        emit(step, queued=[j.job_id for j in pending.queued_jobs], in_progress=[],
             client_token=pending.client_token)

        step = "subscribe-events"
        next_changed = Inbox("jobs/notify-next")
        changed = Inbox("jobs/notify")
        subscribed(jobs.subscribe_to_next_job_execution_changed_events(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
            QOS1, next_changed))
        subscribed(jobs.subscribe_to_job_executions_changed_events(
            iotjobs.JobExecutionsChangedSubscriptionRequest(thing_name=thing),
            QOS1, changed))
        emit(step, topics=["notify-next", "notify"])

        step = "describe-next"
        describe_next = Replies("jobs/$next/get")
        sub = iotjobs.DescribeJobExecutionSubscriptionRequest(thing_name=thing, job_id="$next")
        subscribed(jobs.subscribe_to_describe_job_execution_accepted(
            sub, QOS1, describe_next.accepted))
        subscribed(jobs.subscribe_to_describe_job_execution_rejected(
            sub, QOS1, describe_next.rejected))
        token = "describe-next-1"
        published(jobs.publish_describe_job_execution(
            iotjobs.DescribeJobExecutionRequest(
                thing_name=thing, job_id="$next", include_job_document=True,
                client_token=token), QOS1), "jobs/$next/get")
        described = describe_next.accepted_reply(token)
        e = described.execution
        check(e is not None, "no execution in the $next reply")
        check(e.job_id == job and e.status == iotjobs.JobStatus.QUEUED,
              f"$next is {e.job_id!r} {e.status!r}, expected {job!r} QUEUED")
        check(e.thing_name == thing, f"thingName is {e.thing_name!r}")
        check(e.job_document == {"operation": "echo"},
              f"jobDocument is {e.job_document!r}")
        check(e.version_number == 1 and e.execution_number == 1,
              f"versionNumber {e.version_number!r}, executionNumber {e.execution_number!r}")
        recent(e.queued_at, "queuedAt")
        emit(step, **attrs(e, "job_id", "status", "version_number", "job_document"))

        step = "start-next"
        replies = Replies("jobs/start-next")
        sub = iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing)
        subscribed(jobs.subscribe_to_start_next_pending_job_execution_accepted(
            sub, QOS1, replies.accepted))
        subscribed(jobs.subscribe_to_start_next_pending_job_execution_rejected(
            sub, QOS1, replies.rejected))
        token = "start-next-1"
        published(jobs.publish_start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(
                thing_name=thing, status_details={"step": "starting"},
                client_token=token), QOS1), "jobs/start-next")
        started = replies.accepted_reply(token)
        e = started.execution
        check(e is not None, "no execution in the start-next reply")
        check(e.job_id == job and e.status == iotjobs.JobStatus.IN_PROGRESS,
              f"start-next gave {e.job_id!r} {e.status!r}, expected {job!r} IN_PROGRESS")
        check(e.status_details == {"step": "starting"}, f"statusDetails {e.status_details!r}")
        check(e.job_document == {"operation": "echo"}, f"jobDocument {e.job_document!r}")
        check(e.version_number == 2, f"versionNumber {e.version_number!r}, expected 2")
        recent(e.started_at, "startedAt")
        emit(step, **attrs(e, "job_id", "status", "version_number", "status_details"))

        step = "update-in-progress"
        updates = Replies("jobs/+/update")
        # As the SDK's sample does: one subscription for every job id.
        sub = iotjobs.UpdateJobExecutionSubscriptionRequest(thing_name=thing, job_id="+")
        subscribed(jobs.subscribe_to_update_job_execution_accepted(
            sub, QOS1, updates.accepted))
        subscribed(jobs.subscribe_to_update_job_execution_rejected(
            sub, QOS1, updates.rejected))
        progress = {"step": "running", "progress": "50"}
        token = "update-1"
        published(jobs.publish_update_job_execution(
            iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=job, status=iotjobs.JobStatus.IN_PROGRESS,
                status_details=progress, expected_version=2,
                include_job_execution_state=True, client_token=token), QOS1),
            f"jobs/{job}/update")
        updated = updates.accepted_reply(token)
        state = updated.execution_state
        check(state is not None, "includeJobExecutionState=true but no executionState")
        check(state.status == iotjobs.JobStatus.IN_PROGRESS and state.version_number == 3
              and state.status_details == progress, f"executionState {state!r}")
        check(updated.job_document is None,
              f"jobDocument {updated.job_document!r} not asked for")
        emit(step, **attrs(state, "status", "version_number", "status_details"))

        step = "version-mismatch"
        token = "update-stale"
        published(jobs.publish_update_job_execution(
            iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=job, status=iotjobs.JobStatus.IN_PROGRESS,
                status_details={"step": "stale"}, expected_version=1,
                client_token=token), QOS1), f"jobs/{job}/update")
        kind, error = updates.wait(token)
        check(kind == "rejected", f"a stale expectedVersion was {kind}: {error!r}")
        check(isinstance(error, iotjobs.RejectedError), f"{error!r} is not a RejectedError")
        check(error.code == iotjobs.RejectedErrorCode.VERSION_MISMATCH,
              f"code {error.code!r}, expected VersionMismatch")
        state = error.execution_state
        check(state is not None and state.version_number == 3
              and state.status == iotjobs.JobStatus.IN_PROGRESS
              and state.status_details == progress,
              f"VersionMismatch executionState {state!r}, expected IN_PROGRESS v3")
        emit(step, code=error.code, message=error.message,
             execution_state=attrs(state, "status", "version_number", "status_details"))

        step = "update-succeeded"
        token = "update-2"
        done = {"sdk": SDK_NAME}
        published(jobs.publish_update_job_execution(
            iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=job, status=iotjobs.JobStatus.SUCCEEDED,
                status_details=done, expected_version=3,
                include_job_execution_state=True, include_job_document=True,
                client_token=token), QOS1), f"jobs/{job}/update")
        updated = updates.accepted_reply(token)
        state = updated.execution_state
        check(state is not None and state.status == iotjobs.JobStatus.SUCCEEDED
              and state.version_number == 4 and state.status_details == done,
              f"executionState {state!r}, expected SUCCEEDED v4 {done!r}")
        check(updated.job_document == {"operation": "echo"},
              f"includeJobDocument=true gave jobDocument {updated.job_document!r}")
        emit(step, **attrs(state, "status", "version_number", "status_details"))

        # The head of the queue went away: NextJobExecutionChanged with no
        # execution, as notify-next is sent when the queue empties
        # (https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html).
        # Starting the head did not change it.
        step = "notify-next"
        event = next_changed.take("NextJobExecutionChanged with no execution",
                                  lambda ev: ev.execution is None)
        recent(event.timestamp, "notify-next timestamp")
        emit(step, execution=None,
             earlier=[(ev.execution.job_id, ev.execution.status)
                      for ev in next_changed.seen if ev.execution is not None])

        step = "notify"
        event = changed.take("JobExecutionsChanged with an empty jobs map",
                             lambda ev: ev.jobs == {})
        recent(event.timestamp, "notify timestamp")
        lists = [{k: [s.job_id for s in v] for k, v in ev.jobs.items()} for ev in changed.seen]
        check({"IN_PROGRESS": [job]} in lists,
              f"no JobExecutionsChanged listed {job} IN_PROGRESS: {lists!r}")
        emit(step, lists=lists)

        step = "describe-next-empty"
        token = "describe-next-2"
        published(jobs.publish_describe_job_execution(
            iotjobs.DescribeJobExecutionRequest(
                thing_name=thing, job_id="$next", client_token=token), QOS1),
            "jobs/$next/get")
        described = describe_next.accepted_reply(token)
        check(described.execution is None,
              f"$next with nothing pending gave {described.execution!r}")
        emit(step, execution=None)

        step = "disconnect"
        connection.disconnect().result(timeout=STEP_TIMEOUT)
        emit(step)
    except StepFailed as e:
        die(step, str(e))
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        die(step, f"{type(e).__name__}: {e}")


def phase_v2(args):
    thing, job = args.thing, args.next_job
    step = "v2-connect"
    try:
        connected = queue.Queue()
        stopped = queue.Queue()
        client = mqtt5.Client(mqtt5.ClientOptions(
            host_name=args.host,
            port=args.port,
            connect_options=mqtt5.ConnectPacket(client_id=thing, keep_alive_interval_sec=30),
            session_behavior=mqtt5.ClientSessionBehaviorType.CLEAN,
            on_lifecycle_event_connection_success_fn=lambda d: connected.put(("ok", d)),
            on_lifecycle_event_connection_failure_fn=lambda d: connected.put(("failed", d)),
            on_lifecycle_event_stopped_fn=stopped.put,
        ))
        client.start()
        try:
            outcome, data = connected.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise StepFailed("no MQTT 5 CONNACK")
        check(outcome == "ok", f"MQTT 5 connect failed: {getattr(data, 'exception', data)!r}")
        emit(step, protocol="MQTT 5", client_id=thing)
        jobs = iotjobs.IotJobsClientV2(client, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4,
            max_streaming_subscriptions=2,
            operation_timeout_in_seconds=int(STEP_TIMEOUT),
        ))

        step = "v2-stream-open"
        status = queue.Queue()
        next_changed = Inbox("jobs/notify-next stream")
        stream = jobs.create_next_job_execution_changed_stream(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
            awsiot.ServiceStreamOptions(
                incoming_event_listener=next_changed,
                subscription_status_listener=status.put,
                deserialization_failure_listener=lambda failure: next_changed(None),
            ))
        stream.open()
        try:
            event = status.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise StepFailed("the notify-next stream never subscribed")
        established = mqtt_request_response.SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED
        check(event.type == established, f"notify-next stream: {event!r}")
        emit(step, topic=f"$aws/things/{thing}/jobs/notify-next")

        # The test creates the job when it reads this line.
        emit("v2-waiting-for-job", job=job)

        step = "v2-notify-next"
        event = next_changed.take(f"NextJobExecutionChanged naming {job}",
                                  lambda ev: ev.execution is not None)
        e = event.execution
        check(e.job_id == job and e.status == iotjobs.JobStatus.QUEUED,
              f"notify-next named {e.job_id!r} {e.status!r}, expected {job!r} QUEUED")
        check(isinstance(e.job_document, dict) and e.job_document.get("operation") == "echo",
              f"notify-next jobDocument {e.job_document!r}")
        recent(event.timestamp, "notify-next timestamp")
        emit(step, **attrs(e, "job_id", "status", "version_number", "job_document"))

        def call(future, what):
            try:
                return future.result(timeout=STEP_TIMEOUT + 2)
            except awsiot.V2ServiceException as ex:
                raise StepFailed(f"{what} failed: {ex.message}: "
                                 f"{ex.modeled_error!r} inner {ex.inner_error!r}")
            except Exception as ex:  # noqa: BLE001 (a timeout)
                raise StepFailed(f"{what}: {type(ex).__name__} {ex}")

        # The V2 client subscribes to `$aws/things/{thing}/jobs/$next/get/+`.
        step = "v2-describe-next"
        described = call(jobs.describe_job_execution(
            iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="$next")),
            "describe_job_execution($next)")
        e = described.execution
        check(e is not None and e.job_id == job and e.status == iotjobs.JobStatus.QUEUED,
              f"$next is {e!r}, expected {job} QUEUED")
        emit(step, **attrs(e, "job_id", "status", "version_number"))

        step = "v2-start-next"
        started = call(jobs.start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(
                thing_name=thing, status_details={"step": "starting"})),
            "start_next_pending_job_execution")
        e = started.execution
        check(e is not None and e.job_id == job and e.status == iotjobs.JobStatus.IN_PROGRESS
              and e.version_number == 2,
              f"start-next gave {e!r}, expected {job} IN_PROGRESS v2")
        emit(step, **attrs(e, "job_id", "status", "version_number", "status_details"))

        step = "v2-version-mismatch"
        try:
            jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=job, status=iotjobs.JobStatus.IN_PROGRESS,
                expected_version=7)).result(timeout=STEP_TIMEOUT + 2)
            raise StepFailed("a stale expectedVersion was accepted")
        except awsiot.V2ServiceException as ex:
            error = ex.modeled_error
            check(isinstance(error, iotjobs.V2ErrorResponse),
                  f"no modeled error (was the rejected reply matched?): "
                  f"{ex.message} inner {ex.inner_error!r}")
            check(error.code == iotjobs.RejectedErrorCode.VERSION_MISMATCH,
                  f"code {error.code!r}, expected VersionMismatch")
            check(error.execution_state is not None
                  and error.execution_state.version_number == 2,
                  f"executionState {error.execution_state!r}, expected v2")
            emit(step, code=error.code,
                 execution_state=attrs(error.execution_state, "status", "version_number"))

        step = "v2-update-succeeded"
        done = {"sdk": SDK_NAME, "client": "IotJobsClientV2"}
        updated = call(jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
            thing_name=thing, job_id=job, status=iotjobs.JobStatus.SUCCEEDED,
            status_details=done, expected_version=2, include_job_execution_state=True)),
            "update_job_execution")
        state = updated.execution_state
        check(state is not None and state.status == iotjobs.JobStatus.SUCCEEDED
              and state.status_details == done,
              f"executionState {state!r}, expected SUCCEEDED {done!r}")
        emit(step, **attrs(state, "status", "version_number", "status_details"))

        step = "v2-get-pending"
        pending = call(jobs.get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)),
            "get_pending_job_executions")
        check(not pending.in_progress_jobs and not pending.queued_jobs,
              f"still pending: {pending!r}")
        emit(step, queued=[], in_progress=[])

        step = "v2-disconnect"
        # Release the request-response client (and its stream) before the
        # MQTT 5 client: left to interpreter exit, awscrt 0.36.1 tears them
        # down in an order that aborts the process about one run in five
        # ("malloc_consolidate(): unaligned fastbin chunk detected").
        del stream, jobs
        gc.collect()
        client.stop()
        try:
            stopped.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise StepFailed("the MQTT 5 client did not stop")
        emit(step)
    except StepFailed as e:
        die(step, str(e))
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        die(step, f"{type(e).__name__}: {e}")


def awscrt_version():
    try:
        from importlib.metadata import version
        return version("awscrt")
    except Exception:  # noqa: BLE001
        return None


def main():
    parser = argparse.ArgumentParser(description="A jobs device on AWS's Python SDK v2.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--thing", required=True)
    parser.add_argument("--job", required=True, help="the job queued before the device starts")
    parser.add_argument("--next-job", help="run phase 2: wait for this job via notify-next")
    args = parser.parse_args()
    emit("sdk", awsiotsdk=awsiot.__version__, awscrt=awscrt_version())
    phase_v1(args)
    if args.next_job:
        phase_v2(args)
    emit("done")
    # Every step passed and both connections are closed: leave without the
    # CRT's native teardown at interpreter exit, which is not under test.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
