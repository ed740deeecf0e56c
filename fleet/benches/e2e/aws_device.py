"""The AWS IoT Jobs reference architecture's device, for the side-by-side
benchmark (fleet/benches/e2e): AWS IoT Device SDK for Python v1
(AWSIoTPythonSDK), the SDK's jobs client used as its jobs sample uses it, and
the architecture's `download` operation: fetch each file from its (presigned)
URL, check its sha256, write it into the document's `directory`.

The flow is the sample's: StartNextPendingJobExecution when started, on
every notify-next and after each finished job; run the execution start-next
hands back (IN_PROGRESS); UpdateJobExecution SUCCEEDED (or FAILED with the
reason). QoS 1, as on AWS. The SDK calls callbacks on its own thread and its
synchronous calls must not be made from there (they wait for a PUBACK that
thread would deliver), so callbacks only queue work for the main thread.

Plain MQTT on loopback (the benchmark's brokers; no TLS, no credentials):
  python aws_device.py --host 127.0.0.1 --port PORT --thing NAME
It prints "ready" once subscribed, and runs until stdin closes.
"""

import argparse
import hashlib
import json
import os
import queue
import sys
import threading
import urllib.request

from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTThingJobsClient
from AWSIoTPythonSDK.core.jobs.thingJobManager import (
    jobExecutionStatus,
    jobExecutionTopicReplyType,
    jobExecutionTopicType,
)


def download(document):
    """The architecture's `download` operation; raises on any failure."""
    if document.get("operation") != "download":
        raise ValueError("unknown operation %r" % document.get("operation"))
    files = document["files"]
    for entry in files if isinstance(files, list) else [files]:
        path = os.path.join(document["directory"], entry["fileName"])
        with urllib.request.urlopen(entry["url"], timeout=30) as response:
            data = response.read()
        want = entry.get("sha256")
        if want is not None and hashlib.sha256(data).hexdigest() != want:
            raise ValueError("sha256 mismatch for %s" % entry["fileName"])
        partial = path + ".part"
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.rename(partial, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--thing", required=True)
    args = parser.parse_args()

    work = queue.Queue()
    client = AWSIoTMQTTThingJobsClient(args.thing, args.thing, QoS=1)
    client.configureEndpoint(args.host, args.port)
    client.configureConnectDisconnectTimeout(10)
    client.configureMQTTOperationTimeout(10)
    client.connect()

    def on(kind):
        return lambda _client, _userdata, message: work.put((kind, message.payload))

    T, R = jobExecutionTopicType, jobExecutionTopicReplyType
    subscriptions = [
        (T.JOB_NOTIFY_NEXT_TOPIC, R.JOB_REQUEST_TYPE, "notify-next"),
        (T.JOB_START_NEXT_TOPIC, R.JOB_ACCEPTED_REPLY_TYPE, "start-next-accepted"),
        (T.JOB_START_NEXT_TOPIC, R.JOB_REJECTED_REPLY_TYPE, "rejected"),
        (T.JOB_UPDATE_TOPIC, R.JOB_ACCEPTED_REPLY_TYPE, "update-accepted"),
        (T.JOB_UPDATE_TOPIC, R.JOB_REJECTED_REPLY_TYPE, "rejected"),
    ]
    for topic_type, reply_type, kind in subscriptions:
        job_id = "+" if topic_type == T.JOB_UPDATE_TOPIC else None
        client.createJobSubscription(on(kind), topic_type, reply_type, job_id)

    # Stop when the benchmark closes our stdin.
    threading.Thread(target=lambda: (sys.stdin.read(), work.put(("stop", b""))), daemon=True).start()
    print("ready", flush=True)
    done = set()
    client.sendJobsStartNext()
    while True:
        kind, payload = work.get()
        if kind == "stop":
            break
        if kind in ("notify-next", "update-accepted"):
            client.sendJobsStartNext()
        elif kind == "start-next-accepted":
            execution = json.loads(payload).get("execution")
            if not execution:
                continue
            # Two start-next requests in flight (one after the last update,
            # one for a notify-next) both return the execution in progress:
            # run each execution once.
            key = (execution["jobId"], execution.get("executionNumber"))
            if key in done:
                continue
            done.add(key)
            try:
                download(execution["jobDocument"])
                status, details = jobExecutionStatus.JOB_EXECUTION_SUCCEEDED, None
            except Exception as e:  # the job fails, the device goes on
                status, details = jobExecutionStatus.JOB_EXECUTION_FAILED, {"reason": str(e)[:500]}
            client.sendJobsUpdate(execution["jobId"], status, details)
        elif kind == "rejected":
            print("rejected: %s" % payload.decode(errors="replace"), file=sys.stderr, flush=True)
    client.disconnect()


if __name__ == "__main__":
    main()
