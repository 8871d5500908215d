"""An encoder process that is replaced when it dies or stops answering, and says which it is meanwhile.

A child process can be killed (by an operator, or by the kernel when memory runs out) or stop answering (a
stopped or stuck process looks just like a slow one, but for how long it takes). Without supervision either
is permanent: every request fails or waits from then on. So each batch has a deadline (BATCH_DEADLINE_SECONDS,
far longer than any batch takes: batching.py bounds what one batch holds), and a thread watches each child's
exit. When a child dies or misses a deadline, its batch's requests get EncoderUnavailable (a 503 saying so),
the child is killed, and a new one is started with the same work, the model and the index's embeddings; it
serves as soon as it is ready. Until then the encoder's `state` is "restarting" (or "down" while a start
fails, tried again after RETRY_SECONDS), which /health reports.
"""
import itertools
import sys
import threading
from multiprocessing.connection import wait

from agree.web.encoder_process import EncoderCalls, EncoderFailure
from agree.web.request_fields import HttpError

# Longer than any one batch takes: a batch holds at most a few dozen pairs or queries, or one step of an
# explanation (occlusion.STEP_TOKENS). serve.py --batch-deadline changes it for a model or machine far slower.
BATCH_DEADLINE_SECONDS = 30
RETRY_SECONDS = (1, 2, 5, 10, 30)  # between failed starts of a new encoder: soon at first, then seldom
RETRY_AFTER = "5"  # what a 503 tells a client: about how long a new encoder takes to start


class EncoderUnavailable(HttpError):
    """No encoder can answer now (one has failed and is being replaced, or the server is stopping): a 503."""

    def __init__(self, message):
        super().__init__(503, message, [("Retry-After", RETRY_AFTER)])


def overall_state(supervisors):
    """"ok" while every encoder is up (or there are none: the model runs in the server's process); else "down"
    if a new one cannot start, else "restarting"."""
    states = {supervisor.state for supervisor in supervisors}
    return next((state for state in ("down", "restarting") if state in states), "ok")


class SupervisedEncoder(EncoderCalls):
    """`ModelWork`'s methods through an encoder process that `start(spawned)` returns (raising RuntimeError
    when it cannot; calling `spawned(process)` as soon as the process exists, so that stopping the server can
    kill one that is still starting), replaced when it fails. The first start happens here, and its failure
    is the caller's: a server does not begin without its encoders. `on_change()` is called whenever `state`
    changes."""

    def __init__(self, start, deadline=BATCH_DEADLINE_SECONDS, log=None, retry_seconds=RETRY_SECONDS):
        self.start, self.deadline, self.retry_seconds = start, deadline, retry_seconds
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.on_change = lambda: None
        self.changed = threading.Condition()  # guards everything below; notified when `state` changes
        self.state, self.restarts, self.stopping = "ok", 0, False
        self.starting = None  # a new process that is not ready yet
        self.process, self.starting = start(self.spawned), None
        self.watch(self.process)

    @property
    def available(self):
        return self.state == "ok"

    def call(self, method, argument):
        with self.changed:
            if self.state != "ok":
                raise self.unavailable()
            process = self.process
        try:
            return process.call(method, argument, self.deadline)
        except EncoderFailure as failure:
            self.failed(process, str(failure))
            raise self.unavailable(failure) from None

    def unavailable(self, failure=None):
        if self.stopping:
            return EncoderUnavailable("the server is stopping")
        if failure is not None:
            return EncoderUnavailable(f"{failure}; a new one is starting: try again in a moment")
        return EncoderUnavailable(f"the encoder is {self.state} (it failed and a new one is starting): "
                                  "try again in a moment")

    # --- failure and restart

    def watch(self, process):
        """A thread that waits for the child to end, so that a death is noticed without a request."""
        def watcher():
            wait([process.sentinel])
            self.failed(process, f"the encoder process has stopped (exit code {process.exitcode})")
        threading.Thread(target=watcher, name="encoder-watch", daemon=True).start()

    def failed(self, process, why):
        """Replace `process` unless it has been already (the watcher and a request can both see it fail)."""
        with self.changed:
            if self.stopping or process is not self.process or self.state != "ok":
                return
            self.set_state("restarting")
        self.log(f"{why}; starting a new one")
        process.kill()  # a stopped one too; a thread still waiting on its pipe wakes at its end
        threading.Thread(target=self.restart, name="encoder-restart", daemon=True).start()

    def spawned(self, process):
        with self.changed:
            self.starting, stopping = process, self.stopping
            self.changed.notify_all()
        if stopping:
            process.kill()

    def restart(self):
        for attempt in itertools.count():
            try:
                process = self.start(self.spawned)
            except RuntimeError as error:
                if self.stopping:  # killed while starting: the server is stopping
                    return
                delay = self.retry_seconds[min(attempt, len(self.retry_seconds) - 1)]
                with self.changed:
                    self.set_state("down")
                self.log(f"cannot start a new encoder process: {error}; trying again in {delay} s")
                with self.changed:
                    if self.changed.wait_for(lambda: self.stopping, timeout=delay):
                        return
                continue
            with self.changed:
                replaced, self.starting = not self.stopping, None
                if replaced:
                    self.process, self.restarts = process, self.restarts + 1
                    self.log("a new encoder process is serving")
                    self.set_state("ok")
            if not replaced:  # started just as the server stopped
                process.close()
                return
            self.watch(process)
            return

    def set_state(self, state):
        """With `changed` held."""
        self.state = state
        self.changed.notify_all()
        self.on_change()

    def wait_for_state(self, state, timeout=None):
        """True once `state` is reached (for tests and benchmarks), False if `timeout` seconds pass first."""
        with self.changed:
            return self.changed.wait_for(lambda: self.state == state, timeout=timeout)

    # --- the end

    def stop(self):
        """Tell the child to finish and kill it if it does not at once, whatever it is doing; a request waiting
        on it gets EncoderUnavailable. No new child is started from now on."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
            process, starting = self.process, self.starting
        if starting is not None and starting is not process:
            starting.kill()  # a stopped one that never got ready would hold the server's exit for ever
        process.stop()

    def close(self):
        """stop(), then let go of the pipe: once nothing can be waiting on it (the batchers are closed)."""
        self.stop()
        self.process.close()
