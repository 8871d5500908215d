# Trial only: the server's process (not spawned children) gets a shorter GIL switch interval.
import os, sys
if os.environ.get("AGREE_SI") and "--multiprocessing-fork" not in sys.orig_argv:
    sys.setswitchinterval(float(os.environ["AGREE_SI"]))
    sys.stderr.write(f"switch interval {sys.getswitchinterval()}\n")
